"""Nothing is written to Stripe unasked: only a run that asks for a sync writes, and the
shipped example sync writes only to the stand-in.

The project's own definitions (the defs folder: mirror, two import pipelines, the example
export ``crm_export``) run against the stand-in; its request counts show every write.
"""

from __future__ import annotations

import dagster as dg
import pytest

from stripe_customer_assets.lib.write_gate import example_refusal, write_refusal
from stripe_customer_assets_tests.export.support import WRITE_ENDPOINTS
from stripe_standin.app import STANDIN_API_KEY
from stripe_standin.server import StripeStandin

SYNC, PLAN = dg.AssetKey("crm_export"), dg.AssetKey("crm_export_plan")
MIRROR = dg.AssetKey(["stripe", "customers"])


def writes(standin: StripeStandin) -> int:
    by_endpoint = standin.stats()["requests_by_endpoint"]
    return sum(by_endpoint.get(e, 0) for e in WRITE_ENDPOINTS)


@pytest.fixture
def project(standin, tmp_path, monkeypatch):
    """The project's definitions, configured from the environment as a deployment is."""
    monkeypatch.setenv("STRIPE_API_KEY", STANDIN_API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", standin.base_url)
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.delenv("STRIPE_MIRROR_SCHEMA", raising=False)
    standin.seed_customers(20, seed=3)
    from stripe_customer_assets.definitions import defs

    return defs()


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def test_materialize_all_writes_nothing_and_says_why(project, standin):
    everything = project.resolve_implicit_global_asset_job_def()

    result = everything.execute_in_process(raise_on_error=False)

    assert result.success, "the rest of the graph still materializes"
    assert writes(standin) == 0
    assert PLAN in materialized(result) and SYNC not in materialized(result)


def test_the_skip_reason_is_in_the_run_log(project, standin):
    with dg.DagsterInstance.ephemeral() as instance:
        result = project.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance
        )
        messages = [r.user_message for r in instance.all_logs(result.run_id)]
    assert any(
        "The export sync 'crm_export' sent nothing to Stripe" in m
        and "dg launch --job crm_export_job" in m
        for m in messages
    ), messages
    assert writes(standin) == 0


def test_a_selection_reaching_the_sync_downstream_writes_nothing(project, standin):
    everything = project.resolve_implicit_global_asset_job_def()
    downstream_of_mirror = dg.AssetSelection.assets(["stripe", "customers"]).downstream()

    result = everything.execute_in_process(
        asset_selection=list(downstream_of_mirror.resolve(project.resolve_asset_graph()))
    )

    assert result.success and writes(standin) == 0
    assert SYNC not in materialized(result)


def test_the_syncs_own_job_writes_and_materializing_it_alone_too(project, standin):
    result = project.resolve_job_def("crm_export_job").execute_in_process()

    assert result.success and materialized(result) == {MIRROR, PLAN, SYNC}
    assert writes(standin) == 6, "the example's six accounts, created"
    selected = project.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[MIRROR, PLAN, SYNC]
    )
    assert selected.success and SYNC in materialized(selected)
    alone = project.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[PLAN, SYNC]
    )
    assert alone.success and SYNC in materialized(alone)
    assert writes(standin) == 6, "nothing changed since: nothing to send"


def test_the_example_sync_refuses_another_account(project, standin, monkeypatch):
    other = "sk_test_someoneelse0000000000000000"
    standin.add_api_key(other)
    monkeypatch.setenv("STRIPE_API_KEY", other)
    from stripe_customer_assets.definitions import defs

    result = defs().resolve_job_def("crm_export_job").execute_in_process(raise_on_error=False)

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "'crm_export' is an example sync (example: true in its defs.yaml)" in message
    assert other not in message
    assert writes(standin) == 0


@pytest.mark.parametrize(
    ("job", "selection", "tags", "allowed"),
    [
        ("crm_export_job", None, {}, True),
        ("__ASSET_JOB", [SYNC], {}, True),
        ("__ASSET_JOB", [PLAN, SYNC], {}, True),
        ("__ASSET_JOB", [MIRROR, PLAN, SYNC], {}, True),  # the job's own selection
        ("__ASSET_JOB", [SYNC, MIRROR], {}, True),
        ("__ASSET_JOB", [MIRROR, PLAN], {}, False),
        ("__ASSET_JOB", [MIRROR, PLAN, SYNC, dg.AssetKey(["analytics", "customers"])], {}, False),
        ("__ASSET_JOB", None, {}, False),
        ("__ASSET_JOB", [], {}, False),
        ("__ASSET_JOB", [PLAN], {}, False),
        ("other_export_job", [SYNC], {}, True),
        ("nightly", [PLAN, SYNC, dg.AssetKey("other")], {}, False),
        ("__ASSET_JOB", [SYNC, PLAN, dg.AssetKey("x")], {"dagster/from_automation_condition": "true"}, True),
    ],
)
def test_which_runs_may_write(job, selection, tags, allowed):
    refusal = write_refusal("crm_export", job_name=job, asset_selection=selection, tags=tags)
    assert (refusal is None) is allowed


def test_only_the_standin_key_lets_an_example_write():
    assert example_refusal("crm_export", STANDIN_API_KEY) is None
    assert example_refusal("crm_export", STANDIN_API_KEY + "\n") is None
    refusal = example_refusal("crm_export", "rk_live_abcdef123456")
    assert refusal is not None and "rk_live_abcdef123456" not in refusal

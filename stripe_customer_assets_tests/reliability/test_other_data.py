"""A key that reaches other data than the mirror holds changes nothing, through Dagster.

The world: a test-mode mirror of 500 customers, an import pipeline reading it and an export
sync that already ran, all from defs.yaml with the resources made from the environment as
``definitions.py`` makes them. Then STRIPE_API_KEY becomes a live key of the same account
(its live data is another set of customers): the mirror refuses before any scan, the
pipeline does not run, every table stays as it was, and the export sends nothing, neither a
fresh plan nor one stored before. And when Stripe answers with empty lists for the right key,
the full scan stops before marking 500 customers deleted.
"""

from __future__ import annotations

import textwrap

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from stripe_customer_assets.defs.mirror.assets import stripe_customers
from stripe_customer_assets.resources import stripe_resource_from_env, warehouse_resource_from_env
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.export.support import account, seed_customer, write_accounts
from stripe_customer_assets_tests.reliability.support import dump_tables
from stripe_standin import DEFAULT_ACCOUNT_ID, STANDIN_API_KEY

pytestmark = pytest.mark.slow

LIVE_KEY = "sk_live_otherdata00000000000"
IMPORT_YAML = """
type: stripe_customer_assets.StripeCustomerImport
attributes:
  name: everyone
  table: {analytics}.everyone
  transformation:
    mapping:
      email: lower(email)
  schema:
    email: string
    name: string
"""
EXPORT_YAML = """
type: stripe_customer_assets.StripeCustomerExport
attributes:
  name: crm_sync
  model: SELECT * FROM {crm}.accounts
  key: {{column: email, stripe_field: email}}
  fields:
    name: full_name
    metadata.plan: plan
  state_schema: {exports}
"""
WRITES = ("customers.create", "customers.update", "customers.delete")


def project_defs(sandbox, names: dict[str, str]) -> dg.Definitions:
    built = []
    for folder, text in (("everyone", IMPORT_YAML), ("crm_sync", EXPORT_YAML)):
        path = sandbox.defs_folder_path / folder
        path.mkdir()
        (path / "defs.yaml").write_text(textwrap.dedent(text).format(**names))
    with sandbox.build_component_tree() as tree:
        for folder in ("everyone", "crm_sync"):
            built.append(tree.build_defs(sandbox.defs_folder_path / folder))
    return dg.Definitions.merge(
        *built,
        dg.Definitions(
            assets=[stripe_customers],
            resources={"stripe": stripe_resource_from_env(), "warehouse": warehouse_resource_from_env()},
        ),
    )


def run(defs: dg.Definitions, instance, *keys: str, config: dict | None = None):
    job = defs.resolve_implicit_global_asset_job_def()
    selection = [dg.AssetKey.from_user_string(k) for k in keys] or None
    return job.execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=selection, run_config=config or {}
    )


def run_sync_job(defs: dg.Definitions, instance):
    """The export's own job: the only kind of run (besides one naming the sync) that writes."""
    return defs.resolve_job_def("crm_sync_job").execute_in_process(instance=instance, raise_on_error=False)


def failures(result) -> dict[str, str]:
    return {
        e.step_key: e.step_failure_data.error.to_string()
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE
    }


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


@pytest.fixture
def world(standin, warehouse_url, mirror_schema, unique_schema, monkeypatch):
    names = {k: unique_schema(k) for k in ("analytics", "crm", "exports")}
    wh = Warehouse(warehouse_url)
    write_accounts(wh, f"{names['crm']}.accounts", [account(i) for i in range(1, 13)])
    standin.seed_customers(490, seed=21, record_events=True)
    for i in range(1, 11):
        seed_customer(standin, i)
    standin.add_api_key(LIVE_KEY)
    standin.dataset(livemode=True).seed_customers(25, seed=21, record_events=True)
    monkeypatch.setenv("STRIPE_API_KEY", STANDIN_API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", standin.base_url)
    monkeypatch.setenv("STRIPE_RATE_LIMIT", "2000")
    monkeypatch.setenv("STRIPE_ENDPOINT_RATE_LIMIT", "2000")
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("STRIPE_MIRROR_SCHEMA", mirror_schema)
    schemas = [mirror_schema, *names.values()]
    with create_defs_folder_sandbox() as sandbox, dg.instance_for_test() as instance:
        defs = project_defs(sandbox, names)
        first = run(defs, instance)
        assert first.success, failures(first)
        synced = run_sync_job(defs, instance)
        assert synced.success, failures(synced)
        second = run(defs, instance)  # the export's echo reaches the mirror
        assert second.success
        yield defs, instance, wh, schemas, names
    wh.dispose()


def test_a_live_key_after_a_test_mirror_changes_nothing_and_the_next_export_sends_nothing(
    world, standin, mirror_schema, monkeypatch
):
    defs, instance, wh, schemas, names = world
    assert len(standin.customers()) == 502, "490 seeded, 10 updated, 2 created by the export"
    # A pending change, planned with the test key: the apply step would update 12 customers.
    write_accounts(wh, f"{names['crm']}.accounts", [account(i, full_name=f"New {i}") for i in range(1, 13)])
    planned = run(defs, instance, "crm_sync_plan")
    assert planned.success
    before = dump_tables(wh, schemas)
    test_before = standin.all_customers()
    live_before = standin.dataset(livemode=True).all_customers()
    assert len(before[f"{names['analytics']}.everyone"]) == 502
    standin.requests(clear=True)

    monkeypatch.setenv("STRIPE_API_KEY", LIVE_KEY)
    everything = run(defs, instance)
    apply_only = run(defs, instance, "crm_sync")  # the plan stored with the test key

    assert not everything.success and not apply_only.success
    message = failures(everything)["stripe__customers"]
    assert f"holds test-mode data of Stripe account {DEFAULT_ACCOUNT_ID}" in message
    assert "key for live-mode data" in message and "STRIPE_MIRROR_SCHEMA" in message
    assert set(failures(everything)) == {"stripe__customers"}
    assert materialized(everything) == set(), "the pipeline and the export did not run"
    refused = failures(apply_only)["crm_sync"]
    assert "Refusing the export sync 'crm_sync'" in refused and "live-mode" in refused
    assert dump_tables(wh, schemas) == before, "mirror, pipeline table, plan and export state"
    assert standin.all_customers() == test_before
    assert standin.dataset(livemode=True).all_customers() == live_before
    calls = [r["endpoint"] for r in standin.requests()]
    assert not any(c in WRITES for c in calls), "nothing written to Stripe in either mode"
    assert "customers.list" not in calls and "events.list" not in calls, "no scan, no events"
    assert LIVE_KEY not in str(failures(everything)) + refused

    # Back to the test key: the pending plan applies, nothing was lost.
    monkeypatch.setenv("STRIPE_API_KEY", STANDIN_API_KEY)
    again = run_sync_job(defs, instance)
    assert again.success and len(standin.customers()) == 502
    assert {c["name"] for c in standin.customers() if c["name"] and c["name"].startswith("New ")} == {
        f"New {i}" for i in range(1, 13)
    }


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_empty_lists_for_the_right_key_stop_the_full_scan_and_the_pipelines(
    world, standin, mirror_schema
):
    defs, instance, wh, schemas, _ = world
    before = dump_tables(wh, schemas)
    standin.reset()  # every list empty, the events too
    standin.advance_clock(days=31)  # and the cursor older than Stripe's event retention: a full scan

    refused = run(defs, instance)

    assert not refused.success
    message = failures(refused)["stripe__customers"]
    assert "would mark 502 of its 502 live customers deleted (100.0%)" in message
    assert '"confirm_mass_delete": true' in message
    assert materialized(refused) == set()
    assert dump_tables(wh, schemas) == before

    confirm = {"ops": {"stripe__customers": {"config": {"full_refresh": True, "confirm_mass_delete": True}}}}
    confirmed = run(defs, instance, "stripe/customers", config=confirm)
    assert confirmed.success
    [mat] = confirmed.asset_materializations_for_node("stripe__customers")
    assert mat.metadata["rows_deleted"].value == 502


def test_the_live_mirror_in_its_own_schema_does_not_take_the_test_state_as_sent(
    world, standin, unique_schema, monkeypatch
):
    """The way out the refusal names (another STRIPE_MIRROR_SCHEMA) mirrors the live data; the
    sync's state was kept for test mode, so the sync refuses instead of planning every live
    create as "sent by an earlier run"."""
    defs, instance, _wh, _schemas, names = world
    monkeypatch.setenv("STRIPE_API_KEY", LIVE_KEY)
    monkeypatch.setenv("STRIPE_MIRROR_SCHEMA", unique_schema("stripe_live"))
    # The code location reloaded with the new environment (the schema is read at load).
    defs = dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        resources={**defs.resources, "warehouse": warehouse_resource_from_env()},
    )
    standin.requests(clear=True)

    mirrored = run(defs, instance, "stripe/customers")
    synced = run_sync_job(defs, instance)

    assert mirrored.success
    assert not synced.success
    message = failures(synced)["crm_sync_plan"]
    assert f"keeps its state in schema '{names['exports']}' for test-mode data" in message
    assert "holds live-mode data" in message and "state_schema" in message
    assert not any(r["endpoint"] in WRITES for r in standin.requests())
    assert len(standin.dataset(livemode=True).customers()) == 25

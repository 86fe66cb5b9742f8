"""The overview (``python -m stripe_customer_assets.overview`` and the job ``stripe_overview``):
every shipped pipeline and sync with its state, after real runs against the stand-in."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from stripe_customer_assets import overview as ov
from stripe_customer_assets.components.stripe_export import export_defs
from stripe_customer_assets.resources import StripeResource
from stripe_customer_assets_tests.components.test_stripe_export import resources, with_mirror
from stripe_customer_assets_tests.export.conftest import accounts_table, schemas  # noqa: F401
from stripe_customer_assets_tests.export.support import (
    account,
    export_config,
    seed_customer,
    write_accounts,
)
from stripe_customer_assets_tests.pipeline.component_support import load_defs_yaml, with_warehouse
from stripe_standin import Fault
from stripe_standin.app import STANDIN_API_KEY

IMPORT_ON = "after the mirror changes, and on_cron({}, UTC)"


@pytest.fixture
def project(standin, tmp_path, monkeypatch):
    """The project's definitions against the stand-in and a DuckDB file, as a deployment."""
    monkeypatch.setenv("STRIPE_API_KEY", STANDIN_API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", standin.base_url)
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.delenv("STRIPE_MIRROR_SCHEMA", raising=False)
    standin.seed_customers(20, seed=3)
    from stripe_customer_assets.definitions import defs

    return defs()


def by_name(items: list[ov.Item]) -> dict[str, ov.Item]:
    return {item.name: item for item in items}


def test_before_any_run_every_shipped_pipeline_and_sync_shows_never(project):
    with dg.DagsterInstance.ephemeral() as instance:
        items = by_name(ov.overview(project, instance))

    assert [(i.kind, i.name) for i in items.values()] == [
        ("pipeline", "all_customers"),
        ("pipeline", "pro_customers"),
        ("sync", "crm_export"),
    ]
    assert all(i.enabled and i.last_run_status == "never" and not i.counts for i in items.values())
    assert items["all_customers"].automation == IMPORT_ON.format("0 * * * *")
    assert items["pro_customers"].automation == IMPORT_ON.format("*/15 * * * *")
    assert items["crm_export"].automation == "none: run by hand (crm_export_job)"


def test_after_the_import_and_an_export_run_it_shows_their_runs_and_counts(project, standin, capsys):
    pro = sum(1 for c in standin.customers() if (c.get("metadata") or {}).get("plan") == "pro")
    with dg.DagsterInstance.ephemeral() as instance:
        imported = project.resolve_job_def("stripe_import").execute_in_process(instance=instance)
        exported = project.resolve_job_def("crm_export_job").execute_in_process(instance=instance)
        items = by_name(ov.overview(project, instance))
        shown = project.resolve_job_def("stripe_overview").execute_in_process(instance=instance)

    everyone, pros, crm = items["all_customers"], items["pro_customers"], items["crm_export"]
    assert (everyone.last_run_status, everyone.last_run_id) == ("SUCCESS", imported.run_id)
    assert everyone.counts == {"inserted": 20, "updated": 0, "removed": 0, "rejected": 0}
    assert everyone.reject_share == 0.0
    assert pros.last_run_id == imported.run_id and pros.counts["inserted"] == pro > 0
    assert (crm.last_run_status, crm.last_run_id) == ("SUCCESS", exported.run_id)
    assert crm.counts == {"created": 6, "updated": 0, "failed": 0, "rejected": 0, "conflicts": 0}
    assert crm.reject_share == 0.0 and crm.last_run_at is not None

    text = ov.table(list(items.values()))
    line = next(row for row in text.splitlines() if row.startswith("sync"))
    assert "crm_export" in line and exported.run_id[:8] in line and "6 created" in line
    assert json.loads(ov.as_json(list(items.values())))[2]["counts"]["created"] == 6

    # The job shows the same table, as Markdown metadata of its one output.
    [output] = [e for e in shown.all_events if e.event_type_value == "STEP_OUTPUT"]
    markdown = output.step_output_data.metadata["overview"].value
    assert "| sync | crm_export | yes |" in markdown and "6 created" in markdown


def test_a_run_that_skips_the_sync_shows_skipped_and_keeps_the_last_counts(project):
    with dg.DagsterInstance.ephemeral() as instance:
        project.resolve_job_def("crm_export_job").execute_in_process(instance=instance)
        everything = project.resolve_implicit_global_asset_job_def()
        skipped = everything.execute_in_process(instance=instance)  # never writes: skips the sync
        crm = by_name(ov.overview(project, instance))["crm_export"]

    assert (crm.last_run_status, crm.last_run_id) == ("SKIPPED", skipped.run_id)
    assert crm.counts["created"] == 6


def test_a_sync_with_a_rejected_row_and_a_refused_write_shows_its_failed_run_and_counts(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas  # noqa: F811
):
    rows = [account(i) for i in range(1, 4)] + [account(4, email="not-an-email")]
    write_accounts(wh, accounts_table, rows)
    seed_customer(standin, 1)  # its update is refused: answered 500, and 500 on the retry
    config = export_config("crm", accounts_table, schemas["state"], max_reject_percent=50)
    res = resources(standin, warehouse_url, mirror_schema)
    res["stripe"] = StripeResource(api_key=STANDIN_API_KEY, api_base=standin.base_url, max_retries=1)
    defs = with_mirror(export_defs(config), res)
    standin.inject_fault(Fault.HTTP_500, count=2, endpoints="customers.update")

    with dg.DagsterInstance.ephemeral() as instance:
        failed = defs.resolve_job_def("crm_job").execute_in_process(instance=instance, raise_on_error=False)
        [crm] = ov.overview(defs, instance)

    assert not failed.success
    assert (crm.kind, crm.name, crm.last_run_status, crm.last_run_id) == ("sync", "crm", "FAILURE", failed.run_id)
    assert crm.counts == {"created": 2, "updated": 0, "failed": 1, "rejected": 1, "conflicts": 0}
    assert crm.reject_share == 0.25


DISABLED = """
type: stripe_customer_assets.components.stripe_import.StripeCustomerImport
attributes:
  name: eu_customers
  table: analytics.eu_customers
  schema: {email: string}
  schedule: "0 6 * * *"
  enabled: false
"""


def test_a_disabled_pipeline_shows_disabled_then_its_refused_run_as_failed(tmp_path):
    with load_defs_yaml(DISABLED, folder="eu_customers", files={}) as loaded:
        defs = with_warehouse(loaded, f"duckdb:///{tmp_path / 'w.duckdb'}", "stripe")
        with dg.DagsterInstance.ephemeral() as instance:
            [before] = ov.overview(defs, instance)
            asset = defs.resolve_assets_def(dg.AssetKey(["analytics", "eu_customers"]))
            result = dg.materialize([asset], instance=instance, raise_on_error=False)
            [after] = ov.overview(defs, instance)

    assert (before.name, before.enabled, before.automation) == ("eu_customers", False, "off (enabled: false)")
    assert before.last_run_status == "never" and before.last_run_at is None
    assert (after.last_run_status, after.last_run_id) == ("FAILURE", result.run_id)
    assert after.counts == {} and after.reject_share is None
    assert "eu_customers  no       off (enabled: false)" in ov.table([after])


def test_the_command_says_how_to_set_dagster_home_when_it_is_missing(monkeypatch, capsys):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert ov.main([]) == 2
    assert "export DAGSTER_HOME=$PWD" in capsys.readouterr().err


def test_the_command_prints_the_table_and_json_from_dagster_home(project, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        run = project.resolve_job_def("stripe_import").execute_in_process(instance=instance)

    assert ov.main([]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["kind", "name", "enabled"]
    assert f"SUCCESS  {run.run_id[:8]}" in out and "20 inserted" in out
    assert ov.main(["--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert {i["name"]: i["last_run_status"] for i in items} == {
        "all_customers": "SUCCESS",
        "pro_customers": "SUCCESS",
        "crm_export": "never",
    }

"""The StripeCustomerImport component: loaded from defs.yaml, materialized against a seeded mirror."""

from __future__ import annotations

import textwrap
from typing import Any

import dagster as dg
import pytest

from stripe_customer_assets.lib.keys import ENABLED_TAG, IMPORT_GROUP, MIRROR_KEY, ROLE_TAG
from stripe_customer_assets.warehouse import quote_table
from stripe_customer_assets_tests.pipeline.component_support import load_defs_yaml, with_warehouse
from stripe_customer_assets_tests.pipeline.support import customer

KEY = dg.AssetKey(["analytics", "pro_customers"])
NO_WAREHOUSE = "duckdb:///:memory:"  # for tests that only inspect definitions


def pipeline_yaml(table: str = "analytics.pro_customers", **overrides: Any) -> str:
    settings = {
        "enabled": "true",
        "schedule": '"*/15 * * * *"',
        "max_reject_rate": "0.1",
        "seats_type": "integer",
    }
    settings.update({k: str(v) for k, v in overrides.items()})
    return textwrap.dedent(
        f"""
        type: stripe_customer_assets.components.stripe_import.StripeCustomerImport
        attributes:
          name: pro_customers
          table: {table}
          filters:
            match: all
            conditions:
              - {{property: metadata.plan, operator: is, value: pro}}
          transformation:
            mapping:
              email: lower(email)
              seats: metadata.seats
          schema:
            email: string
            seats: {settings["seats_type"]}
            name: {{type: string, nullable: false, description: Customer name}}
          schedule: {settings["schedule"]}
          enabled: {settings["enabled"]}
          max_reject_rate: {settings["max_reject_rate"]}
        """
    )


def metadata_of(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [event] = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def test_the_component_builds_an_asset_downstream_of_the_mirror_with_its_check():
    with load_defs_yaml(pipeline_yaml()) as defs:
        specs = with_warehouse(defs, NO_WAREHOUSE, "stripe").resolve_all_asset_specs()
        spec = next(s for s in specs if s.key == KEY)
    assert [dep.asset_key for dep in spec.deps] == [MIRROR_KEY]
    assert spec.group_name == IMPORT_GROUP
    assert spec.kinds == {"stripe", "duckdb"}
    assert spec.tags[ROLE_TAG] == "import" and spec.tags[ENABLED_TAG] == "true"
    assert spec.metadata["dagster/table_name"] == "analytics.pro_customers"
    assert spec.metadata["filter"] == 'metadata.plan is "pro"'
    columns = {c.name: c for c in spec.metadata["dagster/column_schema"].columns}
    assert list(columns) == ["stripe_customer_id", "email", "seats", "name"]
    assert columns["name"].constraints.nullable is False and columns["seats"].type == "integer"


def test_the_asset_needs_the_warehouse_only_so_pipelines_cost_no_stripe_calls():
    with load_defs_yaml(pipeline_yaml()) as defs:
        asset = with_warehouse(defs, NO_WAREHOUSE, "stripe").resolve_assets_def(KEY)
    assert asset.required_resource_keys - {"io_manager"} == {"warehouse"}
    assert [c.name for c in asset.check_specs] == ["reject_rate"]


def test_an_enabled_pipeline_follows_the_mirror_and_its_cron_with_no_schedule_of_its_own():
    with load_defs_yaml(pipeline_yaml()) as defs:
        resolved = with_warehouse(defs, NO_WAREHOUSE, "stripe")
        spec = resolved.resolve_assets_def(KEY).specs_by_key[KEY]
        assert list(resolved.schedules or ()) == []
    label = spec.automation_condition.get_label()
    assert label == "after the mirror changes, and on_cron(*/15 * * * *, UTC)"


def test_the_code_version_is_the_pipelines_fingerprint():
    def version(text: str) -> str | None:
        with load_defs_yaml(text) as defs:
            asset = with_warehouse(defs, NO_WAREHOUSE, "stripe").resolve_assets_def(KEY)
        return asset.specs_by_key[KEY].code_version

    base = version(pipeline_yaml())
    assert base is not None
    assert version(pipeline_yaml(schedule='"0 * * * *"', max_reject_rate=0.5)) == base
    assert version(pipeline_yaml(seats_type="string")) != base
    assert version(pipeline_yaml().replace("lower(email)", "upper(email)")) != base


def test_a_disabled_pipeline_has_no_automation_and_its_run_refuses_at_once(duck_mirror):
    mirror, wh = duck_mirror, duck_mirror.warehouse
    mirror.put([customer(3)])
    with load_defs_yaml(pipeline_yaml(enabled="false"), folder="pro_customers") as defs:
        resolved = with_warehouse(defs, wh.url, mirror.schema)
        asset = resolved.resolve_assets_def(KEY)
        assert asset.specs_by_key[KEY].automation_condition is None
        assert asset.specs_by_key[KEY].tags[ENABLED_TAG] == "false"
        result = dg.materialize([asset], raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("Import pipeline 'pro_customers' is disabled (enabled: false in ")
    assert "defs/pro_customers/defs.yaml); set enabled: true to run it." in message
    with wh.begin() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'pro_customers'"
            ).scalar()
            == 0
        )


def test_materializing_imports_the_mirror_and_reports_counts_in_metadata(mirror, wh, target_schema):
    table = f"{target_schema}.pro_customers"
    key = dg.AssetKey([target_schema, "pro_customers"])
    mirror.put([customer(i, metadata={"plan": "pro", "seats": str(i)}) for i in range(100)])
    with load_defs_yaml(pipeline_yaml(table=table)) as defs:
        asset = with_warehouse(defs, wh.url, mirror.schema).resolve_assets_def(key)
        first = dg.materialize([asset])
        mirror.put(
            [customer(i, metadata={"plan": "pro", "seats": "1000"}) for i in range(0, 90, 3)]
        )
        second = dg.materialize([asset])
    meta = metadata_of(first)
    assert (meta["mode"], meta["rows_inserted"], meta["dagster/row_count"]) == ("full", 100, 100)
    assert meta["filter"] == 'metadata.plan is "pro"' and meta["api_calls"] == 0
    assert "stripe_customer_id" in meta["preview"] and "_row_hash" not in meta["preview"]
    meta = metadata_of(second)
    assert meta["mode"] == "incremental"
    assert (
        meta["rows_inserted"],
        meta["rows_updated"],
        meta["rows_removed"],
        meta["rows_rejected"],
    ) == (0, 30, 0, 0)
    assert (meta["customers_processed"], meta["dagster/row_count"]) == (30, 100)
    assert (
        wh.read_frame(f"SELECT COUNT(*) AS n FROM {quote_table(table)} WHERE seats = 1000")["n"][0]
        == 30
    )


def test_the_reject_rate_check_passes_within_the_configured_rate(duck_mirror):
    mirror, wh, table, key = duck_mirror, duck_mirror.warehouse, "analytics.pro_customers", KEY
    seats = ["1", "2", "3", "many", "5", "6", "7", "lots", "9", "10"]  # 2 of 10 rejected
    mirror.put([customer(i, metadata={"plan": "pro", "seats": s}) for i, s in enumerate(seats)])
    with load_defs_yaml(pipeline_yaml(table=table, max_reject_rate=0.5)) as defs:
        asset = with_warehouse(defs, wh.url, mirror.schema).resolve_assets_def(key)
        result = dg.materialize([asset])
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == "reject_rate" and evaluation.passed is True
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["reject_rate"].value == 0.2
    meta = metadata_of(result)
    assert (meta["rows_inserted"], meta["rows_rejected"]) == (8, 2)
    assert "property seats: 'many' is not an integer" in meta["rejects"]


def test_the_reject_rate_check_fails_when_a_small_incremental_run_rejects_past_the_rate(duck_mirror):
    # One bad customer among 20 rows: within max_reject_rate of the table, so the run
    # commits (the customer leaves the table) and the check shows the run's rate.
    mirror, wh, table, key = duck_mirror, duck_mirror.warehouse, "analytics.pro_customers", KEY
    mirror.put([customer(i, metadata={"plan": "pro", "seats": str(i)}) for i in range(20)])
    with load_defs_yaml(pipeline_yaml(table=table, max_reject_rate=0.1)) as defs:
        asset = with_warehouse(defs, wh.url, mirror.schema).resolve_assets_def(key)
        dg.materialize([asset])
        mirror.put([customer(4, metadata={"plan": "pro", "seats": "many"})])
        result = dg.materialize([asset])
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == "reject_rate" and evaluation.passed is False
    assert evaluation.metadata["reject_rate"].value == 1.0
    assert (metadata_of(result)["rows_rejected"], metadata_of(result)["dagster/row_count"]) == (1, 19)


def test_a_run_past_the_reject_rate_fails_naming_the_rejects_and_keeps_the_table(duck_mirror):
    mirror, wh, table, key = duck_mirror, duck_mirror.warehouse, "analytics.pro_customers", KEY
    mirror.put([customer(i, metadata={"plan": "pro", "seats": str(i)}) for i in range(10)])
    with load_defs_yaml(pipeline_yaml(table=table, max_reject_rate=0.1)) as defs:
        asset = with_warehouse(defs, wh.url, mirror.schema).resolve_assets_def(key)
        dg.materialize([asset])
        before = wh.read_frame(f"SELECT * FROM {quote_table(table)} ORDER BY stripe_customer_id")
        mirror.put([customer(i, metadata={"plan": "pro", "seats": "many"}) for i in range(0, 10, 2)])
        result = dg.materialize([asset], raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description
    assert "import pipeline 'pro_customers' rejected 5 customers (50.0% against the 10 rows" in message
    assert "more than max_reject_rate 10.0%: nothing was written" in message
    assert "cus_00000: property seats: 'many' is not an integer" in message
    after = wh.read_frame(f"SELECT * FROM {quote_table(table)} ORDER BY stripe_customer_id")
    assert after.equals(before)


def test_run_config_full_rebuild_rebuilds_the_table(duck_mirror):
    mirror, wh, table, key = duck_mirror, duck_mirror.warehouse, "analytics.pro_customers", KEY
    mirror.put([customer(3)])
    config = {"ops": {"import_pro_customers": {"config": {"full_rebuild": True}}}}
    with load_defs_yaml(pipeline_yaml(table=table)) as defs:
        asset = with_warehouse(defs, wh.url, mirror.schema).resolve_assets_def(key)
        dg.materialize([asset])
        result = dg.materialize([asset], run_config=config)
    meta = metadata_of(result)
    assert (meta["mode"], meta["reason"], meta["rows_unchanged"]) == (
        "full",
        "full rebuild requested",
        1,
    )


def test_two_pipelines_with_one_name_fail_at_load():
    unscheduled = [
        pipeline_yaml(table=t).replace('schedule: "*/15 * * * *"', "") for t in ("a.x", "b.y")
    ]
    with (
        pytest.raises(Exception, match="import_pro_customers"),
        load_defs_yaml("---".join(unscheduled)) as defs,
    ):
        with_warehouse(defs, NO_WAREHOUSE, "stripe").resolve_implicit_global_asset_job_def()

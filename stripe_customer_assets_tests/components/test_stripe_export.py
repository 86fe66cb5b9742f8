"""The Dagster layer: assets, checks, job and automation from defs.yaml; runs through Dagster."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from stripe_customer_assets.components.stripe_export import build_plan_asset, export_defs
from stripe_customer_assets.defs.mirror.assets import stripe_customers
from stripe_customer_assets.export import ExportConfig, load_plan
from stripe_customer_assets.lib.keys import MIRROR_KEY
from stripe_customer_assets.mirror.sync import events_overlap_s
from stripe_customer_assets.resources import StripeResource, WarehouseResource
from stripe_customer_assets_tests.export.support import (
    account,
    export_config,
    seed_customer,
    write_accounts,
)
from stripe_standin.app import STANDIN_API_KEY

TYPE = "stripe_customer_assets.components.stripe_export.StripeCustomerExport"
YAML = f"""
type: {TYPE}
attributes:
  name: crm
  model_file: model.sql
  deps: [crm_src/accounts]
  key:
    column: email
    stripe_field: email
  fields:
    name: full_name
    metadata.plan: plan
  schedule: "0 * * * *"
  enabled: {{enabled}}
"""


def load(
    yaml_text: str, sql: str = "SELECT 'a@example.com' AS email, 'A' AS full_name, 'pro' AS plan"
):
    with create_defs_folder_sandbox() as sandbox:
        folder = sandbox.defs_folder_path / "crm"
        folder.mkdir()
        (folder / "defs.yaml").write_text(textwrap.dedent(yaml_text))
        (folder / "model.sql").write_text(sql)
        with sandbox.build_component_tree() as tree:
            defs = tree.build_defs(folder)
    placeholders = {
        "stripe": StripeResource(api_key="sk_test_unused"),
        "warehouse": WarehouseResource(),
    }
    mirror = dg.Definitions(assets=[stripe_customers], resources=placeholders)
    return dg.Definitions.merge(defs, mirror), folder


def test_defs_yaml_builds_plan_sync_checks_a_job_with_the_mirror_and_automation():
    defs, _ = load(YAML.format(enabled="true"))
    plan = defs.resolve_assets_def("crm_plan")
    sync = defs.resolve_assets_def("crm")
    assert plan.asset_deps[dg.AssetKey("crm_plan")] == {
        MIRROR_KEY,
        dg.AssetKey(["crm_src", "accounts"]),
    }
    assert sync.asset_deps[dg.AssetKey("crm")] == {dg.AssetKey("crm_plan")}
    checks = {spec.name: spec.blocking for spec in plan.check_specs}
    assert checks == {"reject_rate": True, "change_rate": True}
    job = defs.resolve_job_def("crm_job")
    assert job.asset_layer.executable_asset_keys == {MIRROR_KEY, dg.AssetKey("crm_plan"), dg.AssetKey("crm")}
    assert list(defs.schedules or ()) == []  # the cron is an automation condition
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    plan_condition = specs[dg.AssetKey("crm_plan")].automation_condition
    assert "on_cron(0 * * * *, UTC)" in plan_condition.get_label()
    assert specs[dg.AssetKey("crm")].automation_condition.get_label() == "with its plan"
    assert plan.required_resource_keys - {"io_manager"} == {"warehouse"}, "no Stripe for the plan"


def test_a_disabled_sync_has_no_automation():
    defs, _ = load(YAML.format(enabled="false"))
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    assert specs[dg.AssetKey("crm_plan")].automation_condition is None
    assert specs[dg.AssetKey("crm")].automation_condition is None


def test_the_code_version_follows_the_model_and_the_mapping_only():
    def versions(config: ExportConfig) -> set[str | None]:
        return {s.code_version for a in export_defs(config).assets or () for s in a.specs}

    base = export_config("crm", "crm.accounts", "exports")
    [version] = versions(base)
    assert version is not None
    assert versions(export_config("crm", "crm.accounts", "exports", schedule="5 * * * *")) == {version}
    assert versions(export_config("crm", "crm.accounts", "exports", description="x")) == {version}
    model = export_config("crm", "crm.accounts", "exports", model="SELECT 1 AS email")
    fields = export_config("crm", "crm.accounts", "exports", fields={"name": "full_name"})
    assert versions(model) != {version} and versions(fields) != {version}


@pytest.mark.parametrize(
    ("replace", "field", "fragment"),
    [
        (
            ("metadata.plan: plan", "nickname: nick"),
            "fields.nickname",
            "'nickname' is not a customer field an export can write; did you mean 'name'? use one of",
        ),
        (
            ("metadata.plan: plan", "address.countyr: country"),
            "fields.address.countyr",
            "did you mean 'address.country'?",
        ),
        (
            ("stripe_field: email", "stripe_field: phone"),
            "key.stripe_field",
            "'phone' is not one of: email, id, metadata.<key>",
        ),
        (
            ('"0 * * * *"', '"every hour"'),
            "schedule",
            "'every hour' is not a valid cron expression; use five fields",
        ),
        (
            ("model_file: model.sql", "model_file: missing.sql"),
            "model_file",
            "missing.sql does not exist",
        ),
        (
            ("  deps: [crm_src/accounts]", "  deps: [crm_src/accounts]\n  behavior: upsert"),
            "behavior",
            "Input should be 'update_or_create', 'update_only' or 'create_only'",
        ),
        (
            ("  deps: [crm_src/accounts]", "  deps: [crm_src/accounts]\n  colour: blue"),
            "colour",
            "unknown attribute 'colour'; use one of: name, description, model, model_file",
        ),
    ],
)
def test_config_errors_fail_at_load_naming_the_file_line_and_field(replace, field, fragment):
    yaml_text = YAML.format(enabled="true").replace(*replace)
    line = next(
        i
        for i, text in enumerate(textwrap.dedent(yaml_text).splitlines(), 1)
        if replace[1].split("\n")[-1].strip() in text
    )
    with pytest.raises(Exception) as err:
        load(yaml_text)
    message = str(err.value) + str(err.value.__cause__ or "")
    where = re.escape(f"attributes.{field} at ") + rf"\S*crm/defs\.yaml:{line}`\n  (.*)"
    found = re.search(where, message)
    assert found, message
    assert fragment in found.group(1)


def test_the_yaml_key_model_is_the_sql():
    yaml_text = YAML.format(enabled="true").replace(
        "model_file: model.sql", "model: SELECT 'b@example.com' AS email;"
    )
    defs, _ = load(yaml_text)
    assert defs.resolve_assets_def("crm_plan") is not None


def resources(standin, warehouse_url, mirror_schema):
    return {
        "stripe": StripeResource(
            api_key=STANDIN_API_KEY, api_base=standin.base_url, rate_limit=2000, endpoint_rate_limit=2000
        ),
        "warehouse": WarehouseResource(url=warehouse_url, mirror_schema=mirror_schema),
    }


def with_mirror(defs: dg.Definitions, res: dict) -> dg.Definitions:
    """A sync's definitions with the mirror its job runs first, and resources."""
    return dg.Definitions.merge(defs, dg.Definitions(assets=[stripe_customers], resources=res))


def materialization_metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    [event] = [
        m for m in result.asset_materializations_for_node(key) if m.asset_key == dg.AssetKey(key)
    ]
    return {k: v.value for k, v in event.metadata.items()}


def test_materializing_the_plan_alone_is_a_dry_run_without_stripe(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 6)])
    seed_customer(standin, 1)
    plan_asset = build_plan_asset(export_config("crm", accounts_table, schemas["state"]))
    res = resources(standin, warehouse_url, mirror_schema)
    assert dg.materialize([stripe_customers], resources=res).success
    standin.reset_stats()

    result = dg.materialize([plan_asset], resources={"warehouse": res["warehouse"]})

    assert result.success and standin.stats()["requests_total"] == 0, "no Stripe call at all"
    meta = materialization_metadata(result, "crm_plan")
    assert (meta["create"], meta["update"], meta["reject"]) == (4, 1, 0)
    assert "name: 'Old name 1' -> 'Customer 1'" in meta["preview"]
    assert meta["api_calls"] == 0
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [
        dg.AssetKey("crm_plan")
    ], "the plan materializes itself only"
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"reject_rate": True, "change_rate": True}


def test_the_job_plans_checks_and_applies(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 6)])
    seed_customer(standin, 1)
    defs = export_defs(export_config("crm", accounts_table, schemas["state"]))
    job = with_mirror(defs, resources(standin, warehouse_url, mirror_schema))

    result = job.resolve_job_def("crm_job").execute_in_process()

    assert result.success
    meta = materialization_metadata(result, "crm")
    assert (meta["writes"], meta["creates"], meta["updates"], meta["failures"]) == (5, 4, 1, 0)
    # 5 writes and one read of Stripe's clock (the plan's age is measured on it)
    assert meta["api_calls"] == 6 and meta["dagster/row_count"] == 5
    assert "https://dashboard.stripe.com/test/customers/cus_" in meta["customers"]
    assert len(standin.customers()) == 5


def test_a_failed_blocking_check_stops_the_sync(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(1, email="broken"), account(2)])
    defs = export_defs(
        export_config("crm", accounts_table, schemas["state"], max_reject_percent=10)
    )
    job = with_mirror(defs, resources(standin, warehouse_url, mirror_schema))

    result = job.resolve_job_def("crm_job").execute_in_process(raise_on_error=False)

    assert not result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["reject_rate"] is False
    assert not [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("crm")
    ]
    assert standin.customers() == []


def test_a_plan_before_the_mirror_was_ever_refreshed_refuses_and_says_what_to_run(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(1)])
    plan_asset = build_plan_asset(export_config("crm", accounts_table, schemas["state"]))

    result = dg.materialize(
        [plan_asset],
        resources=resources(standin, warehouse_url, mirror_schema),
        raise_on_error=False,
    )

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert f"the Stripe mirror in schema '{mirror_schema}' has never been refreshed" in message
    assert "Run crm_job (it refreshes the mirror first)" in message


def test_the_plan_is_timed_by_stripes_clock_as_the_mirror_last_read_it(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(1)])
    plan_asset = build_plan_asset(export_config("crm", accounts_table, schemas["state"]))
    res = resources(standin, warehouse_url, mirror_schema)
    standin.set_clock(standin.now() - 3 * 86400, frozen=True)  # Stripe's clock, not this machine's
    assert dg.materialize([stripe_customers], resources=res).success
    refreshed = dt.datetime.fromtimestamp(standin.now(), dt.UTC)
    standin.advance_clock(hours=5)

    assert dg.materialize([plan_asset], resources=res).success

    stored = load_plan(wh, export_config("crm", accounts_table, schemas["state"]))
    behind = refreshed - stored.planned_at
    assert dt.timedelta(0) <= behind <= dt.timedelta(seconds=events_overlap_s() + 2)


def test_a_run_of_a_disabled_sync_refuses_with_a_clear_message(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(1)])
    plan_asset = build_plan_asset(
        export_config("crm", accounts_table, schemas["state"], enabled=False)
    )

    result = dg.materialize(
        [plan_asset],
        resources=resources(standin, warehouse_url, mirror_schema),
        raise_on_error=False,
    )

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert (
        "export sync 'crm' is disabled (enabled: false" in failure.step_failure_data.error.message
    )
    assert standin.stats()["requests_total"] == 0


EXAMPLE = Path(__file__).resolve().parents[2] / "stripe_customer_assets" / "defs" / "crm_export"


def test_the_example_sync_creates_its_accounts_once(standin, warehouse_url, mirror_schema, schemas):
    import yaml

    from stripe_customer_assets.export import parse_config

    document = yaml.safe_load((EXAMPLE / "defs.yaml").read_text())
    assert document["type"] == "stripe_customer_assets.StripeCustomerExport"
    config = parse_config(
        {**document["attributes"], "state_schema": schemas["state"]}, base_dir=EXAMPLE
    )
    defs = with_mirror(export_defs(config), resources(standin, warehouse_url, mirror_schema))
    job = defs.resolve_job_def("crm_export_job")

    first = job.execute_in_process()
    second = job.execute_in_process()

    assert materialization_metadata(first, "crm_export")["creates"] == 6
    assert materialization_metadata(second, "crm_export")["writes"] == 0
    assert sorted(c["metadata"]["crm_id"] for c in standin.customers()) == [
        str(i) for i in range(1001, 1007)
    ]

"""The shipped pipelines (defs/all_customers, defs/pro_customers) load and run on realistic customers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import pytest

import stripe_customer_assets
from stripe_customer_assets.components.stripe_import import StripeCustomerImport
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.pipeline.component_support import load_defs_yaml, with_warehouse
from stripe_customer_assets_tests.pipeline.support import Mirror, table_rows
from stripe_standin.seed import generate_customers

DEFS = Path(stripe_customer_assets.__file__).parent / "defs"
ALL = dg.AssetKey(["analytics", "customers"])
PRO = dg.AssetKey(["analytics", "pro_customers"])


def test_the_component_type_resolves_by_its_documented_name():
    assert stripe_customer_assets.StripeCustomerImport is StripeCustomerImport


def realistic_customers(n: int) -> list[dict]:
    return [
        json.loads(raw) for _, _, _, raw in generate_customers(n, seed=11, now=int(time.time()))
    ]


@pytest.mark.parametrize("folder", ["all_customers", "pro_customers"])
def test_an_example_pipeline_loads_with_its_cron_as_automation(folder, wh, mirror_schema):
    with load_defs_yaml((DEFS / folder / "defs.yaml").read_text(), folder=folder) as defs:
        resolved = with_warehouse(defs, wh.url, mirror_schema)
        [spec] = [s for a in defs.assets or () for s in a.specs]
        assert list(resolved.schedules or ()) == []
    assert "on_cron(" in spec.automation_condition.get_label()


def test_the_example_pipelines_import_all_and_pro_customers(tmp_path):
    """On the quickstart's warehouse (a DuckDB file): the example tables have fixed names."""
    wh = Warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    mirror = Mirror(wh, "stripe")
    customers = realistic_customers(400)
    mirror.put(customers)
    results = {}
    for folder, key in (("all_customers", ALL), ("pro_customers", PRO)):
        with load_defs_yaml((DEFS / folder / "defs.yaml").read_text(), folder=folder) as defs:
            asset = with_warehouse(defs, wh.url, mirror.schema).resolve_assets_def(key)
            results[folder] = dg.materialize([asset])
    for result in results.values():
        checks = result.get_asset_check_evaluations()  # reject_rate, and alert_thresholds with alerts
        assert "reject_rate" in {c.check_name for c in checks}
        for check in checks:
            assert check.passed, check.description

    everyone = table_rows(wh, "analytics.customers")
    assert len(everyone) == 400
    first = customers[0]
    row = everyone[first["id"]]
    assert row["plan"] == (first["metadata"].get("plan") or "free")
    assert row["segment"] in {"standard", "delinquent", "in_credit", "owes"}
    assert row["email"] == (first["email"].strip().lower() if first["email"] else None)

    pros = table_rows(wh, "analytics.pro_customers")
    expected = {c["id"] for c in customers if c["metadata"].get("plan") == "pro"}
    assert set(pros) == expected and expected
    assert all(r["customer_since"] is not None for r in pros.values())
    assert set(next(iter(pros.values()))) == {
        "email",
        "name",
        "external_id",
        "region",
        "country",
        "customer_since",
    }

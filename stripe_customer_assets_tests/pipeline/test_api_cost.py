"""Pipelines read the mirror: three of them in one run cost the Stripe calls of the mirror alone."""

from __future__ import annotations

import textwrap

import dagster as dg
import pytest

from stripe_customer_assets.defs.mirror.assets import stripe_customers
from stripe_customer_assets.lib.keys import MIRROR_KEY
from stripe_customer_assets.resources import StripeResource, WarehouseResource
from stripe_customer_assets_tests.pipeline.component_support import load_defs_yaml
from stripe_standin import STANDIN_API_KEY, StripeStandin

PIPELINES = {
    "everyone": "",
    "pros": "filters: {conditions: [{property: metadata.plan, operator: is, value: pro}]}",
    "in_credit": "filters: {conditions: [{property: balance, operator: less_than, value: 0}]}",
}


def three_pipelines(schema: str) -> str:
    docs = []
    for name, filters in PIPELINES.items():
        docs.append(
            textwrap.dedent(
                f"""
                type: stripe_customer_assets.components.stripe_import.StripeCustomerImport
                attributes:
                  name: {name}
                  table: {schema}.{name}
                  {filters}
                  schema: {{email: string, name: string, balance: integer}}
                """
            )
        )
    return "---".join(docs)


@pytest.fixture
def standin():
    with StripeStandin(seed=3) as server:
        server.seed_customers(250, seed=3)
        yield server


def test_three_pipelines_in_one_run_cost_the_stripe_calls_of_the_mirror_alone(standin, tmp_path):
    """API cost does not depend on the warehouse: measured on a DuckDB file."""
    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    mirror_schema, target_schema = "stripe", "analytics"
    resources = {
        "stripe": StripeResource(
            api_key=STANDIN_API_KEY, api_base=standin.base_url, rate_limit=1000, endpoint_rate_limit=1000
        ),
        "warehouse": WarehouseResource(url=warehouse_url, mirror_schema=mirror_schema),
    }
    with load_defs_yaml(three_pipelines(target_schema)) as defs:
        bound = dg.Definitions.merge(
            defs, dg.Definitions(assets=[stripe_customers], resources=resources)
        )
        mirror = bound.resolve_assets_def(MIRROR_KEY)
        pipelines = [
            bound.resolve_assets_def(dg.AssetKey([target_schema, name])) for name in PIPELINES
        ]
    assert dg.materialize([mirror]).success  # the first run: a full scan

    standin.requests(clear=True)
    with_pipelines = dg.materialize([mirror, *pipelines])
    calls_with_pipelines = len(standin.requests(clear=True))
    mirror_alone = dg.materialize([mirror])
    calls_mirror_alone = len(standin.requests(clear=True))

    assert with_pipelines.success and mirror_alone.success
    assert calls_with_pipelines == calls_mirror_alone >= 1
    landed = {
        e.asset_key.path[-1]: e.materialization.metadata["dagster/row_count"].value
        for e in with_pipelines.get_asset_materialization_events()
        if e.asset_key.path[0] == target_schema
    }
    assert landed["everyone"] == 250 and 0 < landed["pros"] < 250 and 0 < landed["in_credit"] < 250

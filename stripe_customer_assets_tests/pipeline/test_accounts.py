"""Pipelines over a mirror of several Stripe accounts: the account as a filter and a source."""

from __future__ import annotations

import pytest

from stripe_customer_assets.pipeline import PipelineConfig
from stripe_customer_assets_tests.pipeline.support import (
    Mirror,
    customer,
    pipeline,
    run,
    table_rows,
)

EU = [customer(i) for i in range(6)]
US = [customer(i) for i in range(100, 104)]


def put_accounts(mirror: Mirror, by_account: dict[str, list[dict]]) -> None:
    """Each account's customers put in the mirror under its key (one commit each)."""
    for account, customers in by_account.items():
        mirror.account = account
        mirror.put(customers)


def test_a_pipeline_filtering_on_the_account_lands_only_that_accounts_customers(mirror, table):
    # The table stays keyed by the Stripe customer id: ids are unique across accounts.
    put_accounts(mirror, {"eu": EU, "us": US})
    p = pipeline(
        table,
        filters={"conditions": [{"property": "account", "operator": "is", "value": "eu"}]},
        schema={"email": "string", "account": "string", "region": "string"},
        transformation={"mapping": {"region": "upper(account)"}},
    )
    result = run(p, mirror)
    rows = table_rows(mirror.warehouse, table)
    assert set(rows) == {c["id"] for c in EU} and result.inserted == len(EU)
    assert {(r["account"], r["region"]) for r in rows.values()} == {("eu", "EU")}

    others = pipeline(
        f"{table}_elsewhere",
        filters={"conditions": [{"property": "account", "operator": "is_not", "value": "eu"}]},
    )
    run(others, mirror)
    assert set(table_rows(mirror.warehouse, others.table)) == {c["id"] for c in US}


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"property": "account.name", "operator": "is", "value": "eu"}, "use 'account' alone"),
        ({"property": "account", "operator": "greater_than", "value": "eu"}, "account is a text"),
    ],
)
def test_the_account_property_is_checked_like_the_others(condition, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig.model_validate(
            {"name": "p", "table": "analytics.p", "schema": {"email": "string"}, "filters": {"conditions": [condition]}}
        )

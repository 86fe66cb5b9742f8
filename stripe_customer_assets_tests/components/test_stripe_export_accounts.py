"""The export component in a deployment with several Stripe accounts (plain accounts)."""

from __future__ import annotations

import dagster as dg

from stripe_customer_assets.components.stripe_export import build_plan_asset, build_sync_asset
from stripe_customer_assets.export import parse_config
from stripe_customer_assets.resources import StripeAccountEntry, StripeResource, WarehouseResource
from stripe_customer_assets_tests.export.accounts_support import (
    ACCOUNTS,
    add_accounts,
    data_set,
    mirror_accounts,
    posts_by_account,
)


def test_plan_and_sync_write_each_row_to_its_account_through_the_resource(
    standin, wh, warehouse_url, mirror_schema, unique_schema, tmp_path, monkeypatch
):
    clients = add_accounts(standin)
    del clients["apac"]
    data_set(standin, "us").create_customer(email="b@example.com", name="Old B")
    mirror_accounts(wh, mirror_schema, clients)
    for name in ("eu", "us"):
        monkeypatch.setenv(f"KEY_{name.upper()}", ACCOUNTS[name][1])
    accounts_yaml = tmp_path / "accounts.yaml"
    accounts_yaml.write_text(
        "accounts:\n  - {name: eu, api_key_env: KEY_EU}\n  - {name: us, api_key_env: KEY_US}\n", encoding="utf-8"
    )
    monkeypatch.setenv("STRIPE_ACCOUNTS_FILE", str(accounts_yaml))
    crm = unique_schema("crm")
    with wh.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{crm}"')
        conn.exec_driver_sql(
            f'CREATE TABLE "{crm}".people AS SELECT * FROM (VALUES '
            "('eu', 'a@example.com', 'A'), ('us', 'b@example.com', 'B'), ('eu', 'b@example.com', 'B in EU')"
            ") AS t(region, email, full_name)"
        )
    config = parse_config(
        {
            "name": "people",
            "model": f'SELECT * FROM "{crm}".people',
            "key": {"column": "email", "stripe_field": "email"},
            "account_column": "region",
            "fields": {"name": "full_name"},
            "state_schema": unique_schema("exports"),
        }
    )
    stripe = StripeResource(
        api_base=standin.base_url,
        rate_limit=1000,
        endpoint_rate_limit=1000,
        accounts=[
            StripeAccountEntry(name=n, kind="plain", api_key_env=f"KEY_{n.upper()}") for n in ("eu", "us")
        ],
    )
    resources = {"stripe": stripe, "warehouse": WarehouseResource(url=warehouse_url, mirror_schema=mirror_schema)}
    job = dg.Definitions(
        assets=[build_plan_asset(config), build_sync_asset(config)],
        jobs=[dg.define_asset_job("people_job", selection=["people_plan", "people"])],
        resources=resources,
    ).resolve_job_def("people_job")
    standin.requests(clear=True)
    result = job.execute_in_process()
    assert result.success
    assert posts_by_account(standin.requests(clear=True)) == {"eu": 2, "us": 1}
    assert sorted(c["email"] for c in data_set(standin, "eu").customers()) == ["a@example.com", "b@example.com"]
    assert [c["name"] for c in data_set(standin, "us").customers()] == ["B"]

    mirror_accounts(wh, mirror_schema, clients)
    standin.requests(clear=True)
    assert job.execute_in_process().success
    assert posts_by_account(standin.requests(clear=True)) == {}

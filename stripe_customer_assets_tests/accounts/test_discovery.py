"""Discovery: connected accounts become partitions, ones no longer listed are removed (the
registry keeps them, marked removed), excluded ones never appear, a failed listing removes
nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from stripe_customer_assets.accounts import discovery
from stripe_customer_assets.accounts.discovery import discover_accounts
from stripe_customer_assets.accounts.registry import read_registry
from stripe_customer_assets.resources import StripeAccountEntry, StripeResource
from stripe_customer_assets.stripe_api import StripeAccessError

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def listed(monkeypatch):
    """What each platform's GET /v1/accounts lists (by the platform client's key variable)."""
    by_env: dict[str, list[str] | Exception] = {}

    def fake(api):
        value = by_env[api.key_env]
        if isinstance(value, Exception):
            raise value
        return [{"id": acct, "object": "account"} for acct in value]

    monkeypatch.setattr(discovery, "list_connected_accounts", fake)
    monkeypatch.setenv("KEY_EU", "sk_test_eu000000000000")
    monkeypatch.setenv("KEY_MARKET", "sk_test_market0000000")
    return by_env


def stripe_resource() -> StripeResource:
    return StripeResource(
        api_base="http://127.0.0.1:9",
        accounts=[
            StripeAccountEntry(name="eu", kind="plain", api_key_env="KEY_EU"),
            StripeAccountEntry(
                name="market",
                kind="platform",
                api_key_env="KEY_MARKET",
                accounts=["acct_Pinned"],
                exclude=["acct_No"],
            ),
        ],
    )


def test_discovery_adds_new_accounts_and_removes_gone_ones(wh, mirror_schema, listed):
    stripe = stripe_resource()
    listed["KEY_MARKET"] = ["acct_A", "acct_B", "acct_No"]
    first = discover_accounts(stripe, wh, mirror_schema, [], now=T0)
    assert first.keys == ["eu", "acct_Pinned", "acct_A", "acct_B"]
    assert first.to_add == sorted(first.keys) and first.to_remove == []
    assert sorted(first.registered) == sorted(first.keys)

    listed["KEY_MARKET"] = ["acct_B", "acct_C"]  # acct_A disconnected, acct_C connected
    second = discover_accounts(
        stripe, wh, mirror_schema, first.to_add, now=T0 + dt.timedelta(minutes=1)
    )
    assert second.to_add == ["acct_C"] and second.to_remove == ["acct_A"]
    assert second.registered == ["acct_C"] and second.unregistered == ["acct_A"]
    rows = {row.account: row for row in read_registry(wh, mirror_schema)}
    assert rows["acct_A"].removed_at is not None and rows["acct_A"].platform == "market"
    assert rows["acct_C"].kind == "connected" and rows["acct_C"].stripe_account_id == "acct_C"
    assert rows["eu"].kind == "plain" and rows["eu"].active
    assert "acct_No" not in rows

    listed["KEY_MARKET"] = ["acct_A", "acct_B", "acct_C"]  # back again: active, a partition again
    third = discover_accounts(
        stripe, wh, mirror_schema, second.keys, now=T0 + dt.timedelta(minutes=2)
    )
    assert third.to_add == ["acct_A"] and third.registered == ["acct_A"]
    assert {row.account for row in read_registry(wh, mirror_schema) if not row.active} == set()


def test_a_failed_listing_removes_nothing_and_is_named(wh, mirror_schema, listed):
    stripe = stripe_resource()
    listed["KEY_MARKET"] = ["acct_A"]
    first = discover_accounts(stripe, wh, mirror_schema, [], now=T0)
    listed["KEY_MARKET"] = StripeAccessError("403 from GET /v1/accounts")
    second = discover_accounts(
        stripe, wh, mirror_schema, first.to_add, now=T0 + dt.timedelta(minutes=1)
    )
    assert second.to_remove == [] and second.unregistered == []
    assert second.problems and "platform 'market'" in second.problems[0]
    assert all(row.active for row in read_registry(wh, mirror_schema))

"""The client per account: keys from the named variables, headers, and the rate limiters
shared per budget mode."""

from __future__ import annotations

import pytest

from stripe_customer_assets.accounts.config import MissingKeyError
from stripe_customer_assets.resources import (
    StripeAccountEntry,
    StripeResource,
    UnknownAccountError,
    remember_platform,
    stripe_resource_from_env,
)

BASE = "http://127.0.0.1:9"  # never called


def resource(*entries: StripeAccountEntry, **kw) -> StripeResource:
    return StripeResource(api_base=BASE, accounts=list(entries), **kw)


def plain(name, env="KEY_EU", rate=0.0):
    return StripeAccountEntry(name=name, kind="plain", api_key_env=env, rate_limit=rate)


def platform(name, env="KEY_MARKET", **kw):
    return StripeAccountEntry(name=name, kind="platform", api_key_env=env, **kw)


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("KEY_EU", "sk_test_eu000000000000")
    monkeypatch.setenv("KEY_MARKET", "sk_test_market0000000")
    monkeypatch.setenv("KEY_OTHER", "sk_live_other00000000")


def test_the_single_account_deployment_is_unchanged():
    stripe = StripeResource(api_key="sk_test_single000000", api_base=BASE, account="main")
    api = stripe.api()
    assert api.stripe_account is None and api.limiter is stripe.api(account="main").limiter
    assert api.limiter.rate == 20.0
    with pytest.raises(UnknownAccountError, match="one Stripe account, 'main'"):
        stripe.api(account="eu")


def test_a_plain_account_uses_its_own_key_and_limiter():
    stripe = resource(plain("eu", rate=7), platform("market"))
    api = stripe.api(account="eu")
    assert api.stripe_account is None and api.key_env == "KEY_EU"
    assert api.limiter.rate == 7 and api.limiter is stripe.api(account="eu").limiter


def test_connected_accounts_of_a_platform_budget_share_one_limiter_at_a_share_of_the_rate():
    stripe = resource(
        platform("market", rate_limit=60, max_parallel_runs=4, context_header="Stripe-Account")
    )
    a, b = stripe.api(account="acct_1A"), stripe.api(account="acct_1B")
    assert a.limiter is b.limiter and a.limiter.rate == 15.0  # 60/s over 4 runs at once
    assert a.endpoint_limiters is b.endpoint_limiters
    assert (
        a.stripe_account == "acct_1A"
        and a.context_header == "Stripe-Account"
        and a.platform == "market"
    )
    assert stripe.platform_api("market").limiter is a.limiter  # discovery spends the same budget
    # The sweep with no mirror run in flight may spend the platform's whole rate.
    assert stripe.api(account="acct_1A", whole_budget=True).limiter.rate == 60.0
    assert stripe.api(account="acct_1A").limiter.rate == 15.0


def test_connected_accounts_with_their_own_budget_each_have_a_limiter_at_stripes_default():
    stripe = resource(platform("market", rate_budget="account", max_parallel_runs=4))
    a, b = stripe.api(account="acct_2A"), stripe.api(account="acct_2B")
    assert a.limiter is not b.limiter
    assert a.limiter.rate == b.limiter.rate == 20.0  # a test key's default, not divided
    assert a.limiter is stripe.api(account="acct_2A").limiter


def test_with_several_platforms_the_listing_platform_or_the_registry_decides():
    stripe = resource(
        platform("market", accounts=["acct_3Listed"]), platform("other", env="KEY_OTHER")
    )
    assert stripe.api(account="acct_3Listed").platform == "market"
    with pytest.raises(UnknownAccountError, match="not in the account registry"):
        stripe.api(account="acct_3Unknown")
    remember_platform("acct_3Found", "other")
    api = stripe.api(account="acct_3Found")
    assert api.platform == "other" and api.livemode


def test_a_missing_key_names_the_variable_and_the_account(monkeypatch):
    monkeypatch.delenv("KEY_MARKET")
    stripe = resource(plain("eu"), platform("market"))
    stripe.api(account="eu")  # the other accounts still work
    with pytest.raises(
        MissingKeyError, match=r"connected account acct_1X \(platform 'market'\).*KEY_MARKET"
    ):
        stripe.api(account="acct_1X")


def test_an_unknown_account_is_refused_naming_the_configured_ones():
    with pytest.raises(UnknownAccountError, match=r"neither a plain account.*\(eu\)"):
        resource(plain("eu")).api(account="us")
    with pytest.raises(UnknownAccountError, match="name the Stripe account"):
        resource(plain("eu")).api()


def test_from_env_holds_variable_names_never_keys(tmp_path, monkeypatch):
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts: [{name: eu, api_key_env: KEY_EU}]\nplatforms: [{name: market, api_key_env: KEY_MARKET}]\n"
    )
    monkeypatch.setenv("STRIPE_ACCOUNTS_FILE", str(path))
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    stripe = stripe_resource_from_env()
    assert stripe.multi_account and [e.name for e in stripe.accounts] == ["eu", "market"]
    dumped = repr(stripe.model_dump())
    assert "KEY_EU" in dumped and "sk_test_eu" not in dumped and "sk_test_market" not in dumped


def test_with_several_platforms_the_registry_names_an_accounts_platform(tmp_path):
    from stripe_customer_assets.accounts.registry import AccountRef, update_registry
    from stripe_customer_assets.warehouse import Warehouse

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    update_registry(
        Warehouse(url),
        "stripe",
        [AccountRef("acct_4Reg", "connected", "other", "acct_4Reg")],
        complete=set(),
    )
    stripe = resource(platform("market"), platform("other", env="KEY_OTHER"), registry_url=url)
    assert stripe.api(account="acct_4Reg").platform == "other"

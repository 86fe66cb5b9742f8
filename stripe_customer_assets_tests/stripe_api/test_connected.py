"""A connected account reached with its platform's key: the header on every request, listing
the connected accounts, and a refusal that names the account and the platform."""

from __future__ import annotations

import pytest

from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi
from stripe_customer_assets.stripe_api.reads import list_connected_accounts
from stripe_standin import STANDIN_API_KEY


def client(standin, key=STANDIN_API_KEY, **kw) -> StripeApi:
    return StripeApi(
        key,
        api_base=standin.base_url,
        rate_limit=10_000,
        endpoint_rate_limit=10_000,
        backoff_base_s=0.01,
        **kw,
    )


def api_requests(standin) -> list[dict]:
    return [r for r in standin.requests() if not r["path"].startswith("/_standin")]


@pytest.mark.parametrize("header", ["Stripe-Context", "Stripe-Account"])
def test_every_request_names_the_connected_account_in_the_chosen_header(standin, header):
    api = client(standin, stripe_account="acct_1Conn", context_header=header)
    # The read path and the write path (the SDK); whether the stand-in knows the account
    # does not matter here, only what was sent.
    for method, path, params in (
        ("get", "/v1/customers", {"limit": 1}),
        ("post", "/v1/customers", {"email": "c@x.io"}),
    ):
        try:
            api.request(method, path, params)
        except StripeAccessError:
            pass
    sent = api_requests(standin)
    assert {r["method"] for r in sent} == {"GET", "POST"}
    other = {"Stripe-Context": "stripe-account", "Stripe-Account": "stripe-context"}[header]
    for request in sent:
        assert request["headers"].get(header.lower()) == "acct_1Conn"
        assert other not in request["headers"]


def test_an_accounts_own_key_sends_no_account_header(standin):
    client(standin).get("/v1/customers", limit=1)
    (request,) = api_requests(standin)
    assert "stripe-context" not in request["headers"] and "stripe-account" not in request["headers"]


def test_an_unknown_context_header_is_refused():
    with pytest.raises(ValueError, match="Stripe-Context"):
        StripeApi(STANDIN_API_KEY, stripe_account="acct_1", context_header="X-Account")


def test_a_403_for_a_connected_account_names_the_account_the_platform_and_revocation(standin):
    standin.add_restricted_key("rk_test_platform000000000", {"balance": "read"})
    api = client(
        standin,
        key="rk_test_platform000000000",
        stripe_account="acct_1Gone",
        platform="market",
        key_env="MARKET_KEY",
    )
    with pytest.raises(StripeAccessError) as err:
        api.get("/v1/customers", limit=1)
    message = str(err.value)
    assert "acct_1Gone" in message and "platform 'market'" in message and "MARKET_KEY" in message
    assert "access may have been revoked" in message and "403" in message
    assert "rk_test_platform000000000" not in message
    assert api.stats.calls == 1  # not retried


class FakeAccountsApi:
    """``GET /v1/accounts`` as the spec pages it: ``limit``, ``starting_after``, ``has_more``."""

    def __init__(self, ids):
        self.ids = ids
        self.calls: list[dict] = []

    def get(self, path, **params):
        assert path == "/v1/accounts"
        self.calls.append(params)
        start = self.ids.index(params["starting_after"]) + 1 if "starting_after" in params else 0
        page = self.ids[start : start + params["limit"]]
        return {
            "object": "list",
            "data": [{"id": i, "object": "account"} for i in page],
            "has_more": start + len(page) < len(self.ids),
        }


def test_connected_accounts_are_listed_100_a_page():
    fake = FakeAccountsApi([f"acct_{i:04d}" for i in range(230)])
    listed = list_connected_accounts(fake)
    assert [a["id"] for a in listed] == fake.ids
    assert [c.get("starting_after") for c in fake.calls] == [None, "acct_0099", "acct_0199"]
    assert {c["limit"] for c in fake.calls} == {100}


def test_a_disconnected_account_is_refused_with_the_revocation_named(standin):
    made = standin.create_platform(connected_accounts=1)
    (acct,) = made["accounts"]
    standin.delete_connected_account(acct)
    api = client(
        standin, key=made["api_key"], stripe_account=acct, platform="market", key_env="MARKET_KEY"
    )
    with pytest.raises(
        StripeAccessError,
        match=f"connected account {acct} through platform 'market'.*access may have been revoked",
    ):
        api.get("/v1/events", limit=1)


def test_the_stand_in_platform_lists_its_connected_accounts_in_pages_of_100(standin):
    made = standin.create_platform(connected_accounts=130)
    api = client(standin, key=made["api_key"])
    listed = list_connected_accounts(api)
    assert sorted(a["id"] for a in listed) == sorted(made["accounts"])
    assert api.stats.calls_by_endpoint == {"GET /v1/accounts": 2}

"""Accounts and modes: each (account, mode) is its own data set; GET /v1/account names the
key's account (https://docs.stripe.com/keys: objects in one mode are not accessible to the
other)."""

from __future__ import annotations

import json
import urllib.request

import pytest
import stripe

from stripe_standin import DEFAULT_ACCOUNT_ID, STANDIN_API_KEY, StripeStandin

LIVE = "sk_live_standin0000000000"
OTHER = "sk_test_other00000000000"
OTHER_ACCOUNT = "acct_1OtherAccount0002"


@pytest.fixture
def standin():
    with StripeStandin(seed=3, key_accounts={OTHER: OTHER_ACCOUNT}) as s:
        s.add_api_key(LIVE)
        s.add_api_key(OTHER)  # its account comes from key_accounts
        yield s


def test_test_and_live_keys_see_separate_customers_events_and_ids(standin):
    test, live = standin.stripe_client(), standin.stripe_client(LIVE)
    t = test.v1.customers.create(params={"email": "t@example.com"})
    standin.seed_customers(3, seed=1)
    live_view = standin.dataset(livemode=True)
    live_view.seed_customers(2, seed=1)  # same seed, other mode: other customers
    made = live.v1.customers.create(params={"email": "l@example.com"})

    test_ids = {c.id for c in test.v1.customers.list(params={"limit": 100}).data}
    live_list = live.v1.customers.list(params={"limit": 100}).data
    assert len(test_ids) == 4 and len(live_list) == 3
    assert test_ids.isdisjoint({c.id for c in live_list})
    assert all(c.livemode is True for c in live_list)
    assert t.livemode is False and made.livemode is True
    with pytest.raises(stripe.InvalidRequestError) as e:
        live.v1.customers.retrieve(t.id)
    assert e.value.http_status == 404
    live_events = live.v1.events.list().data
    assert [e.data.object.id for e in live_events] == [made.id]
    assert live_events[0].livemode is True
    assert {e.data.object.id for e in test.v1.events.list().data} == {t.id}
    assert live.v1.balance.retrieve().livemode is True
    assert test.v1.balance.retrieve().livemode is False
    # The methods of a view act on its data set; the stand-in's own on the default one.
    assert {c["id"] for c in live_view.customers()} == {c.id for c in live_list}
    assert len(standin.customers()) == 4 and live_view.stats()["customers"] == 3
    assert [e["livemode"] for e in live_view.events()] == [True]


def test_get_account_answers_the_keys_account(standin):
    assert standin.stripe_client().v1.accounts.retrieve_current().id == DEFAULT_ACCOUNT_ID
    assert standin.stripe_client(LIVE).v1.accounts.retrieve_current().id == DEFAULT_ACCOUNT_ID
    other = standin.stripe_client(OTHER).v1.accounts.retrieve_current()
    assert other.id == OTHER_ACCOUNT and other.object == "account"
    assert standin.key_identity(OTHER) == (OTHER_ACCOUNT, False)
    assert standin.key_identity(LIVE) == (DEFAULT_ACCOUNT_ID, True)
    standin.stripe_client(OTHER).v1.customers.create(params={"name": "elsewhere"})
    assert standin.customers() == [], "another account's customers are its own"
    assert [c["name"] for c in standin.dataset(account_id=OTHER_ACCOUNT).customers()] == ["elsewhere"]


def test_a_restricted_key_gets_403_on_get_account_naming_the_permission_and_its_account(standin):
    standin.add_restricted_key("rk_live_reader0000000", {"customers": "read", "events": "read"})
    standin.add_restricted_key("rk_test_granted000000", {"account": "read"}, account_id=OTHER_ACCOUNT)
    reader = standin.stripe_client("rk_live_reader0000000")
    reader.v1.customers.list()
    with pytest.raises(stripe.PermissionError) as e:
        reader.v1.accounts.retrieve_current()
    message = e.value.user_message
    assert e.value.http_status == 403
    assert "rak_accounts_kyc_id_numbers_read" in message and f"on account '{DEFAULT_ACCOUNT_ID}'" in message
    granted = standin.stripe_client("rk_test_granted000000")
    assert granted.v1.accounts.retrieve_current().id == OTHER_ACCOUNT


def test_idempotency_keys_belong_to_one_mode(standin):
    test, live = standin.stripe_client(), standin.stripe_client(LIVE)
    a = test.v1.customers.create(params={"name": "a"}, options={"idempotency_key": "same-key"})
    b = live.v1.customers.create(params={"name": "a"}, options={"idempotency_key": "same-key"})
    assert a.id != b.id and len(standin.customers()) == 1
    assert len(standin.dataset(livemode=True).customers()) == 1


def test_the_admin_api_reaches_another_mode_and_account(standin):
    def call(method: str, route: str, body: dict | None = None):
        req = urllib.request.Request(
            f"{standin.base_url}/_standin/{route}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
        )
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    assert call("POST", "seed?livemode=1", {"n": 5})["inserted"] == 5
    assert len(call("GET", "customers?livemode=true")) == 5
    assert call("GET", "customers") == []
    call("POST", "keys", {"key": "sk_live_third000000000", "account_id": "acct_1Third"})
    assert standin.key_identity("sk_live_third000000000") == ("acct_1Third", True)
    assert STANDIN_API_KEY in standin.api_keys


def test_the_command_line_assigns_keys_to_accounts():
    from stripe_standin.__main__ import build_parser

    args = build_parser().parse_args(["--api-key", LIVE, "--key-account", f"{LIVE}={OTHER_ACCOUNT}"])
    assert dict(args.key_account) == {LIVE: OTHER_ACCOUNT}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--key-account", "no-equals-sign"])

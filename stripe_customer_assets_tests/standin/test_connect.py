"""Connect: a platform's key plus Stripe-Account / Stripe-Context reaches a connected
account's own data (https://docs.stripe.com/connect/authentication,
https://docs.stripe.com/context); GET/POST/DELETE /v1/accounts."""

from __future__ import annotations

import pytest
import stripe

from stripe_standin import DEFAULT_ACCOUNT_ID, STANDIN_API_KEY, StripeStandin

from .conftest import Api

OTHER = "sk_test_plainaccount00000"
OTHER_ACCOUNT = "acct_1PlainAccount0002"
SECOND_PLATFORM_KEY = "sk_test_secondplatform000"
LIVE = "sk_live_standin0000000000"


@pytest.fixture
def standin():
    with StripeStandin(seed=11, key_accounts={OTHER: OTHER_ACCOUNT}) as s:
        s.add_api_key(OTHER)
        s.add_api_key(LIVE)
        yield s


@pytest.fixture
def platform(standin):
    """The stand-in's account as a platform with three connected accounts (oldest first)."""
    return standin.create_platform(3)["accounts"]


def _no_access(key: str, account: str) -> str:
    return (
        f"does not have access to account '{account}' (or that account does not exist). "
        "Application access may have been revoked."
    )


def test_each_header_reaches_the_connected_accounts_own_customers_events_and_clocks(
    standin, platform
):
    a, b, _ = platform
    client = standin.stripe_client()
    on_a = client.v1.customers.create(params={"name": "on a"}, options={"stripe_account": a})
    on_b = client.v1.customers.create(params={"name": "on b"}, options={"stripe_context": b})
    own = client.v1.customers.create(params={"name": "platform's own"})
    clock = client.v1.test_helpers.test_clocks.create(
        params={"frozen_time": int(standin.now())}, options={"stripe_account": a}
    )

    def names(**opts):
        return [c.name for c in client.v1.customers.list(options=opts).data]

    assert names(stripe_account=a) == ["on a"] and names(stripe_context=a) == ["on a"]
    assert names(stripe_account=b) == ["on b"]
    assert names() == ["platform's own"]
    events_a = client.v1.events.list(options={"stripe_account": a}).data
    assert [e.data.object.id for e in events_a] == [on_a.id]
    assert events_a[0].account == a, "a connected account's events name it"
    assert [
        e.data.object.id for e in client.v1.events.list(options={"stripe_context": b}).data
    ] == [on_b.id]
    assert [e.data.object.id for e in client.v1.events.list().data] == [own.id]
    assert "account" not in client.v1.events.list().data[0]
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.retrieve(on_a.id, options={"stripe_account": b})
    assert e.value.http_status == 404
    assert [
        c.id for c in client.v1.test_helpers.test_clocks.list(options={"stripe_account": a}).data
    ] == [clock.id]
    assert client.v1.test_helpers.test_clocks.list(options={"stripe_account": b}).data == []
    # GET /v1/account answers the account the request acts on.
    assert client.v1.accounts.retrieve_current(options={"stripe_account": a}).id == a
    assert client.v1.accounts.retrieve_current().id == DEFAULT_ACCOUNT_ID
    # The same data from the Python side.
    assert [c["name"] for c in standin.account(a).customers()] == ["on a"]
    assert [c["name"] for c in standin.customers()] == ["platform's own"]


def test_a_connected_accounts_own_key_reaches_the_same_data_and_no_sibling(standin, platform):
    a, b, _ = platform
    own_key = "sk_test_connectedown00000"
    standin.add_api_key(own_key, a)
    standin.stripe_client().v1.customers.create(params={"name": "x"}, options={"stripe_account": a})
    mine = standin.stripe_client(own_key)
    assert [c.name for c in mine.v1.customers.list().data] == ["x"]
    assert mine.v1.accounts.retrieve_current().id == a
    with pytest.raises(stripe.PermissionError):
        mine.v1.customers.list(options={"stripe_account": b})
    assert mine.v1.accounts.list().data == [], "a connected account is no platform"


def test_a_header_the_key_cannot_reach_gets_stripes_403(standin, platform):
    a = platform[0]
    api = Api(standin.base_url)
    other_platform = standin.create_platform(
        1, account_id="acct_1SecondPlatform", api_key=SECOND_PLATFORM_KEY
    )
    foreign = other_platform["accounts"][0]
    cases = [
        (STANDIN_API_KEY, foreign),  # another platform's connected account
        (STANDIN_API_KEY, "acct_1DoesNotExist00"),
        (OTHER, a),  # a plain account's key
        (LIVE, a),  # a test-mode connected account, a live key
        (SECOND_PLATFORM_KEY, a),
    ]
    for key, account in cases:
        for header in ("Stripe-Account", "Stripe-Context"):
            status, _, body = api.get("/v1/customers", headers={header: account}, key=key)
            assert status == 403, (key, account, header)
            assert body["error"]["type"] == "invalid_request_error"
            message = body["error"]["message"]
            assert (
                message.startswith("The provided key 'sk_") and _no_access(key, account) in message
            )
            assert key not in message, "the key is masked"
    # A header naming the key's own account is the key's own data.
    assert api.get("/v1/customers", headers={"Stripe-Account": DEFAULT_ACCOUNT_ID})[0] == 200


def test_both_headers_naming_different_accounts_is_a_400(standin, platform):
    a, b, _ = platform
    api = Api(standin.base_url)
    status, _, body = api.get("/v1/customers", headers={"Stripe-Account": a, "Stripe-Context": b})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert a in body["error"]["message"] and b in body["error"]["message"]
    assert "Stripe-Context" in body["error"]["message"]
    assert api.get("/v1/customers", headers={"Stripe-Account": a, "Stripe-Context": a})[0] == 200
    path = f"{DEFAULT_ACCOUNT_ID}/{a}"  # a context path: the platform, then its account
    status, _, acct = api.get("/v1/account", headers={"Stripe-Context": path})
    assert status == 200 and acct["id"] == a


def test_a_deleted_account_is_out_of_reach_and_its_data_is_kept(standin, platform):
    a, b, _ = platform
    own_key = "sk_test_deletedown000000"
    standin.add_api_key(own_key, a)
    client = standin.stripe_client()
    client.v1.customers.create(params={"name": "kept"}, options={"stripe_account": a})
    gone = client.v1.accounts.delete(a)
    assert gone.deleted is True and gone.id == a
    with pytest.raises(stripe.PermissionError) as e:
        client.v1.customers.list(options={"stripe_account": a})
    assert _no_access(STANDIN_API_KEY, a) in e.value.user_message
    with pytest.raises(stripe.PermissionError):
        client.v1.accounts.retrieve(a)
    with pytest.raises(stripe.AuthenticationError):
        standin.stripe_client(own_key).v1.customers.list()
    assert [x.id for x in client.v1.accounts.list().data] == [platform[2], b]
    assert [c["name"] for c in standin.account(a).customers()] == ["kept"]
    assert any(
        x["id"] == a and x["deleted"] for x in standin.connected_accounts(include_deleted=True)
    )
    assert a not in {x["id"] for x in standin.connected_accounts()}
    with pytest.raises(stripe.PermissionError):
        client.v1.accounts.delete(a)
    api = Api(standin.base_url)
    status, _, body = api.delete(f"/v1/accounts/{DEFAULT_ACCOUNT_ID}")
    assert status == 400 and "your own account" in body["error"]["message"]


def test_accounts_list_pages_newest_first_with_cursors_and_created(standin):
    standin.make_platform()
    t0 = int(standin.now())
    ids = [standin.add_connected_account(created=t0 + i)["id"] for i in range(25)]
    newest_first = ids[::-1]
    client = standin.stripe_client()
    seen, after = [], None
    while True:
        params = {"limit": 10, **({"starting_after": after} if after else {})}
        page = client.v1.accounts.list(params=params)
        seen += [x.id for x in page.data]
        if not page.has_more:
            break
        after = page.data[-1].id
    assert seen == newest_first
    back = client.v1.accounts.list(params={"limit": 3, "ending_before": newest_first[10]})
    assert [x.id for x in back.data] == newest_first[7:10] and back.has_more
    ranged = client.v1.accounts.list(
        params={"created": {"gte": t0 + 5, "lt": t0 + 8}, "limit": 100}
    )
    assert [x.id for x in ranged.data] == [ids[7], ids[6], ids[5]]
    assert [x.id for x in client.v1.accounts.list(params={"created": t0 + 3}).data] == [ids[3]]
    api = Api(standin.base_url)
    for limit in (0, 101):
        status, _, body = api.get("/v1/accounts", {"limit": limit})
        assert status == 400 and body["error"]["param"] == "limit"
    status, _, body = api.get("/v1/accounts", {"starting_after": "acct_1Nope"})
    assert status == 404 and body["error"]["param"] == "starting_after"
    _, _, first = api.get("/v1/accounts")
    assert len(first["data"]) == 10 and first["url"] == "/v1/accounts" and first["has_more"]
    # Not a platform: the list is empty (the spec: "If you're not a platform, the list is empty").
    assert standin.stripe_client(OTHER).v1.accounts.list().data == []
    # A live key lists the platform's live-mode connected accounts: none here.
    assert standin.stripe_client(LIVE).v1.accounts.list().data == []


def test_create_and_retrieve_a_connected_account(standin):
    standin.make_platform()
    client = standin.stripe_client()
    made = client.v1.accounts.create(
        params={
            "type": "custom",
            "email": "shop@example.com",
            "metadata": {"shop": "42"},
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    assert (
        made.id.startswith("acct_") and made.type == "custom" and made.email == "shop@example.com"
    )
    assert made.metadata.to_dict() == {"shop": "42"}
    assert made.capabilities.to_dict() == {"transfers": "inactive"}
    assert made.charges_enabled is False and made.details_submitted is False
    assert made.controller.type == "application" and made.created == int(standin.now())
    assert client.v1.accounts.retrieve(made.id).to_dict() == made.to_dict()
    assert client.v1.accounts.list().data[0].id == made.id
    assert client.v1.customers.list(options={"stripe_account": made.id}).data == []
    assert client.v1.accounts.retrieve(DEFAULT_ACCOUNT_ID).id == DEFAULT_ACCOUNT_ID
    api = Api(standin.base_url)
    status, _, body = api.post("/v1/accounts", {"type": "business"})
    assert status == 400 and body["error"]["param"] == "type"
    status, _, body = api.post("/v1/accounts", {"controller": {"fees": {"payer": "account"}}})
    assert status == 400 and body["error"]["code"] == "parameter_unknown"  # not in 2023-08-16
    status, _, body = api.post("/v1/accounts", {"email": "not-an-email"})
    assert status == 400
    status, _, body = api.post("/v1/accounts", {"type": "express"}, key=OTHER)
    assert status == 400 and "signed up for Connect" in body["error"]["message"]
    status, _, body = api.post("/v1/accounts", {}, headers={"Stripe-Account": made.id})
    assert status == 400, "a connected account cannot create accounts"
    assert standin.stats()["by_account"][DEFAULT_ACCOUNT_ID]["writes_by_endpoint"] == {
        "accounts.create": 1
    }


def test_idempotency_keys_are_scoped_per_account(standin, platform):
    a, b, _ = platform
    api = Api(standin.base_url)
    made = []
    for account in (a, b, a):
        status, headers, cust = api.post(
            "/v1/customers",
            {"name": "same"},
            headers={"Stripe-Account": account, "Idempotency-Key": "one-key"},
        )
        assert status == 200
        made.append((cust["id"], headers.get("idempotent-replayed")))
    assert made[0][0] != made[1][0], "another account: another customer"
    assert made[2] == (made[0][0], "true"), "the same account: a replay"
    status, _, _ = api.post(
        "/v1/customers", {"name": "same"}, headers={"Idempotency-Key": "one-key"}
    )
    assert status == 200 and len(standin.customers()) == 1
    assert len(standin.account(a).customers()) == 1 and len(standin.account(b).customers()) == 1


def test_request_log_and_counters_name_the_account_acted_on(standin, platform):
    a, b, _ = platform
    client = standin.stripe_client()
    standin.reset_stats()
    for i in range(3):
        client.v1.customers.create(params={"name": f"{i}"}, options={"stripe_account": a})
    client.v1.customers.list(options={"stripe_context": b})
    client.v1.balance.retrieve()
    assert standin.account_stats(a)["writes_applied"] == 3
    assert standin.account_stats(a)["writes_by_endpoint"] == {"customers.create": 3}
    assert standin.account_stats(b) == {
        "requests": 1,
        "requests_by_endpoint": {"customers.list": 1},
        "status": {"200": 1},
        "writes_applied": 0,
        "writes_by_endpoint": {},
        "rate_limited": 0,
    }
    assert standin.account_stats(DEFAULT_ACCOUNT_ID)["requests_by_endpoint"] == {
        "balance.retrieve": 1
    }
    assert [r["account"] for r in standin.requests()] == [a, a, a, b, DEFAULT_ACCOUNT_ID]
    assert [r["endpoint"] for r in standin.requests(account=a)] == ["customers.create"] * 3
    assert standin.stats()["writes_applied"] == 3


def test_out_of_band_changes_in_a_connected_account_record_its_events(standin, platform):
    a = platform[0]
    view = standin.account(a)
    c = view.create_customer(email="oob@example.com")
    view.update_customer(c["id"], name="Renamed")
    view.delete_customer(c["id"])
    events = standin.stripe_client().v1.events.list(options={"stripe_account": a}).data
    assert [e.type for e in events] == ["customer.deleted", "customer.updated", "customer.created"]
    assert all(e.account == a and e.request.id is None for e in events)
    assert standin.events() == []


def test_a_connected_account_has_its_own_default_api_version(standin):
    standin.make_platform()
    old = standin.add_connected_account(api_version="2019-10-08")["id"]
    api = Api(standin.base_url)
    status, headers, cust = api.post("/v1/customers", {"name": "v"}, headers={"Stripe-Account": old})
    assert status == 200 and headers["stripe-version"] == "2019-10-08"
    assert "account_balance" in cust and "balance" not in cust
    _, _, events = api.get("/v1/events", headers={"Stripe-Account": old})
    assert events["data"][0]["api_version"] == "2019-10-08"
    status, headers, _ = api.post("/v1/customers", {"name": "now"})
    assert headers["stripe-version"] == "2023-08-16", "the platform keeps its own"


def test_live_mode_connected_accounts_are_reached_with_live_keys_only(standin):
    standin.make_platform()
    live_acct = standin.add_connected_account(livemode=True)["id"]
    test_acct = standin.add_connected_account()["id"]
    live, test = standin.stripe_client(LIVE), standin.stripe_client()
    made = live.v1.customers.create(params={"name": "live"}, options={"stripe_account": live_acct})
    assert made.livemode is True
    assert [a.id for a in live.v1.accounts.list().data] == [live_acct]
    assert [a.id for a in test.v1.accounts.list().data] == [test_acct]
    with pytest.raises(stripe.PermissionError):
        test.v1.customers.list(options={"stripe_account": live_acct})
    assert [c["name"] for c in standin.account(live_acct).customers()] == ["live"]
    assert live.v1.events.list(options={"stripe_account": live_acct}).data[0].livemode is True

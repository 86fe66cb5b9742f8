"""Many accounts: rate limits per account (and the platform's choice for its connected
accounts), seeding many accounts at once, the admin API and command line for them."""

from __future__ import annotations

import time

import pytest

from stripe_standin import DEFAULT_ACCOUNT_ID, StandinAdmin, StripeStandin

from .conftest import Api

OTHER = "sk_test_plainaccount00000"
OTHER_ACCOUNT = "acct_1PlainAccount0002"


@pytest.fixture
def standin():
    with StripeStandin(seed=5, key_accounts={OTHER: OTHER_ACCOUNT}) as s:
        s.add_api_key(OTHER)
        yield s


def _statuses(api: Api, n: int, **headers: str) -> list[int]:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    return [api.get("/v1/balance", headers=hdrs)[0] for _ in range(n)]


def test_accounts_have_their_own_rate_limits(standin):
    standin.configure(rate_limit=0.001, rate_limit_burst=2)  # two requests, then 429s
    api = Api(standin.base_url)
    assert _statuses(api, 3) == [200, 200, 429]
    assert _statuses(Api(standin.base_url, OTHER), 3) == [200, 200, 429], "a plain account: its own"
    st = standin.stats()["by_account"]
    assert st[DEFAULT_ACCOUNT_ID]["rate_limited"] == 1 and st[OTHER_ACCOUNT]["rate_limited"] == 1


def test_connected_accounts_count_against_the_platform_by_default(standin):
    a, b = standin.create_platform(2)["accounts"]
    standin.configure(rate_limit=0.001, rate_limit_burst=3)
    api = Api(standin.base_url)
    assert _statuses(api, 2, Stripe_Account=a) == [200, 200]
    assert _statuses(api, 2, Stripe_Context=b) == [200, 429], "one budget: the platform's"
    assert _statuses(api, 1) == [429]
    assert standin.account_stats(b)["rate_limited"] == 1


def test_a_platform_can_give_each_connected_account_its_own_limit(standin):
    a, b = standin.create_platform(2, connect_rate_limit_on="account")["accounts"]
    standin.configure(rate_limit=0.001, rate_limit_burst=2)
    api = Api(standin.base_url)
    assert _statuses(api, 3, Stripe_Account=a) == [200, 200, 429]
    assert _statuses(api, 3, Stripe_Account=b) == [200, 200, 429]
    assert _statuses(api, 2) == [200, 200], "the platform's own budget is untouched"
    standin.configure_platform(connect_rate_limit_on="platform")
    assert _statuses(api, 1, Stripe_Account=a) == [429]
    with pytest.raises(ValueError):
        standin.configure_platform(connect_rate_limit_on="nobody")


def test_endpoint_limits_and_account_overrides_are_per_account(standin):
    a, b = standin.create_platform(2, connect_rate_limit_on="account")["accounts"]
    standin.configure(endpoint_rate_limits={"customers.list": 0.001})  # one list, then 429
    api = Api(standin.base_url)
    for acct in (a, b):
        got = [api.get("/v1/customers", headers={"Stripe-Account": acct}) for _ in range(2)]
        assert [s for s, _, _ in got] == [200, 429]
        assert got[1][1]["stripe-rate-limited-reason"] == "endpoint-rate"
    standin.set_account_limits(b, rate_limit=0.001, rate_limit_burst=1)
    assert _statuses(api, 2, Stripe_Account=b) == [200, 429]
    assert _statuses(api, 3, Stripe_Account=a) == [200, 200, 200], "only b has the override"
    standin.set_account_limits(b)
    assert _statuses(api, 2, Stripe_Account=b) == [200, 200]


def test_200_accounts_of_500_customers_seed_in_seconds(standin):
    t0 = time.perf_counter()
    made = standin.create_platform(200, customers_per_account=500, seed=2)
    seconds = time.perf_counter() - t0
    assert seconds < 15, f"seeding took {seconds:.1f}s"
    accounts = made["accounts"]
    assert len(accounts) == 200 and made["api_key"] == standin.api_key
    firsts = [standin.account(a).customers() for a in accounts[:3]]
    assert [len(c) for c in firsts] == [500, 500, 500]
    ids = [{c["id"] for c in cs} for cs in firsts]
    assert ids[0].isdisjoint(ids[1]) and ids[1].isdisjoint(ids[2])
    client = standin.stripe_client()
    page = client.v1.customers.list(params={"limit": 100}, options={"stripe_account": accounts[-1]})
    assert len(page.data) == 100 and page.has_more
    assert standin.customers() == [], "the platform's own data is its own"
    assert len(client.v1.accounts.list(params={"limit": 100}).data) == 100


def test_the_admin_api_serves_platforms_and_connected_accounts(standin):
    admin = StandinAdmin(standin.base_url)
    made = admin.create_platform(3, customers_per_account=4, seed=1)
    assert made["platform"] == DEFAULT_ACCOUNT_ID and len(made["accounts"]) == 3
    a, b, c = made["accounts"]
    assert admin.platforms()[DEFAULT_ACCOUNT_ID] == {
        "connect_rate_limit_on": "platform",
        "connected_accounts": 3,
    }
    d = admin.add_connected_account(
        email="d@example.com", type="express", api_key="sk_test_dkey00000000"
    )
    assert d["email"] == "d@example.com" and standin.key_identity("sk_test_dkey00000000") == (
        d["id"],
        False,
    )
    more = admin.add_connected_accounts(2)
    assert [x["id"] for x in admin.connected_accounts()] == [*more[::-1], d["id"], c, b, a]
    assert admin.seed_accounts(5, [a]) == 5
    view = admin.account(a)
    assert len(view.customers()) == 9
    made_c = view.create_customer(name="via admin")
    assert standin.account(a).customer(made_c["id"])["name"] == "via admin"
    assert [e["type"] for e in view.events()] == ["customer.created"]
    assert admin.delete_connected_account(b) == {"id": b, "object": "account", "deleted": True}
    assert b not in {x["id"] for x in admin.connected_accounts()}
    assert b in {x["id"] for x in admin.connected_accounts(include_deleted=True)}
    admin.configure_platform(DEFAULT_ACCOUNT_ID, connect_rate_limit_on="account")
    admin.set_account_limits(c, rate_limit=0.001, rate_limit_burst=1)
    api = Api(standin.base_url)
    assert _statuses(api, 2, Stripe_Account=c) == [200, 429]
    assert admin.account_stats(c)["rate_limited"] == 1
    assert [r["account"] for r in admin.requests(account=c)] == [c, c]
    assert admin.config()["account_limits"] == {c: {"rate_limit": 0.001, "rate_limit_burst": 1}}


def test_the_command_line_makes_a_platform_with_seeded_connected_accounts():
    import subprocess
    import sys

    from stripe_standin.__main__ import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--connect-rate-limit-on", "everyone"])
    args = ["--port", "0", "--quiet", "--connected-accounts", "3", "--customers-per-account", "4"]
    args += ["--connect-rate-limit-on", "account", "--api-key", "sk_test_cliplatform"]
    proc = subprocess.Popen([sys.executable, "-m", "stripe_standin", *args], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        api = Api(url, key="sk_test_cliplatform")
        status, _, listed = api.get("/v1/accounts")
        assert status == 200 and len(listed["data"]) == 3
        for acct in listed["data"]:
            _, _, page = api.get("/v1/customers", headers={"Stripe-Context": acct["id"]})
            assert len(page["data"]) == 4
        assert api.get("/v1/customers")[2]["data"] == []
        platforms = StandinAdmin(url).platforms()
        assert platforms == {DEFAULT_ACCOUNT_ID: {"connect_rate_limit_on": "account", "connected_accounts": 3}}
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_faults_can_be_limited_to_accounts(standin):
    from stripe_standin import Fault

    a, b = standin.create_platform(2)["accounts"]
    standin.inject_fault(Fault.HTTP_503, 2, accounts=[b])
    api = Api(standin.base_url)
    assert _statuses(api, 1, Stripe_Account=a) == [200] and _statuses(api, 1) == [200]
    assert _statuses(api, 3, Stripe_Account=b) == [503, 503, 200]
    standin.set_fault_rate(Fault.HTTP_500, 1.0, accounts=a)
    assert _statuses(api, 1, Stripe_Account=a) == [500] and _statuses(api, 1, Stripe_Account=b) == [
        200
    ]
    assert standin.config()["faults"]["rates"]["500"]["accounts"] == [a]
    StandinAdmin(standin.base_url).inject_fault(Fault.HTTP_503, 1, accounts=[DEFAULT_ACCOUNT_ID])
    assert _statuses(api, 1, Stripe_Account=b) == [200] and _statuses(api, 1) == [503]

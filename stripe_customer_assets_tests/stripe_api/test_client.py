"""The Stripe client: retries, idempotency, clear access errors, the shared limiter."""

from __future__ import annotations

import threading
import time

import pytest

from stripe_customer_assets.stripe_api import (
    RateLimiter,
    StripeAccessError,
    StripeApi,
    StripeRequestError,
)
from stripe_standin import STANDIN_API_KEY


def client(standin, key=STANDIN_API_KEY, **kw) -> StripeApi:
    kw.setdefault("rate_limit", 10_000)
    kw.setdefault("endpoint_rate_limit", kw["rate_limit"])
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_max_s", 0.05)
    return StripeApi(key, api_base=standin.base_url, **kw)


def api_requests(standin) -> list[dict]:
    return [r for r in standin.requests() if not r["path"].startswith("/_standin")]


@pytest.mark.parametrize(
    "fault",
    ["429-global-rate", "429-endpoint-concurrency", "429-lock-timeout", "500", "502", "503", "reset-before"],
)
def test_transient_faults_are_retried_until_the_read_succeeds(standin, fault):
    standin.create_customer(email="a@example.com")
    api = client(standin)
    standin.inject_fault(fault, count=2)
    page = api.get("/v1/customers", limit=10)
    assert [c["email"] for c in page["data"]] == ["a@example.com"]
    assert api.stats.retries == 2
    assert api.stats.calls == 3


def test_a_create_whose_answer_was_lost_is_retried_with_the_same_key_and_creates_once(standin):
    api = client(standin)
    standin.inject_fault("reset-after", count=1, endpoints=["customers.create"])
    created = api.request("post", "/v1/customers", {"email": "once@example.com"}, idempotency_key="k-1")
    assert [c["id"] for c in standin.customers()] == [created["id"]]
    posts = [r for r in api_requests(standin) if r["method"] == "POST"]
    assert len(posts) == 2
    assert {r["headers"].get("idempotency-key") for r in posts} == {"k-1"}


def test_a_create_whose_answer_was_cut_short_is_retried_and_creates_once(standin):
    api = client(standin)
    standin.inject_fault("bad-json", count=1, endpoints=["customers.create"])
    created = api.request("post", "/v1/customers", {"email": "cut@example.com"}, idempotency_key="k-2")
    assert [c["id"] for c in standin.customers()] == [created["id"]]
    assert api.stats.failures == {"bad-json": 1}
    assert standin.stats()["idempotent_replays"] == 1


def test_posts_without_a_key_get_one_that_is_stable_across_retries(standin):
    api = client(standin)
    standin.inject_fault("503", count=1, endpoints=["customers.create"])
    api.request("post", "/v1/customers", {"email": "b@example.com"})
    keys = [r["headers"].get("idempotency-key") for r in api_requests(standin) if r["method"] == "POST"]
    assert len(keys) == 2 and len(set(keys)) == 1 and keys[0]
    assert len(standin.customers()) == 1


def test_retries_stop_after_max_retries_with_a_message_naming_the_request(standin):
    api = client(standin, max_retries=2)
    standin.inject_fault("500", count=10)
    with pytest.raises(StripeRequestError, match=r"GET /v1/customers kept failing after 2 retries"):
        api.get("/v1/customers")
    assert api.stats.calls == 3


def test_a_wrong_key_raises_a_401_message_naming_the_variable_without_the_key(standin):
    api = client(standin, key="sk_test_thisIsNotAValidKey9876")
    with pytest.raises(StripeAccessError) as err:
        api.check_connection()
    message = str(err.value)
    assert "STRIPE_API_KEY" in message and "401" in message
    assert "thisIsNotAValidKey9876" not in message
    assert api.stats.calls == 1  # no retries on 401


def test_a_restricted_key_without_write_permission_names_the_permission(standin):
    standin.add_restricted_key("rk_test_readonly0000000000", {"customers": "read", "balance": "read", "events": "read"})
    api = client(standin, key="rk_test_readonly0000000000")
    api.check_connection()
    with pytest.raises(StripeAccessError, match="rak_customer_write") as err:
        api.request("post", "/v1/customers", {"email": "c@example.com"})
    assert "403" in str(err.value) and "STRIPE_API_KEY" in str(err.value)
    assert standin.customers() == []


def test_a_missing_key_is_refused_before_any_request():
    with pytest.raises(StripeAccessError, match="set the STRIPE_API_KEY environment variable"):
        StripeApi("", api_base="http://127.0.0.1:9")


def test_a_bad_request_is_not_retried_and_keeps_stripes_code(standin):
    api = client(standin)
    with pytest.raises(StripeRequestError) as err:
        api.get("/v1/customers", limit=1, colour="blue")
    assert err.value.status == 400 and err.value.code == "parameter_unknown"
    assert api.stats.calls == 1


def test_stripes_clock_comes_from_the_date_header(standin):
    api = client(standin)
    standin.advance_clock(days=40)
    api.check_connection()
    assert abs((api.now().timestamp()) - standin.now()) < 5


def test_the_limiter_holds_many_threads_to_the_rate():
    limiter = RateLimiter(50, burst=5)
    count = 0
    lock = threading.Lock()

    def take():
        nonlocal count
        for _ in range(15):
            limiter.acquire()
            with lock:
                count += 1

    started = time.monotonic()
    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert count == 120
    # 120 tokens at 50/s with a burst of 5: at least (120 - 5) / 50 = 2.3 s.
    assert elapsed >= 2.2


def test_a_pause_after_a_rate_limited_answer_holds_every_thread():
    limiter = RateLimiter(1000, burst=10)
    limiter.pause(0.3)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started >= 0.25


def test_each_endpoint_runs_at_its_own_limit_under_the_accounts(standin):
    """Stripe's shape: a per-endpoint limit below the account's. Listing and creating are two
    endpoints, so they run side by side, each at its own rate, and neither goes over."""
    standin.configure(rate_limit=200, endpoint_rate_limit=20)
    api = client(standin, rate_limit=150, endpoint_rate_limit=15)
    calls = 30

    def run(call) -> None:
        for _ in range(calls):
            call()

    workers = [
        threading.Thread(target=run, args=(lambda: api.get("/v1/customers", limit=1),)),
        threading.Thread(target=run, args=(lambda: api.get("/v1/customers", limit=1),)),
        threading.Thread(target=run, args=(lambda: api.request("post", "/v1/customers", {"name": "x"}),)),
        threading.Thread(target=run, args=(lambda: api.request("post", "/v1/customers", {"name": "y"}),)),
    ]
    started = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.monotonic() - started

    assert standin.stats()["rate_limited"] == 0, "no endpoint went over Stripe's limit"
    assert api.stats.calls == 4 * calls
    # 60 calls per endpoint at 15/s (burst 3): at least 57 / 15 = 3.8 s; the two endpoints
    # one after the other would take twice that.
    assert 3.6 <= elapsed < 6.5, elapsed
    times = {
        endpoint: sorted(r["time"] for r in api_requests(standin) if r.get("endpoint") == endpoint)
        for endpoint in ("customers.list", "customers.create")
    }
    assert times["customers.create"][0] < times["customers.list"][len(times["customers.list"]) // 2], (
        "creates did not wait for the listing to finish"
    )


def test_an_endpoint_rate_429_slows_that_endpoint_and_leaves_the_others(standin):
    api = client(standin, backoff_base_s=0.8, backoff_max_s=0.8)
    standin.inject_fault("429-endpoint-rate", count=1, endpoints=["customers.list"])
    listing = threading.Thread(target=api.get, args=("/v1/customers",))
    listing.start()
    time.sleep(0.1)  # the 429 came back; the list endpoint pauses for 0.4 to 0.8 s

    started = time.monotonic()
    api.request("post", "/v1/customers", {"name": "not held back"})
    create_s = time.monotonic() - started
    started = time.monotonic()
    api.get("/v1/customers", limit=1)
    list_s = time.monotonic() - started
    listing.join()

    assert create_s < 0.25, "a create does not wait for the list endpoint's pause"
    assert list_s >= 0.2, "a second list request waits out the pause"

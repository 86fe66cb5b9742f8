import threading
import time

import pytest
import stripe

from stripe_standin import ALL_FAULTS, Fault, StripeStandin

from .conftest import Api


def test_global_rate_limit_answers_429_with_reason_header(standin):
    standin.configure(rate_limit=5)
    api = Api(standin.base_url)
    results = [api.get("/v1/balance") for _ in range(8)]
    limited = [r for r in results if r[0] == 429]
    assert 2 <= len(limited) <= 3
    _, headers, body = limited[0]
    assert headers["stripe-rate-limited-reason"] == "global-rate"
    assert body["error"]["code"] == "rate_limit"
    assert body["error"]["type"] == "invalid_request_error"
    assert standin.stats()["rate_limited_by_reason"]["global-rate"] == len(limited)


def test_rate_limit_refills_over_time(standin):
    standin.configure(rate_limit=20, rate_limit_burst=1)
    api = Api(standin.base_url)
    assert api.get("/v1/balance")[0] == 200
    assert api.get("/v1/balance")[0] == 429
    time.sleep(0.06)
    assert api.get("/v1/balance")[0] == 200


def test_sdk_sees_rate_limit_error(standin, client):
    standin.configure(rate_limit=1)
    client.v1.balance.retrieve()
    with pytest.raises(stripe.RateLimitError) as e:
        client.v1.balance.retrieve()
    assert e.value.http_status == 429
    assert e.value.headers["Stripe-Rate-Limited-Reason"] == "global-rate"


def test_per_endpoint_rate_limit(standin):
    standin.configure(endpoint_rate_limits={"customers.list": 2})
    api = Api(standin.base_url)
    assert [api.get("/v1/customers")[0] for _ in range(3)] == [200, 200, 429]
    assert api.get("/v1/customers")[1]["stripe-rate-limited-reason"] == "endpoint-rate"
    assert api.get("/v1/balance")[0] == 200


def test_concurrency_limit_answers_429_global_concurrency(standin):
    standin.configure(concurrency_limit=1, latency_read=0.15)
    api = Api(standin.base_url)
    out = []
    ts = [threading.Thread(target=lambda: out.append(api.get("/v1/balance"))) for _ in range(2)]
    for t in ts:
        t.start()
        time.sleep(0.05)
    for t in ts:
        t.join()
    assert sorted(r[0] for r in out) == [200, 429]
    assert [r[1]["stripe-rate-limited-reason"] for r in out if r[0] == 429] == [
        "global-concurrency"
    ]


@pytest.mark.parametrize(
    "kind, reason",
    [
        (Fault.RATE_GLOBAL, "global-rate"),
        (Fault.RATE_ENDPOINT, "endpoint-rate"),
        (Fault.CONCURRENCY_GLOBAL, "global-concurrency"),
        (Fault.CONCURRENCY_ENDPOINT, "endpoint-concurrency"),
    ],
)
def test_injected_429_has_reason_and_sdk_raises_rate_limit_error(standin, client, kind, reason):
    standin.inject_fault(kind)
    with pytest.raises(stripe.RateLimitError) as e:
        client.v1.customers.list()
    assert e.value.http_status == 429
    assert e.value.headers["Stripe-Rate-Limited-Reason"] == reason
    assert e.value.error.code == "rate_limit"
    client.v1.customers.list()  # only one request was hit


def test_injected_lock_timeout_is_429_with_code_lock_timeout(standin, client):
    standin.inject_fault(Fault.LOCK_TIMEOUT)
    with pytest.raises(stripe.RateLimitError) as e:
        client.v1.customers.create(params={"name": "x"})
    assert e.value.http_status == 429 and e.value.error.code == "lock_timeout"
    assert e.value.headers["Stripe-Should-Retry"] == "true"
    assert "Stripe-Rate-Limited-Reason" not in e.value.headers
    assert standin.customers() == []


@pytest.mark.parametrize(
    "kind, status", [(Fault.HTTP_500, 500), (Fault.HTTP_502, 502), (Fault.HTTP_503, 503)]
)
def test_injected_5xx_raise_api_error_and_apply_nothing(standin, client, kind, status):
    standin.inject_fault(kind)
    with pytest.raises(stripe.APIError) as e:
        client.v1.customers.create(params={"name": "x"})
    assert e.value.http_status == status
    assert standin.customers() == [] and standin.stats()["writes_applied"] == 0


def test_reset_before_apply_raises_connection_error_and_writes_nothing(standin, client):
    standin.inject_fault(Fault.RESET_BEFORE)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create(params={"name": "lost"})
    assert standin.customers() == []
    assert standin.requests()[-1]["status"] == 0 and standin.requests()[-1]["reset"] is True


def test_reset_after_apply_loses_the_answer_but_the_write_happened(standin, client):
    standin.inject_fault(Fault.RESET_AFTER)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create(params={"name": "applied"}, options={"idempotency_key": "ra-1"})
    assert [c["name"] for c in standin.customers()] == ["applied"]
    assert standin.stats()["writes_applied"] == 1
    # the retry with the same key replays instead of creating a second customer
    again = client.v1.customers.create(
        params={"name": "applied"}, options={"idempotency_key": "ra-1"}
    )
    assert again.id == standin.customers()[0]["id"]
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(standin.customers()) == 1


def test_reset_after_apply_without_key_duplicates_on_retry(standin, client):
    standin.inject_fault(Fault.RESET_AFTER)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create(params={"name": "dup"})
    client.v1.customers.create(params={"name": "dup"})
    assert [c["name"] for c in standin.customers()] == ["dup", "dup"]


def test_slow_response_times_out_the_client(standin):
    standin.configure(slow_seconds=1.0)
    standin.inject_fault(Fault.SLOW)
    client = standin.stripe_client(timeout=0.2)
    t = time.perf_counter()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.list()
    assert time.perf_counter() - t < 0.9
    client.v1.customers.list()


def test_bad_json_raises_api_error(standin, client):
    standin.inject_fault(Fault.BAD_JSON)
    with pytest.raises(stripe.APIError) as e:
        client.v1.customers.list()
    assert "Invalid response body" in str(e.value)


def test_malformed_object_fault_damages_one_customer_in_a_page(standin, api):
    standin.seed_customers(5, seed=1)
    standin.inject_fault(Fault.MALFORMED_OBJECT)
    status, _, page = api.get("/v1/customers")
    assert status == 200 and len(page["data"]) == 5
    good_keys = set(standin.customers()[0])
    broken = [
        c
        for c in page["data"]
        if set(c) != good_keys
        or not isinstance(c.get("created"), int)
        or c.get("metadata") is None
        or not isinstance(c.get("metadata"), dict)
    ]
    assert len(broken) >= 1
    # the store is untouched
    status, _, page = api.get("/v1/customers")
    assert all(set(c) == good_keys for c in page["data"])


def test_malformed_customers_can_be_injected_into_store_and_events(standin, api):
    standin.seed_customers(3, seed=1)
    ids = standin.inject_malformed_customers(2, kind="wrong_types")
    _, _, page = api.get("/v1/customers")
    assert [c["id"] for c in page["data"][:2]] == ids[::-1]
    assert isinstance(page["data"][0]["metadata"], list)
    assert isinstance(page["data"][0]["email"], int)
    _, _, evs = api.get("/v1/events")
    assert [e["data"]["object"]["id"] for e in evs["data"]] == ids[::-1]
    for kind in ("missing_fields", "extra_fields", "nulls"):
        (cid,) = standin.inject_malformed_customers(1, kind=kind)
        status, _, c = api.get(f"/v1/customers/{cid}")
        assert status == 200 and c["id"] == cid


def test_faults_are_scoped_by_endpoint_and_method(standin, client):
    standin.inject_fault(Fault.HTTP_500, endpoints=["customers.create"])
    client.v1.customers.list()
    client.v1.balance.retrieve()
    with pytest.raises(stripe.APIError):
        client.v1.customers.create()
    standin.inject_fault(Fault.HTTP_503, methods=["POST"])
    client.v1.customers.list()
    with pytest.raises(stripe.APIError):
        client.v1.customers.create()


def test_injected_burst_hits_consecutive_requests(standin):
    standin.inject_fault(Fault.HTTP_503, count=3)
    api = Api(standin.base_url)
    assert [api.get("/v1/balance")[0] for _ in range(5)] == [503, 503, 503, 200, 200]


def test_fault_rate_with_burst(standin):
    standin.set_fault_rate(Fault.HTTP_500, 0.1, burst=4)
    api = Api(standin.base_url)
    statuses = [api.get("/v1/balance")[0] for _ in range(200)]
    runs, run = [], 0
    for s in statuses + [200]:
        if s == 500:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert runs and all(r >= 4 for r in runs[:-1])


def _fault_sequence(seed):
    s = StripeStandin(seed=seed)
    with s:
        s.set_fault_rate(Fault.HTTP_500, 0.2)
        s.set_fault_rate(Fault.RATE_GLOBAL, 0.2)
        api = Api(s.base_url)
        return [api.get("/v1/balance")[0] for _ in range(40)]


def test_seeded_fault_rates_are_deterministic():
    a, b = _fault_sequence(11), _fault_sequence(11)
    assert a == b and {200, 429, 500} <= set(a)


def test_counters_track_requests_faults_and_writes(standin, client):
    standin.inject_fault(Fault.HTTP_500)
    with pytest.raises(stripe.APIError):
        client.v1.customers.list()
    client.v1.customers.create()
    st = standin.stats()
    assert st["requests"]["GET /v1/customers"] == 1
    assert st["requests"]["POST /v1/customers"] == 1
    assert st["faults"] == {"500": 1} and st["writes_applied"] == 1
    assert st["status"] == {"200": 1, "500": 1}
    standin.reset_stats()
    st = standin.stats()
    assert st["requests_total"] == 0 and standin.requests() == [] and st["customers"] == 1


def test_every_fault_kind_is_covered_by_a_test():
    assert set(ALL_FAULTS) == {
        "429-global-rate",
        "429-endpoint-rate",
        "429-global-concurrency",
        "429-endpoint-concurrency",
        "429-lock-timeout",
        "500",
        "500-saved",  # test_idempotency.py
        "500-saved-applied",  # test_idempotency.py
        "502",
        "503",
        "reset-before",
        "reset-after",
        "slow",
        "bad-json",
        "malformed-object",
    }


def test_limiter_concurrency_caps_count_requests_in_flight():
    from stripe_standin.faults import Limiter, Limits

    lim = Limiter(Limits(endpoint_concurrency_limit=1, concurrency_limit=2))
    assert lim.acquire("customers.list") is None
    assert lim.acquire("customers.list") == "endpoint-concurrency"
    assert lim.acquire("balance.retrieve") is None
    assert lim.acquire("events.list") == "global-concurrency"
    lim.release("customers.list")
    assert lim.acquire("customers.list") is None
    assert lim.in_flight == 2 and lim.in_flight_max == 2

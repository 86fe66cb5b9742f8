import threading

import pytest
import stripe

from .conftest import Api


def test_same_key_same_params_replays_the_stored_answer(api, standin):
    h = {"Idempotency-Key": "k-1"}
    s1, h1, b1 = api.post("/v1/customers", {"name": "Once"}, headers=h)
    s2, h2, b2 = api.post("/v1/customers", {"name": "Once"}, headers=h)
    assert s1 == s2 == 200 and b1 == b2
    assert h2["idempotent-replayed"] == "true" and "idempotent-replayed" not in h1
    assert h2["idempotency-key"] == "k-1"
    assert h2["original-request"] == h1["request-id"] != h2["request-id"]
    assert len(standin.customers()) == 1 and len(standin.events()) == 1
    assert standin.stats()["idempotent_replays"] == 1
    assert standin.stats()["writes_applied"] == 1


def test_same_key_different_params_is_400_idempotency_error(client):
    client.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k-2"})
    with pytest.raises(stripe.IdempotencyError) as e:
        client.v1.customers.create(params={"name": "B"}, options={"idempotency_key": "k-2"})
    assert e.value.http_status == 400
    assert e.value.json_body["error"]["type"] == "idempotency_error"
    assert "k-2" in e.value.user_message


def test_same_key_on_another_path_is_a_mismatch(client):
    c = client.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k-3"})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.update(c.id, params={"name": "A"}, options={"idempotency_key": "k-3"})


def test_failed_validation_is_not_stored_so_the_key_can_be_reused(client):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params={"email": "bad"}, options={"idempotency_key": "k-4"})
    c = client.v1.customers.create(
        params={"email": "ok@example.com"}, options={"idempotency_key": "k-4"}
    )
    assert c.email == "ok@example.com"


def test_keys_expire_after_24_hours_of_the_clock(client, standin):
    a = client.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k-5"})
    standin.advance_clock(hours=23)
    assert (
        client.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k-5"}).id
        == a.id
    )
    standin.advance_clock(hours=25)
    b = client.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k-5"})
    assert b.id != a.id


def test_concurrent_requests_with_one_key_create_once(standin):
    standin.configure(latency_write=0.15)
    api = Api(standin.base_url)
    results = []

    def post():
        results.append(
            api.post("/v1/customers", {"name": "Race"}, headers={"Idempotency-Key": "k-race"})
        )

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r[0] for r in results)
    assert len(standin.customers()) == 1
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    for status, headers, body in results:
        if status == 409:
            assert body["error"]["code"] == "idempotency_key_in_use"
            assert headers["stripe-should-retry"] == "true"
    # after the first finished, the key replays
    status, headers, body = api.post(
        "/v1/customers", {"name": "Race"}, headers={"Idempotency-Key": "k-race"}
    )
    assert status == 200 and headers["idempotent-replayed"] == "true"

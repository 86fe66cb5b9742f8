import threading

import pytest
import stripe

from stripe_standin import Fault

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


@pytest.mark.parametrize("applied", [False, True])
def test_a_500_saved_under_a_key_is_replayed_to_every_retry(api, standin, applied):
    kind = Fault.HTTP_500_SAVED_APPLIED if applied else Fault.HTTP_500_SAVED
    standin.inject_fault(kind, endpoints="customers.create")
    h = {"Idempotency-Key": "k-500"}
    s1, h1, b1 = api.post("/v1/customers", {"name": "Maybe"}, headers=h)
    s2, h2, b2 = api.post("/v1/customers", {"name": "Maybe"}, headers=h)
    assert s1 == s2 == 500 and b1 == b2 and b1["error"]["type"] == "api_error"
    assert "idempotent-replayed" not in h1 and h2["idempotent-replayed"] == "true"
    assert h2["original-request"] == h1["request-id"]
    customers = standin.customers()
    assert len(customers) == (1 if applied else 0)
    if applied:  # the write happened: its event names the request's key
        (event,) = standin.events(types=["customer.created"])
        assert event["request"]["idempotency_key"] == "k-500"
        assert event["data"]["object"]["id"] == customers[0]["id"]
    else:
        assert standin.events() == []
    # Another key is another request; the saved 500 expires with the key (24 h).
    assert (
        api.post("/v1/customers", {"name": "Maybe"}, headers={"Idempotency-Key": "k-2"})[0] == 200
    )
    standin.advance_clock(hours=25)
    s3, h3, _ = api.post("/v1/customers", {"name": "Maybe"}, headers=h)
    assert s3 == 200 and "idempotent-replayed" not in h3
    assert len(standin.customers()) == (3 if applied else 2)


def test_a_saved_500_without_a_key_applies_or_not_and_saves_nothing(api, standin):
    standin.inject_fault(Fault.HTTP_500_SAVED_APPLIED, endpoints="customers.create")
    standin.inject_fault(Fault.HTTP_500_SAVED, endpoints="customers.create")
    assert api.post("/v1/customers", {"name": "A"})[0] == 500
    assert api.post("/v1/customers", {"name": "B"})[0] == 500
    assert [c["name"] for c in standin.customers()] == ["A"]


def test_a_saved_500_fault_still_refuses_bad_parameters_without_saving(api, standin):
    standin.inject_fault(Fault.HTTP_500_SAVED, endpoints="customers.create")
    h = {"Idempotency-Key": "k-bad"}
    assert api.post("/v1/customers", {"nonsense": "x"}, headers=h)[0] == 400
    assert api.post("/v1/customers", {"email": "ok@example.com"}, headers=h)[0] == 200

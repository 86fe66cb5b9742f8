"""Test clocks: created, listed, retrieved, advanced, deleted with their customers; their
customers are left out of ``GET /v1/customers`` unless ``test_clock`` names the clock."""

from __future__ import annotations

from stripe_standin import STANDIN_API_KEY

CLOCKS = "/v1/test_helpers/test_clocks"
FROZEN = 1_577_836_800  # 2020-01-01


def make_clock(api, **params):
    status, _, body = api.post(CLOCKS, {"frozen_time": FROZEN, **params})
    assert status == 200, body
    return body


def test_a_clock_has_stripes_shape_and_is_listed_retrieved_and_advanced(api):
    clock = make_clock(api, name="renewals")
    assert clock["object"] == "test_helpers.test_clock"
    assert clock["id"].startswith("clock_")
    assert (clock["frozen_time"], clock["name"], clock["status"], clock["livemode"]) == (
        FROZEN,
        "renewals",
        "ready",
        False,
    )
    assert clock["deletes_after"] > clock["created"]
    second = make_clock(api)

    status, _, page = api.get(CLOCKS, {"limit": 1})
    assert status == 200 and page["url"] == CLOCKS
    assert [c["id"] for c in page["data"]] == [second["id"]] and page["has_more"] is True
    status, _, rest = api.get(CLOCKS, {"starting_after": second["id"]})
    assert [c["id"] for c in rest["data"]] == [clock["id"]] and rest["has_more"] is False

    status, _, got = api.get(f"{CLOCKS}/{clock['id']}")
    assert status == 200 and got == clock

    status, _, moved = api.post(f"{CLOCKS}/{clock['id']}/advance", {"frozen_time": FROZEN + 86_400})
    assert status == 200 and moved["status"] == "advancing" and moved["frozen_time"] == FROZEN + 86_400
    status, _, back = api.post(f"{CLOCKS}/{clock['id']}/advance", {"frozen_time": FROZEN})
    assert status == 400 and back["error"]["param"] == "frozen_time"
    status, _, missing = api.post(CLOCKS, {})
    assert status == 400 and missing["error"]["code"] == "parameter_missing"
    status, _, unknown = api.get(f"{CLOCKS}/clock_nope")
    assert status == 404 and unknown["error"]["code"] == "resource_missing"


def test_customers_on_a_clock_are_listed_only_with_test_clock(api):
    clock = make_clock(api)
    status, _, plain = api.post("/v1/customers", {"email": "plain@example.com"})
    assert status == 200 and plain["test_clock"] is None
    status, _, on_clock = api.post(
        "/v1/customers", {"email": "clocked@example.com", "test_clock": clock["id"]}
    )
    assert status == 200, on_clock
    assert on_clock["test_clock"] == clock["id"]
    assert on_clock["created"] == FROZEN  # created at the clock's frozen time

    _, _, listed = api.get("/v1/customers", {"limit": 100})
    assert [c["id"] for c in listed["data"]] == [plain["id"]]
    _, _, by_email = api.get("/v1/customers", {"email": "clocked@example.com"})
    assert by_email["data"] == []
    _, _, by_clock = api.get("/v1/customers", {"test_clock": clock["id"]})
    assert [c["id"] for c in by_clock["data"]] == [on_clock["id"]]
    _, _, both = api.get("/v1/customers", {"test_clock": clock["id"], "email": "clocked@example.com"})
    assert [c["id"] for c in both["data"]] == [on_clock["id"]]

    # Retrieve, update and events work as for any customer.
    status, _, got = api.get(f"/v1/customers/{on_clock['id']}")
    assert status == 200 and got["test_clock"] == clock["id"]
    status, _, updated = api.post(f"/v1/customers/{on_clock['id']}", {"email": "moved@example.com"})
    assert status == 200 and updated["test_clock"] == clock["id"]
    _, _, events = api.get("/v1/events", {"limit": 100})
    about = [e["type"] for e in events["data"] if e["data"]["object"]["id"] == on_clock["id"]]
    assert about == ["customer.updated", "customer.created"]


def test_an_unknown_clock_is_refused_on_create_and_list(api):
    status, _, body = api.post("/v1/customers", {"test_clock": "clock_missing"})
    assert status == 400 and body["error"]["code"] == "resource_missing"
    assert body["error"]["param"] == "test_clock"
    status, _, body = api.get("/v1/customers", {"test_clock": "clock_missing"})
    assert status == 400 and body["error"]["code"] == "resource_missing"


def test_deleting_a_clock_deletes_its_customers(api, standin):
    clock = make_clock(api)
    ids = [
        api.post("/v1/customers", {"email": f"c{i}@example.com", "test_clock": clock["id"]})[2]["id"]
        for i in range(3)
    ]
    status, _, body = api.delete(f"{CLOCKS}/{clock['id']}")
    assert status == 200 and body == {"id": clock["id"], "object": "test_helpers.test_clock", "deleted": True}
    for cid in ids:
        assert api.get(f"/v1/customers/{cid}")[2].get("deleted") is True
    deleted = {e["data"]["object"]["id"] for e in standin.events(types=["customer.deleted"])}
    assert deleted == set(ids)
    assert api.get(f"{CLOCKS}/{clock['id']}")[0] == 404
    assert api.get(CLOCKS)[2]["data"] == []


def test_test_helpers_answer_a_live_key_as_an_unknown_url(standin, api):
    standin.add_api_key("sk_live_standin")
    status, _, body = api.get(CLOCKS, key="sk_live_standin")
    assert status == 404 and "Unrecognized request URL" in body["error"]["message"]
    status, _, body = api.post(CLOCKS, {"frozen_time": FROZEN}, key="sk_live_standin")
    assert status == 404
    assert api.get(CLOCKS, key=STANDIN_API_KEY)[0] == 200


def test_a_restricted_key_needs_the_test_clock_permission(standin, api):
    standin.add_restricted_key("rk_test_customers_only", {"customers": "read"})
    status, _, body = api.get(CLOCKS, key="rk_test_customers_only")
    assert status == 403 and "rak_test_clock_read" in body["error"]["message"]
    standin.add_restricted_key("rk_test_clocks_read", {"test_clocks": "read"})
    assert api.get(CLOCKS, key="rk_test_clocks_read")[0] == 200


def test_the_in_process_helpers_create_list_and_delete_clocks(standin):
    clock = standin.create_test_clock(FROZEN, name="helper")
    customer = standin.create_customer(email="x@example.com", test_clock=clock["id"])
    assert customer["test_clock"] == clock["id"]
    assert [c["id"] for c in standin.test_clocks()] == [clock["id"]]
    assert customer["id"] in {c["id"] for c in standin.customers()}
    assert standin.stats()["test_clocks"] == 1
    standin.delete_test_clock(clock["id"])
    assert standin.test_clocks() == [] and standin.customers() == []

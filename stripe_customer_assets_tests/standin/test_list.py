import pytest
import stripe

DAY = 86400


def _walk(api, **params):
    """All customers via starting_after pagination; returns (ids, pages)."""
    ids, pages, after = [], 0, None
    while True:
        q = dict(params)
        if after:
            q["starting_after"] = after
        status, _, page = api.get("/v1/customers", q)
        assert status == 200, page
        pages += 1
        ids += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            return ids, pages
        after = page["data"][-1]["id"]


def _sort_key(c):
    return c["created"]


def test_list_is_newest_first_and_starting_after_pages_through_everything(standin, api):
    standin.seed_customers(35, seed=3)
    ids, pages = _walk(api, limit=10)
    assert pages == 4 and len(ids) == len(set(ids)) == 35
    expected = [c["id"] for c in standin.customers()]
    assert ids == expected
    created = [standin.customer(i)["created"] for i in ids]
    assert created == sorted(created, reverse=True)


def test_same_second_customers_keep_a_stable_newest_first_order(standin, client):
    standin.set_clock(1_700_000_000, frozen=True)
    made = [client.v1.customers.create(params={"name": str(i)}).id for i in range(5)]
    page = client.v1.customers.list(params={"limit": 3})
    assert [c.id for c in page.data] == made[::-1][:3]
    page2 = client.v1.customers.list(params={"limit": 3, "starting_after": page.data[-1].id})
    assert [c.id for c in page2.data] == made[::-1][3:] and page2.has_more is False


def test_ending_before_returns_the_page_just_newer_still_newest_first(standin, api):
    standin.seed_customers(30, seed=4)
    _, _, p1 = api.get("/v1/customers", {"limit": 10})
    _, _, p2 = api.get("/v1/customers", {"limit": 10, "starting_after": p1["data"][-1]["id"]})
    _, _, back = api.get("/v1/customers", {"limit": 10, "ending_before": p2["data"][0]["id"]})
    assert [c["id"] for c in back["data"]] == [c["id"] for c in p1["data"]]
    assert back["has_more"] is False
    _, _, part = api.get("/v1/customers", {"limit": 3, "ending_before": p2["data"][0]["id"]})
    assert [c["id"] for c in part["data"]] == [c["id"] for c in p1["data"][-3:]]
    assert part["has_more"] is True


def test_list_response_envelope(api, standin):
    standin.seed_customers(2, seed=1)
    status, _, page = api.get("/v1/customers")
    assert status == 200
    assert set(page) == {"object", "url", "has_more", "data"}
    assert page["object"] == "list" and page["url"] == "/v1/customers"


def test_default_limit_is_10(api, standin):
    standin.seed_customers(12, seed=1)
    _, _, page = api.get("/v1/customers")
    assert len(page["data"]) == 10 and page["has_more"] is True


@pytest.mark.parametrize("limit, ok", [(0, False), (1, True), (100, True), (101, False)])
def test_limit_must_be_between_1_and_100(api, limit, ok):
    status, _, body = api.get("/v1/customers", {"limit": limit})
    assert (status == 200) is ok
    if not ok:
        assert status == 400 and body["error"]["param"] == "limit"


def test_created_filters_select_by_unix_time(standin, client):
    t0 = 1_700_000_000
    ids = {}
    for k in range(5):
        standin.set_clock(t0 + k * DAY, frozen=True)
        ids[k] = client.v1.customers.create(params={"name": f"d{k}"}).id

    def listed(created):
        return [c.id for c in client.v1.customers.list(params={"created": created}).data]

    assert listed({"gte": t0 + DAY, "lt": t0 + 3 * DAY}) == [ids[2], ids[1]]
    assert listed({"gt": t0 + DAY, "lte": t0 + 3 * DAY}) == [ids[3], ids[2]]
    assert listed(t0 + 4 * DAY) == [ids[4]]
    assert listed({"lt": t0}) == []


def test_created_filter_combines_with_cursor(standin, api):
    standin.seed_customers(40, seed=5, span_days=10)
    everything = standin.customers()
    mid = everything[20]["created"]
    inside = [c["id"] for c in everything if c["created"] <= mid]
    ids, _ = _walk(api, limit=7, **{"created[lte]": mid})
    assert ids == inside


def test_email_filter_is_exact_and_case_sensitive(client):
    a = client.v1.customers.create(params={"email": "kim@example.com"}).id
    b = client.v1.customers.create(params={"email": "Kim@example.com"}).id
    c = client.v1.customers.create(params={"email": "kim@example.com"}).id
    page = client.v1.customers.list(params={"email": "kim@example.com"})
    assert [x.id for x in page.data] == [c, a]
    assert [x.id for x in client.v1.customers.list(params={"email": "Kim@example.com"}).data] == [b]
    assert client.v1.customers.list(params={"email": "kim@example"}).data == []


def test_email_filter_follows_email_changes(client):
    a = client.v1.customers.create(params={"email": "old@example.com"}).id
    client.v1.customers.update(a, params={"email": "new@example.com"})
    assert client.v1.customers.list(params={"email": "old@example.com"}).data == []
    assert [x.id for x in client.v1.customers.list(params={"email": "new@example.com"}).data] == [a]


def test_deleted_customers_are_omitted_from_list(client):
    keep = client.v1.customers.create(params={"email": "x@example.com"}).id
    gone = client.v1.customers.create(params={"email": "x@example.com"}).id
    client.v1.customers.delete(gone)
    assert [c.id for c in client.v1.customers.list().data] == [keep]
    assert [c.id for c in client.v1.customers.list(params={"email": "x@example.com"}).data] == [
        keep
    ]


def test_a_deleted_customer_still_works_as_a_cursor(client):
    a = client.v1.customers.create().id
    b = client.v1.customers.create().id
    client.v1.customers.delete(b)
    assert [c.id for c in client.v1.customers.list(params={"starting_after": b}).data] == [a]


def test_unknown_cursor_is_404_resource_missing_naming_the_param(client):
    for param in ("starting_after", "ending_before"):
        with pytest.raises(stripe.InvalidRequestError) as e:
            client.v1.customers.list(params={param: "cus_unknown000000"})
        assert e.value.http_status == 404
        assert e.value.code == "resource_missing" and e.value.param == param


def test_starting_after_and_ending_before_together_is_400(client):
    c = client.v1.customers.create().id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.list(params={"starting_after": c, "ending_before": c})


def test_raw_request_list_works_like_the_project_calls_it(standin, client):
    standin.seed_customers(150, seed=9)
    resp = client.raw_request("get", "/v1/customers", limit=100)
    page = client.deserialize(resp, api_mode="V1")
    assert len(page.data) == 100 and page.has_more is True
    resp2 = client.raw_request("get", "/v1/customers", limit=100, starting_after=page.data[-1].id)
    assert len(client.deserialize(resp2, api_mode="V1").data) == 50

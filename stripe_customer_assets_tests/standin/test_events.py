import re

import pytest
import stripe

CUSTOMER_TYPES = ["customer.created", "customer.updated", "customer.deleted"]


def test_writes_record_customer_events_with_the_object_as_of_the_event(client, standin):
    c = client.v1.customers.create(
        params={"name": "Zoë", "metadata": {"plan": "free"}},
        options={"idempotency_key": "create-zoe"},
    )
    client.v1.customers.update(c.id, params={"name": "Zoë Å", "metadata": {"plan": "pro"}})
    client.v1.customers.delete(c.id)
    evs = client.v1.events.list().data
    assert [e.type for e in evs] == ["customer.deleted", "customer.updated", "customer.created"]
    deleted, updated, created = (e.to_dict() for e in evs)
    assert created["data"]["object"]["name"] == "Zoë"
    assert created["request"]["idempotency_key"] == "create-zoe"
    assert re.fullmatch(r"req_[A-Za-z0-9]{14}", created["request"]["id"])
    assert updated["data"]["object"]["name"] == "Zoë Å"
    assert updated["data"]["object"]["metadata"] == {"plan": "pro"}
    # customer.deleted carries the customer as it was, not the deleted stub
    assert deleted["data"]["object"]["name"] == "Zoë Å"
    assert "deleted" not in deleted["data"]["object"]
    for e in (deleted, updated, created):
        assert re.fullmatch(r"evt_[A-Za-z0-9]{24}", e["id"])
        assert e["object"] == "event" and e["api_version"] == "2023-08-16"
        assert e["livemode"] is False and e["pending_webhooks"] == 0
        assert "previous_attributes" not in e["data"] or e is updated


def test_update_event_has_previous_attributes_of_changed_fields_only(client):
    c = client.v1.customers.create(
        params={
            "name": "A",
            "email": "a@example.com",
            "metadata": {"plan": "free", "x": "1"},
            "preferred_locales": ["en"],
        }
    )
    client.v1.customers.update(
        c.id,
        params={
            "name": "B",
            "email": "a@example.com",
            "metadata": {"plan": "pro", "y": "2"},
            "preferred_locales": ["en", "de"],
        },
    )
    ev = client.v1.events.list(params={"type": "customer.updated"}).data[0].to_dict()
    assert ev["data"]["previous_attributes"] == {
        "metadata": {"plan": "free", "y": None},
        "name": "A",
        "preferred_locales": ["en"],
    }


def test_update_that_changes_nothing_records_no_event(client, standin):
    c = client.v1.customers.create(params={"name": "Same"})
    client.v1.customers.update(c.id, params={"name": "Same"})
    assert [e["type"] for e in standin.events()] == ["customer.created"]


def test_types_filter_selects_event_types(client):
    c = client.v1.customers.create()
    client.v1.customers.update(c.id, params={"name": "x"})
    client.v1.customers.delete(c.id)
    got = client.v1.events.list(params={"types": ["customer.created", "customer.deleted"]}).data
    assert [e.type for e in got] == ["customer.deleted", "customer.created"]


def test_types_filter_accepts_bracket_and_indexed_forms(api, client):
    client.v1.customers.create()
    for query in ("types[]=customer.created", "types[0]=customer.created"):
        status, _, page = api.get("/v1/events", query)
        assert status == 200 and [e["type"] for e in page["data"]] == ["customer.created"]


def test_type_supports_star_wildcard(client):
    c = client.v1.customers.create()
    client.v1.customers.update(c.id, params={"name": "x"})
    assert len(client.v1.events.list(params={"type": "customer.*"}).data) == 2
    assert len(client.v1.events.list(params={"type": "*.updated"}).data) == 1
    assert client.v1.events.list(params={"type": "invoice.*"}).data == []


def test_type_and_types_together_is_400(client):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.list(params={"type": "customer.created", "types": ["customer.updated"]})


def test_ending_before_walk_reads_every_newer_event_once_in_order(standin, client):
    standin.set_clock(1_700_000_000, frozen=True)
    first = client.v1.customers.create()
    cursor = client.v1.events.list(params={"limit": 1}).data[0].id
    made = []
    for i in range(23):
        if i % 4 == 0:
            standin.advance_clock(seconds=1)
        made.append(client.v1.customers.update(first.id, params={"name": f"n{i}"}))
    seen, calls, has_more = [], 0, True
    while has_more:
        page = client.v1.events.list(
            params={"types": CUSTOMER_TYPES, "limit": 10, "ending_before": cursor}
        )
        calls += 1
        if not page.data:
            break
        seen += [e.data.object.name for e in reversed(page.data)]
        cursor = page.data[0].id
        has_more = page.has_more
    assert seen == [f"n{i}" for i in range(23)] and calls == 3
    # nothing new: one call, empty page
    page = client.v1.events.list(params={"types": CUSTOMER_TYPES, "ending_before": cursor})
    assert page.data == [] and page.has_more is False


def test_starting_after_pages_older_events(client):
    for _ in range(5):
        client.v1.customers.create()
    p1 = client.v1.events.list(params={"limit": 3})
    p2 = client.v1.events.list(params={"limit": 3, "starting_after": p1.data[-1].id})
    assert len(p1.data) == 3 and p1.has_more and len(p2.data) == 2 and not p2.has_more
    assert not {e.id for e in p1.data} & {e.id for e in p2.data}


def test_events_created_filter(standin, client):
    standin.set_clock(1_700_000_000, frozen=True)
    client.v1.customers.create()
    standin.advance_clock(hours=1)
    client.v1.customers.create()
    got = client.v1.events.list(params={"created": {"gte": 1_700_000_000 + 60}}).data
    assert len(got) == 1 and got[0].created == 1_700_003_600


def test_retrieve_event(client):
    client.v1.customers.create()
    ev = client.v1.events.list().data[0]
    assert client.v1.events.retrieve(ev.id).to_dict() == ev.to_dict()
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.events.retrieve("evt_1unknownunknownunknown00")
    assert e.value.http_status == 404 and e.value.code == "resource_missing"


def test_events_older_than_retention_are_gone(standin, client):
    old = client.v1.customers.create(params={"name": "old"})
    old_event = client.v1.events.list().data[0].id
    standin.advance_clock(days=31)
    client.v1.customers.create(params={"name": "new"})
    evs = client.v1.events.list().data
    assert [e.data.object.name for e in evs] == ["new"]
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.events.list(params={"ending_before": old_event})
    assert e.value.http_status == 404
    assert e.value.code == "resource_missing" and e.value.param == "ending_before"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve(old_event)
    # the customer itself is still there
    assert client.v1.customers.retrieve(old.id).name == "old"


def test_retention_window_is_configurable(standin, client):
    standin.configure(event_retention_days=1)
    client.v1.customers.create()
    standin.advance_clock(hours=25)
    assert client.v1.events.list().data == []


def test_unknown_event_cursor_is_404(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.events.list(params={"starting_after": "evt_nope"})
    assert e.value.http_status == 404 and e.value.param == "starting_after"


def test_seeded_customers_record_events_only_when_asked(standin):
    standin.seed_customers(20, seed=1)
    assert standin.events() == []
    standin.seed_customers(20, seed=2, record_events=True, span_days=60)
    evs = standin.events(include_expired=True)
    assert len(evs) == 20 and {e["type"] for e in evs} == {"customer.created"}
    visible = standin.events()
    assert 0 < len(visible) < 20
    assert all(e["created"] >= standin.now() - 30 * 86400 for e in visible)

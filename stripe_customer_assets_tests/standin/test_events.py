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


def _listed_ids(client, **params) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = client.v1.events.list(params={"limit": 10, **params, **({"starting_after": after} if after else {})})
        ids += [e.id for e in page.data]
        if not page.has_more:
            return ids
        after = page.data[-1].id


def test_visibility_delay_lists_an_event_only_seconds_after_its_created_time():
    from stripe_standin import StripeStandin

    start = 1_700_000_000
    with StripeStandin(seed=3, now=start, frozen_clock=True, event_visibility_delay=20) as s:
        client = s.stripe_client()
        for i in range(30):
            s.create_customer(name=f"c{i}")
            s.advance_clock(seconds=1)
        every = [e["id"] for e in s.events()]  # newest first
        assert len(every) == 30
        listed = _listed_ids(client)
        # Eventually consistent: some recent events are not listed yet while newer ones are.
        assert 0 < len(listed) < 30
        hidden = [i for i, eid in enumerate(every) if eid not in listed]
        assert any(i > j for i in hidden for j in range(len(every)) if every[j] in listed)
        assert listed == [eid for eid in every if eid in listed]  # still newest first
        # Never a lateness beyond the knob: everything older than 20 s is listed.
        created = {e["id"]: e["created"] for e in s.events()}
        assert all(eid in listed for eid in every if created[eid] < s.now() - 20)
        # Filters and cursors skip what is not listable yet.
        window = _listed_ids(client, created={"gte": start + 10})
        assert window == [eid for eid in listed if created[eid] >= start + 10]
        # A retrieve by id answers at once, and such an id works as a cursor.
        late = every[hidden[-1]]
        assert client.v1.events.retrieve(late).id == late
        older = client.v1.events.list(params={"starting_after": late, "limit": 100}).data
        assert all(created[e.id] <= created[late] for e in older)
        s.advance_clock(seconds=20)
        assert _listed_ids(client) == every


def test_order_shuffle_lists_same_second_events_in_a_random_stable_order():
    from stripe_standin import StripeStandin

    for shuffle in (False, True):
        with StripeStandin(seed=4, now=1_700_000_000, frozen_clock=True, event_order_shuffle=shuffle) as s:
            client = s.stripe_client()
            made = [s.create_customer(name=f"c{i}")["id"] for i in range(40)]
            s.advance_clock(seconds=1)
            last = s.create_customer(name="next second")["id"]
            page = client.v1.events.list(params={"limit": 100}).data
            order = [e.data.object.id for e in page]
            assert order[0] == last  # seconds still order the list
            if shuffle:
                assert order[1:] != made[::-1] and sorted(order[1:]) == sorted(made)
            else:
                assert order[1:] == made[::-1]
            # Stable: the same order again, and the same through pages of 10.
            assert [e.id for e in client.v1.events.list(params={"limit": 100}).data] == [e.id for e in page]
            assert _listed_ids(client) == [e.id for e in page]
            s.configure(event_order_shuffle=not shuffle, event_visibility_delay=5)
            assert s.config()["event_order_shuffle"] is not shuffle
            assert s.config()["event_visibility_delay"] == 5

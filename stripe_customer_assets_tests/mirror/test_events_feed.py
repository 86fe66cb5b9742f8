"""The incremental read against Stripe's events list as it really is: late, unordered, quiet.

The stand-in's clock is frozen and moved by hand, so "20 seconds late" costs no waiting.
"""

from __future__ import annotations

import random
import time

import pytest

from stripe_customer_assets.mirror.cursor import read_cursor
from stripe_customer_assets.mirror.feed import window_table
from stripe_customer_assets.mirror.sync import events_overlap_s, refresh_mirror
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.mirror.test_sync import assert_mirror_equals_stripe, mirror_rows

START = int(time.time()) // 60 * 60  # the stand-in's clock starts here, frozen


def _calls(api, run):
    before = api.stats.calls
    result = run()
    return result, api.stats.calls - before


def test_late_events_six_busy_rounds_then_a_quiet_minute_end_equal_to_stripe(standin, api, warehouse_url, mirror_schema):
    """Events listed up to 20 s late; each round's run starts right after its writes."""
    standin.set_clock(START, frozen=True)
    standin.configure(event_visibility_delay=20)
    standin.seed_customers(120, seed=3, now=START - 86400)
    warehouse = Warehouse(warehouse_url)
    assert refresh_mirror(api, warehouse, mirror_schema).mode == "full"
    rng = random.Random(10)
    for round_no in range(6):
        live = [c["id"] for c in standin.customers()]
        for i in range(25):
            cid = rng.choice(live)
            if i % 12 == 11:
                standin.delete_customer(cid)
                live.remove(cid)
            elif i % 8 == 7:
                live.append(standin.create_customer(email=f"r{round_no}-{i}@example.com", name=f"new {i}")["id"])
            else:
                standin.update_customer(cid, name=f"round {round_no} write {i}", metadata={"round": str(round_no)})
                if i % 5 == 0:  # a second write to the same customer in the same second
                    standin.update_customer(cid, description=f"again {round_no} {i}")
            if i % 3 == 2:
                standin.advance_clock(seconds=1)
        result = refresh_mirror(api, warehouse, mirror_schema)
        assert result.mode == "incremental"
    standin.advance_clock(seconds=60)  # a quiet minute: every late event is listed by now
    last = refresh_mirror(api, warehouse, mirror_schema)
    assert last.mode == "incremental"
    assert last.events > 0, "some events should have been listed late, after the sixth run"
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)
    rows = mirror_rows(warehouse, mirror_schema)
    assert all(r["deleted_at"] is not None for r in rows.values() if r["deleted"])


def _late_pair(standin):
    """Two customers: for one an older event is listed after a newer one; one whose only event is late."""
    events = {e["id"]: e for e in standin.events()}
    store = standin.store
    by_customer: dict[str, list] = {}
    for eid, e in events.items():
        by_customer.setdefault(e["data"]["object"]["id"], []).append(store.events_by_id[eid])
    return by_customer


def test_a_late_event_is_applied_once_and_never_overwrites_a_newer_state(standin, api, warehouse_url, mirror_schema):
    standin.set_clock(START, frozen=True)
    standin.seed_customers(40, seed=4, now=START - 86400)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    standin.configure(event_visibility_delay=30)
    ids = [c["id"] for c in standin.customers()]
    for cid in ids:
        standin.update_customer(cid, name="first")
    standin.advance_clock(seconds=2)
    for cid in ids:
        standin.update_customer(cid, name="second")
    by_customer = _late_pair(standin)
    # Run when, for some customers, "second" is listed and "first" is not yet.
    pick = START + 2 + 15
    older_late = [
        cid for cid, (newer, older) in ((c, sorted(evs, key=lambda e: -e.created)) for c, evs in by_customer.items())
        if newer.visible_at <= pick < older.visible_at
    ]
    only_late = [cid for cid, evs in by_customer.items() if all(e.visible_at > pick for e in evs)]
    assert older_late and only_late, "the seed should give both cases"
    standin.set_clock(pick, frozen=True)
    first = refresh_mirror(api, warehouse, mirror_schema)
    rows = mirror_rows(warehouse, mirror_schema)
    assert all(rows[cid]["name"] == "second" for cid in older_late)
    standin.advance_clock(seconds=60)
    again = refresh_mirror(api, warehouse, mirror_schema)
    rows = mirror_rows(warehouse, mirror_schema)
    assert all(rows[cid]["name"] == "second" for cid in older_late), "a late older event won"
    assert all(rows[cid]["name"] == "second" for cid in only_late), "a late event was never read"
    assert first.events + again.events == 80  # each event applied once
    assert again.reread > 0  # the overlap was read again, and skipped
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)
    quiet = refresh_mirror(api, warehouse, mirror_schema)
    assert (quiet.events, quiet.changed) == (0, 0)


def test_several_events_in_one_second_end_with_the_customers_true_state(standin, api, warehouse_url, mirror_schema):
    """Stripe lists same-second events in no set order: the last state is read back."""
    standin.set_clock(START, frozen=True)
    standin.configure(event_order_shuffle=True)
    standin.seed_customers(60, seed=5, now=START - 86400)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    ids = [c["id"] for c in standin.customers()]
    standin.advance_clock(seconds=5)
    busy = ids[:12]
    for cid in busy:
        for step in range(5):
            standin.update_customer(cid, name=f"step {step}", metadata={"step": str(step)})
    single = ids[12:20]
    for cid in single:
        standin.update_customer(cid, phone="+1 555 0199")
    gone = ids[20:23]
    for cid in gone:
        standin.update_customer(cid, name="about to go")
        standin.delete_customer(cid)
    born = standin.create_customer(email="born@example.com", name="Born")["id"]
    standin.update_customer(born, name="Born again")
    ephemeral = standin.create_customer(email="brief@example.com")["id"]
    standin.delete_customer(ephemeral)
    result, calls = _calls(api, lambda: refresh_mirror(api, warehouse, mirror_schema))
    assert result.mode == "incremental"
    rows = mirror_rows(warehouse, mirror_schema)
    assert [rows[cid]["name"] for cid in busy] == ["step 4"] * len(busy)
    for cid in [*gone, ephemeral]:
        assert rows[cid]["deleted"] and rows[cid]["deleted_at"] is not None
    assert rows[born]["name"] == "Born again" and not rows[born]["deleted"]
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)
    assert result.deleted == len(gone) + 1 and result.inserted == 1
    ambiguous = len(busy) + len(gone) + 2
    assert result.retrieved == ambiguous
    assert calls == 1 + ambiguous  # one page of events, one read-back per ambiguous customer


def test_a_quiet_account_keeps_running_incrementally_past_the_event_retention(standin, api, warehouse_url, mirror_schema):
    """Newest event 29.9 days old: the runs after the first cost one call each, forever."""
    standin.set_clock(START, frozen=True)
    standin.seed_customers(300, seed=6, record_events=True, span_days=5, now=START - int(29.9 * 86400))
    warehouse = Warehouse(warehouse_url)
    first = refresh_mirror(api, warehouse, mirror_schema)
    assert first.mode == "full"
    for _ in range(3):
        standin.advance_clock(minutes=5)
        result, calls = _calls(api, lambda: refresh_mirror(api, warehouse, mirror_schema))
        assert result.mode == "incremental" and calls <= 2
    for _ in range(4):  # a run every ten days: the cursor's time still moves
        standin.advance_clock(days=10)
        result, calls = _calls(api, lambda: refresh_mirror(api, warehouse, mirror_schema))
        assert result.mode == "incremental" and calls <= 2, result.reason
        with warehouse.begin() as conn:
            cursor = read_cursor(conn, mirror_schema)
        assert cursor.event_created.timestamp() >= standin.now() - events_overlap_s() - 2
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)


def test_window_of_applied_events_is_bounded_and_committed_with_the_rows(standin, api, warehouse_url, mirror_schema):
    standin.set_clock(START, frozen=True)
    standin.seed_customers(30, seed=7, now=START - 86400)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    for c in standin.customers()[:10]:
        standin.update_customer(c["id"], name="x")
    standin.advance_clock(seconds=3)

    def crash():
        raise RuntimeError("died before the commit")

    with pytest.raises(RuntimeError):
        refresh_mirror(api, warehouse, mirror_schema, before_commit=crash)
    with warehouse.begin() as conn:
        assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {window_table(mirror_schema)}").scalar() == 0
    applied = refresh_mirror(api, warehouse, mirror_schema)
    assert applied.events == 10 and applied.updated == 10
    with warehouse.begin() as conn:
        assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {window_table(mirror_schema)}").scalar() == 10
    standin.advance_clock(seconds=events_overlap_s() + 5)
    refresh_mirror(api, warehouse, mirror_schema)
    with warehouse.begin() as conn:  # older than the watermark: forgotten
        assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {window_table(mirror_schema)}").scalar() == 0


def test_overlap_setting_is_checked(monkeypatch):
    monkeypatch.setenv("STRIPE_EVENTS_OVERLAP_SECONDS", "soon")
    with pytest.raises(ValueError, match="STRIPE_EVENTS_OVERLAP_SECONDS='soon'"):
        events_overlap_s()
    monkeypatch.setenv("STRIPE_EVENTS_OVERLAP_SECONDS", "300")
    assert events_overlap_s() == 300


def test_full_scan_applies_same_second_events_by_the_true_state_and_the_next_run_repeats_none(
    standin, api, warehouse_url, mirror_schema
):
    """Events in the scan's last second are applied with it: read back when ambiguous, then remembered."""
    standin.set_clock(START, frozen=True)
    standin.configure(event_order_shuffle=True)
    standin.seed_customers(50, seed=8, now=START - 86400)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    standin.advance_clock(seconds=30)
    busy = [c["id"] for c in standin.customers()[:10]]
    for cid in busy:
        for step in range(5):
            standin.update_customer(cid, name=f"step {step}")
    scan = refresh_mirror(api, warehouse, mirror_schema, full_refresh=True)  # same second
    assert scan.mode == "full"
    rows = mirror_rows(warehouse, mirror_schema)
    assert [rows[cid]["name"] for cid in busy] == ["step 4"] * len(busy)
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)
    assert scan.retrieved == len(busy)
    standin.advance_clock(seconds=1)
    after, calls = _calls(api, lambda: refresh_mirror(api, warehouse, mirror_schema))
    assert (after.events, after.changed, after.retrieved, calls) == (0, 0, 0, 1)


def test_a_transaction_that_outgrows_duckdbs_cap_runs_again_under_a_larger_one(tmp_path):
    import duckdb
    import sqlalchemy as sa

    from stripe_customer_assets.warehouse.memory import DUCKDB_MEMORY_STEPS, bounded

    warehouse = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    caps: list[str] = []

    def work(conn):
        caps.append(conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar())
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        if len(caps) == 1:
            raise sa.exc.OperationalError("INSERT", {}, duckdb.OutOfMemoryException("out of memory"))
        return "done"

    assert bounded(warehouse, work) == "done"
    assert len(caps) == 2 and caps[0] != caps[1]  # 128 MB, then 1 GB (DuckDB prints MiB/GiB)
    assert DUCKDB_MEMORY_STEPS[:2] == ("128MB", "1GB")
    assert warehouse.scalar("SELECT COUNT(*) FROM t") == 1  # the first attempt was rolled back

    def broken(conn):
        raise sa.exc.OperationalError("SELECT", {}, duckdb.CatalogException("no such table"))

    with pytest.raises(sa.exc.OperationalError):  # other errors are not retried
        bounded(warehouse, broken)


@pytest.mark.parametrize("during", ["deleted", "updated"])
def test_a_change_during_a_full_scan_is_not_undone_by_a_replayed_event(
    standin, api, warehouse_url, mirror_schema, monkeypatch, during
):
    """A customer's update is among the events fetched as the scan starts; it is deleted (or
    updated again) after that fetch, before its page is listed. The scan sees the newer
    state; the replayed event must not put the older one back (the customer is read back)."""
    import threading

    from stripe_customer_assets.mirror import full_scan

    standin.set_clock(START, frozen=True)
    standin.seed_customers(30, seed=3, now=START - 86400)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    standin.advance_clock(seconds=10)
    victim = standin.customers()[0]["id"]
    standin.update_customer(victim, name="updated just before the scan")

    fetched = threading.Event()
    get = api.get

    def recording_get(path, **params):
        answer = get(path, **params)
        if path == "/v1/events":  # the full scan's events at its start
            fetched.set()
        return answer

    scan = full_scan.scan_customers

    def deleting_scan(*args, **kwargs):
        assert fetched.wait(10)
        if during == "deleted":
            standin.delete_customer(victim)
        else:
            standin.update_customer(victim, name="updated during the scan")
        return scan(*args, **kwargs)

    monkeypatch.setattr(api, "get", recording_get)
    monkeypatch.setattr(full_scan, "scan_customers", deleting_scan)
    result = refresh_mirror(api, warehouse, mirror_schema, full_refresh=True)
    row = mirror_rows(warehouse, mirror_schema)[victim]
    if during == "deleted":
        assert row["deleted"] and row["deleted_at"] is not None
        assert result.deleted == 1
    else:
        assert row["name"] == "updated during the scan" and not row["deleted"]
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)
    again = refresh_mirror(api, warehouse, mirror_schema)  # the late change: nothing to undo
    assert again.changed == 0

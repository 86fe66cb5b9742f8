"""The mirror equals Stripe: full scan, incremental events, expired cursors, crashes."""

from __future__ import annotations

import datetime as dt

import pytest

from stripe_customer_assets.mirror.cursor import read_cursor
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.table import customers_table
from stripe_customer_assets.warehouse import Warehouse


def mirror_rows(warehouse: Warehouse, schema: str) -> dict[str, dict]:
    with warehouse.begin() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {customers_table(schema)}").mappings().all()
    return {row["id"]: dict(row) for row in rows}


def _json(value):
    if isinstance(value, str):
        import json

        return json.loads(value)
    return value


def _ts(value):
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


def assert_mirror_equals_stripe(warehouse: Warehouse, schema: str, standin) -> None:
    rows = mirror_rows(warehouse, schema)
    live = {c["id"]: c for c in standin.customers()}
    every = {c["id"]: c for c in standin.all_customers()}
    live_rows = {k: r for k, r in rows.items() if not r["deleted"]}
    assert set(live_rows) == set(live), "live customers differ"
    for cid, customer in live.items():
        row = live_rows[cid]
        assert _json(row["raw"]) == customer, cid
        for field in ["email", "name", "phone", "description", "currency"]:
            assert row[field] == customer.get(field), (cid, field)
        assert row["balance"] == customer["balance"], cid
        assert bool(row["delinquent"]) == bool(customer["delinquent"]), cid
        assert _json(row["metadata"]) == customer["metadata"], cid
        assert _json(row["address"]) == customer["address"], cid
        assert _json(row["shipping"]) == customer["shipping"], cid
        assert row["created"].astimezone(dt.UTC) == _ts(customer["created"]), cid
    for cid, row in rows.items():
        if row["deleted"]:
            assert every[cid].get("deleted") is True, f"{cid} flagged deleted but live in Stripe"


def test_full_scan_of_2000_varied_customers_equals_stripe_field_by_field(standin, api, warehouse_url, mirror_schema):
    standin.seed_customers(2000, seed=5)
    names = [c["name"] for c in standin.customers()]
    assert any(n and not n.isascii() for n in names), "seed should include unicode names"
    warehouse = Warehouse(warehouse_url)
    result = refresh_mirror(api, warehouse, mirror_schema)
    assert result.mode == "full"
    assert result.inserted == 2000 and result.row_count == 2000
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)
    # Deletes after the first load are kept as flagged rows.
    victims = [c["id"] for c in standin.customers()[:25]]
    for cid in victims:
        standin.delete_customer(cid)
    result = refresh_mirror(api, warehouse, mirror_schema)
    assert result.mode == "incremental" and result.deleted == 25
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)
    rows = mirror_rows(warehouse, mirror_schema)
    assert all(rows[cid]["deleted"] and rows[cid]["deleted_at"] is not None for cid in victims)


def test_incremental_run_applies_updates_creates_deletes_in_one_call(standin, api, warehouse_url, mirror_schema):
    standin.seed_customers(600, seed=9)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    customers = standin.customers()
    for c in customers[:50]:
        standin.update_customer(c["id"], name=f"Renamed {c['id']}", metadata={"plan": "pro", "tier": ""})
    for i in range(20):
        standin.create_customer(email=f"new{i}@example.com", name=f"Neu Kundé {i}", metadata={"src": "test"})
    for c in customers[100:110]:
        standin.delete_customer(c["id"])

    calls_before = api.stats.calls
    result = refresh_mirror(api, warehouse, mirror_schema)
    calls = api.stats.calls - calls_before
    assert result.mode == "incremental"
    assert (result.inserted, result.updated, result.deleted) == (20, 50, 10)
    assert result.events == 80
    assert calls <= 1 + 2  # ceil(80 / 100) + 2
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)

    calls_before = api.stats.calls
    quiet = refresh_mirror(api, warehouse, mirror_schema)
    assert api.stats.calls - calls_before <= 2
    assert quiet.changed == 0


def test_incremental_run_pages_through_many_events(standin, api, warehouse_url, mirror_schema):
    standin.seed_customers(300, seed=2)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    for c in standin.customers()[:250]:
        standin.update_customer(c["id"], description="bulk edit")
    calls_before = api.stats.calls
    result = refresh_mirror(api, warehouse, mirror_schema)
    assert result.updated == 250
    assert api.stats.calls - calls_before <= 3 + 2  # ceil(250 / 100) + 2
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)


def test_cursor_past_event_retention_triggers_full_scan_that_finds_silent_deletes(standin, api, warehouse_url, mirror_schema):
    standin.seed_customers(400, seed=4)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    gone = [c["id"] for c in standin.customers()[:15]]
    for cid in gone:
        standin.delete_customer(cid)
    standin.advance_clock(days=31)  # the delete events (and the cursor's event) expire
    assert not standin.events(types=["customer.deleted"])
    result = refresh_mirror(api, warehouse, mirror_schema)
    assert result.mode == "full"
    assert "retention" in result.reason
    assert result.deleted == 15
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)


def test_failure_between_fetch_and_commit_leaves_table_and_cursor_unchanged(standin, api, warehouse_url, mirror_schema):
    standin.seed_customers(200, seed=6)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    with warehouse.begin() as conn:
        cursor_before = read_cursor(conn, mirror_schema)
    rows_before = mirror_rows(warehouse, mirror_schema)
    for c in standin.customers()[:30]:
        standin.update_customer(c["id"], phone="+1 555 0100")

    def crash():
        raise RuntimeError("worker died")

    for full in (False, True):
        with pytest.raises(RuntimeError, match="worker died"):
            refresh_mirror(api, warehouse, mirror_schema, full_refresh=full, before_commit=crash)
        with warehouse.begin() as conn:
            assert read_cursor(conn, mirror_schema) == cursor_before
        assert mirror_rows(warehouse, mirror_schema) == rows_before

    result = refresh_mirror(api, warehouse, mirror_schema)
    assert result.updated == 30
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)


def test_full_refresh_rescans_and_reports_nothing_changed(standin, api, warehouse_url, mirror_schema):
    standin.seed_customers(350, seed=8)
    warehouse = Warehouse(warehouse_url)
    first = refresh_mirror(api, warehouse, mirror_schema)
    again = refresh_mirror(api, warehouse, mirror_schema, full_refresh=True)
    assert again.mode == "full" and again.reason == "full_refresh requested"
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert again.mirror_version == first.mirror_version + 1
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)

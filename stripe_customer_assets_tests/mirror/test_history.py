"""The customer change history: versions from events (with ``previous_attributes``) and from
full-scan differences, in order, with their validity."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from stripe_customer_assets.mirror.history import history_table
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.sync import refresh_mirror as _refresh_mirror
from stripe_customer_assets.warehouse import Warehouse

START = int(time.time()) // 60 * 60


def change_without_event(standin, cid: str, **fields) -> None:
    """Stripe changed the customer and no event says so: only a full scan finds it."""
    store = standin.store
    with store.lock:
        rec = store.customers[cid]
        rec.raw = json.dumps({**json.loads(rec.raw), **fields}, separators=(",", ":")).encode()


def versions(warehouse: Warehouse, schema: str, cid: str) -> list[dict]:
    with warehouse.begin() as conn:
        rows = conn.exec_driver_sql(
            "SELECT mirror_version, valid_from, valid_to, event_id, changed_fields, name, metadata, deleted"
            f" FROM {history_table(schema)} WHERE id = %(id)s ORDER BY mirror_version"
            if warehouse.is_postgres
            else "SELECT mirror_version, valid_from, valid_to, event_id, changed_fields, name, metadata, deleted"
            f" FROM {history_table(schema)} WHERE id = ? ORDER BY mirror_version",
            {"id": cid} if warehouse.is_postgres else (cid,),
        ).mappings().all()
    return [dict(r) for r in rows]


def scenario(standin, api, warehouse: Warehouse, schema: str, after_refresh=None) -> str:
    """Created and changed twice via events (one refresh each), then changed silently and
    found by a full refresh: four versions. Returns the customer id. ``after_refresh`` runs
    after each refresh (a pipeline run)."""

    def refresh_mirror(*args, **kwargs):
        result = _refresh_mirror(*args, **kwargs)
        if after_refresh is not None:
            after_refresh()
        return result

    standin.set_clock(START, frozen=True)
    standin.seed_customers(5, seed=2, now=START - 86400)
    assert refresh_mirror(api, warehouse, schema).mode == "full"
    standin.advance_clock(seconds=10)
    cid = standin.create_customer(email="ada@example.com", name="Ada", metadata={"plan": "free"})["id"]
    standin.advance_clock(seconds=10)
    assert refresh_mirror(api, warehouse, schema, overlap_s=5).mode == "incremental"
    standin.update_customer(cid, metadata={"plan": "pro"})
    standin.advance_clock(seconds=10)
    assert refresh_mirror(api, warehouse, schema, overlap_s=5).mode == "incremental"
    standin.update_customer(cid, name="Ada L.", email="ada@lovelace.example")
    standin.advance_clock(seconds=10)
    assert refresh_mirror(api, warehouse, schema, overlap_s=5).mode == "incremental"
    # A late re-read of the same events changes nothing.
    standin.advance_clock(seconds=1)
    refresh_mirror(api, warehouse, schema, overlap_s=5)
    change_without_event(standin, cid, description="VIP", metadata={"plan": "enterprise"})
    standin.advance_clock(seconds=10)
    assert refresh_mirror(api, warehouse, schema, full_refresh=True).mode == "full"
    return cid


def test_three_event_changes_and_a_full_scan_change_make_four_versions(standin, api, warehouse_url, mirror_schema):
    warehouse = Warehouse(warehouse_url)
    cid = scenario(standin, api, warehouse, mirror_schema)
    rows = versions(warehouse, mirror_schema, cid)
    events = {e["type"]: e["id"] for e in standin.events() if e["data"]["object"]["id"] == cid and e["type"] != "customer.updated"}
    updates = [e["id"] for e in sorted(standin.events(), key=lambda e: e["created"])
               if e["data"]["object"]["id"] == cid and e["type"] == "customer.updated"]
    assert [r["event_id"] for r in rows] == [events["customer.created"], *updates, "full_scan"]
    assert [r["changed_fields"] for r in rows] == [None, "metadata", "email,name", "description,metadata"]
    assert [r["name"] for r in rows] == ["Ada", "Ada", "Ada L.", "Ada L."]
    assert [_plan(r["metadata"]) for r in rows] == ["free", "pro", "pro", "enterprise"]
    assert not any(r["deleted"] for r in rows)
    # Validity: each version ends where the next begins; only the last is open.
    assert [r["valid_to"] for r in rows[:-1]] == [r["valid_from"] for r in rows[1:]]
    assert rows[-1]["valid_to"] is None
    assert all(a["valid_from"] < b["valid_from"] for a, b in itertools.pairwise(rows))
    # An event's version is valid from the event's time.
    assert int(rows[0]["valid_from"].timestamp()) == START + 10
    # The other customers have their first load as their one (current) version.
    with warehouse.begin() as conn:
        others = conn.exec_driver_sql(
            f"SELECT COUNT(*), COUNT(DISTINCT id), SUM(CASE WHEN valid_to IS NULL THEN 1 ELSE 0 END)"
            f" FROM {history_table(mirror_schema)} WHERE id <> '{cid}'"
        ).one()
    assert tuple(others) == (5, 5, 5)


def test_a_deletion_is_a_version_and_retention_prunes_replaced_versions(standin, api, warehouse_url, mirror_schema, monkeypatch):
    warehouse = Warehouse(warehouse_url)
    standin.set_clock(START, frozen=True)
    standin.seed_customers(3, seed=2, now=START - 86400)
    refresh_mirror(api, warehouse, mirror_schema)
    cid = standin.customers()[0]["id"]
    standin.advance_clock(seconds=5)
    standin.delete_customer(cid)
    standin.advance_clock(seconds=10)
    refresh_mirror(api, warehouse, mirror_schema, overlap_s=5)
    rows = versions(warehouse, mirror_schema, cid)
    assert [(r["event_id"], r["changed_fields"], r["deleted"]) for r in rows][1:] == [
        (rows[1]["event_id"], "deleted", True)
    ]
    assert rows[1]["event_id"].startswith("evt_")
    # Kept forever with 0; with a retention, replaced versions older than it go.
    monkeypatch.setenv("STRIPE_HISTORY_DAYS", "0")
    standin.update_customer(standin.customers()[1]["id"], name="kept")
    standin.advance_clock(seconds=10)
    refresh_mirror(api, warehouse, mirror_schema, overlap_s=5)
    assert len(versions(warehouse, mirror_schema, cid)) == 2
    with warehouse.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE {history_table(mirror_schema)} SET valid_to = valid_to - INTERVAL '40 days' WHERE valid_to IS NOT NULL"
        )
    monkeypatch.setenv("STRIPE_HISTORY_DAYS", "30")
    standin.update_customer(standin.customers()[1]["id"], name="pruned")
    standin.advance_clock(seconds=10)
    refresh_mirror(api, warehouse, mirror_schema, overlap_s=5)
    assert [r["deleted"] for r in versions(warehouse, mirror_schema, cid)] == [True]


def _plan(metadata) -> str | None:
    value = metadata if isinstance(metadata, dict) else json.loads(metadata)
    return value.get("plan")


def test_a_run_that_fails_before_its_commit_leaves_no_version_and_the_rerun_writes_each_once(
    standin, api, warehouse_url, mirror_schema
):
    warehouse = Warehouse(warehouse_url)
    standin.set_clock(START, frozen=True)
    standin.seed_customers(3, seed=2, now=START - 86400)
    refresh_mirror(api, warehouse, mirror_schema)
    cid = standin.customers()[0]["id"]
    standin.update_customer(cid, name="after the crash")
    standin.advance_clock(seconds=10)

    def crash() -> None:
        raise RuntimeError("killed before the commit")

    with pytest.raises(RuntimeError):
        refresh_mirror(api, warehouse, mirror_schema, overlap_s=5, before_commit=crash)
    assert len(versions(warehouse, mirror_schema, cid)) == 1
    refresh_mirror(api, warehouse, mirror_schema, overlap_s=5)
    refresh_mirror(api, warehouse, mirror_schema, overlap_s=5)  # the same events read again
    rows = versions(warehouse, mirror_schema, cid)
    assert [(r["name"], r["changed_fields"], r["valid_to"] is None) for r in rows] == [
        (rows[0]["name"], None, False),
        ("after the crash", "name", True),
    ]


def test_a_late_older_event_makes_no_version(standin, api, warehouse_url, mirror_schema):
    warehouse = Warehouse(warehouse_url)
    standin.set_clock(START, frozen=True)
    standin.seed_customers(3, seed=2, now=START - 86400)
    refresh_mirror(api, warehouse, mirror_schema)
    cid = standin.customers()[0]["id"]
    standin.configure(event_visibility_delay=0.001)  # the stand-in honours visible_at
    standin.update_customer(cid, name="first")
    standin.advance_clock(seconds=2)
    standin.update_customer(cid, name="second")
    first, second = sorted(
        (standin.store.events_by_id[e["id"]] for e in standin.events() if e["data"]["object"]["id"] == cid),
        key=lambda e: e.created,
    )
    first.visible_at = START + 60  # Stripe lists the older event late
    standin.advance_clock(seconds=10)
    refresh_mirror(api, warehouse, mirror_schema)
    standin.advance_clock(seconds=90)
    assert refresh_mirror(api, warehouse, mirror_schema).events == 1  # the late one, read now
    rows = versions(warehouse, mirror_schema, cid)
    assert [(r["event_id"], r["name"], r["valid_to"] is None) for r in rows[1:]] == [(second.id, "second", True)]
    assert len(rows) == 2

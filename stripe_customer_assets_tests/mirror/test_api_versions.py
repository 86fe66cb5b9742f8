"""Events rendered in an older API version: raw kept as it came, typed columns right, and a
full scan in the pinned version does not count (or re-process) a customer whose JSON
differs only by its version's shape."""

from __future__ import annotations

import json

from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.versions import normalize, same_shape
from stripe_customer_assets.pipeline import run_pipeline
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.mirror.test_sync import mirror_rows
from stripe_customer_assets_tests.pipeline.support import pipeline, table_rows

OLD = "2019-05-16"


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def test_old_version_events_are_kept_faithfully_and_a_full_scan_sees_no_change(
    standin, api, warehouse_url, mirror_schema
):
    standin.seed_customers(120, seed=4)
    warehouse = Warehouse(warehouse_url)
    first = refresh_mirror(api, warehouse, mirror_schema)
    rows = mirror_rows(warehouse, mirror_schema)
    assert {r["api_version"] for r in rows.values()} == {"2023-08-16"}
    assert all(r["raw_normalized"] is None for r in rows.values())

    standin.configure(api_version=OLD)  # the account's default, as events are rendered
    changed = [c["id"] for c in standin.customers()[:10]]
    for n, cid in enumerate(changed):
        standin.update_customer(cid, balance=100 + n, name=f"Old-version {n}")
    created = standin.create_customer(email="old@example.com", balance=-5)

    incremental = refresh_mirror(api, warehouse, mirror_schema)
    assert (incremental.inserted, incremental.updated) == (1, 10)
    rows = mirror_rows(warehouse, mirror_schema)
    for n, cid in enumerate(changed):
        row = rows[cid]
        raw = _json(row["raw"])
        assert row["api_version"] == OLD
        assert raw["account_balance"] == 100 + n and "balance" not in raw  # faithful
        assert row["balance"] == 100 + n  # typed column right whatever the version
        assert _json(row["raw_normalized"]) == standin.customer(cid)  # the pinned shape
    assert rows[created["id"]]["balance"] == -5
    version_after_events = incremental.mirror_version

    rescan = refresh_mirror(api, warehouse, mirror_schema, full_refresh=True)
    assert (rescan.inserted, rescan.updated, rescan.deleted) == (0, 0, 0)
    rows = mirror_rows(warehouse, mirror_schema)
    # Not re-processed: pipelines read rows whose mirror_version moved.
    assert max(r["mirror_version"] for r in rows.values()) == version_after_events
    assert rows[changed[0]]["api_version"] == OLD  # the row is left as it was
    assert first.row_count + 1 == rescan.row_count

    # A real change still is one, whatever version its event came in.
    standin.update_customer(changed[0], name="Changed again")
    again = refresh_mirror(api, warehouse, mirror_schema)
    assert again.updated == 1
    assert mirror_rows(warehouse, mirror_schema)[changed[0]]["name"] == "Changed again"


def test_an_old_event_then_a_pinned_list_of_the_same_customer_is_no_update(
    standin, api, warehouse_url, mirror_schema
):
    standin.configure(api_version=OLD)
    made = [standin.create_customer(email=f"c{i}@example.com", balance=i) for i in range(5)]
    warehouse = Warehouse(warehouse_url)
    standin.advance_clock(minutes=5)
    refresh_mirror(api, warehouse, mirror_schema)  # first load: listed in 2023-08-16
    for c in made:
        standin.update_customer(c["id"], description="touched")  # events in 2019-05-16
    refresh_mirror(api, warehouse, mirror_schema)
    rows = mirror_rows(warehouse, mirror_schema)
    assert {rows[c["id"]]["api_version"] for c in made} == {OLD}
    rescan = refresh_mirror(api, warehouse, mirror_schema, full_refresh=True)
    assert rescan.updated == 0


def test_normalize_is_table_driven_both_ways():
    old = {"id": "cus_1", "object": "customer", "account_balance": 3, "tax_info": None,
           "tax_info_verification": None, "sources": {"object": "list", "data": []}, "email": "a@b.c"}
    pinned = normalize(old, OLD, "2023-08-16")
    assert pinned == {"id": "cus_1", "object": "customer", "balance": 3, "email": "a@b.c"}
    assert list(pinned) == ["id", "object", "balance", "email"]
    assert normalize(pinned, "2023-08-16", "2024-09-30.acacia") is None
    assert same_shape("2020-08-27", "2023-08-16") and not same_shape("2019-10-16", "2019-10-17")
    back = normalize(pinned, "2023-08-16", "2019-11-05")
    assert back == {"id": "cus_1", "object": "customer", "balance": 3, "email": "a@b.c",
                    "tax_info": None, "tax_info_verification": None}
    assert normalize(pinned, "2023-08-16", "2019-01-01")["account_balance"] == 3


def test_pipelines_read_the_pinned_shape_of_an_old_event(
    standin, api, warehouse_url, mirror_schema, unique_schema
):
    warehouse = Warehouse(warehouse_url)
    standin.seed_customers(3, seed=2)
    refresh_mirror(api, warehouse, mirror_schema)
    standin.configure(api_version=OLD)
    cid = standin.customers()[0]["id"]
    standin.update_customer(cid, balance=42, email="balance@example.com")
    refresh_mirror(api, warehouse, mirror_schema)

    table = f"{unique_schema('analytics')}.customers"
    p = pipeline(table, schema={"email": "string", "balance": "integer"})
    run_pipeline(p, warehouse, mirror_schema, run_id="versions")
    assert table_rows(warehouse, table)[cid]["balance"] == 42



def test_a_mirror_made_before_versions_were_recorded_gets_the_columns(
    standin, api, warehouse_url, mirror_schema
):
    standin.seed_customers(20, seed=6)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    with warehouse.begin() as conn:
        for column in ("raw_normalized", "api_version"):
            conn.exec_driver_sql(f'ALTER TABLE "{mirror_schema}"."customers" DROP COLUMN {column}')
    standin.configure(api_version=OLD)
    cid = standin.customers()[0]["id"]
    standin.update_customer(cid, balance=9)

    result = refresh_mirror(api, warehouse, mirror_schema)
    assert result.updated == 1
    row = mirror_rows(warehouse, mirror_schema)[cid]
    assert (row["api_version"], row["balance"]) == (OLD, 9)
    assert refresh_mirror(api, warehouse, mirror_schema, full_refresh=True).updated == 0

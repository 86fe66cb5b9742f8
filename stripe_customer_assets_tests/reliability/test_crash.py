"""A real SIGKILL of the process doing the work, at each dangerous point, then a re-run in a
fresh process: the end state is exact, no create is repeated, the cursor is never ahead.

The stand-in runs in the test process; the work runs in a child process (see ``workers``)
that the test kills with SIGKILL, so nothing in the child gets to clean up: no exception
handler, no rollback, no ``finally``. The warehouse sees a dead connection (PostgreSQL) or a
dead process that held the file lock (DuckDB).
"""

from __future__ import annotations

import random
import time

import pytest
import sqlalchemy as sa

from stripe_customer_assets.export import make_plan, parse_config, read_state, sent_keys, store_plan
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.export.support import (
    FIELDS,
    account,
    seed_customer,
    write_accounts,
)
from stripe_customer_assets_tests.reliability import workers
from stripe_customer_assets_tests.reliability.children import Child, wait_until
from stripe_customer_assets_tests.reliability.support import (
    change_customers,
    cursor_not_ahead,
    dump_tables,
    duplicate_customers,
    faulty_api,
    mirror_differences,
    model_differences,
    read_mirror_cursor,
)
from stripe_standin import StripeStandin

pytestmark = pytest.mark.slow


def mirror_state(wh: Warehouse, schema: str) -> dict[str, list[tuple]]:
    """The mirror's rows and cursor (the working tables of the scan and the events left out)."""
    tables = dump_tables(wh, [schema])
    tables.pop(f"{schema}.customers_scan", None)
    tables.pop(f"{schema}.customers_events_stage", None)
    return tables


def scan_rows(wh: Warehouse, schema: str) -> int:
    """Rows in the full scan's working table (0 while it does not exist)."""
    with wh.begin() as conn:
        if not sa.inspect(conn).has_table("customers_scan", schema=schema):
            return 0
        return int(conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{schema}".customers_scan').scalar())


def list_pages(standin: StripeStandin) -> int:
    return standin.stats()["requests_by_endpoint"].get("customers.list", 0)


def test_kill_mid_scan_then_rerun_converges(standin, ctx, wh, warehouse_url, mirror_schema):
    standin.seed_customers(4000, seed=31)
    refresh_mirror(faulty_api(standin), wh, mirror_schema, concurrency=4)
    change_customers(standin, random.Random(31), 300)
    before = mirror_state(wh, mirror_schema)
    live = len(standin.customers())
    standin.configure(latency_read=0.3)  # ~6 pages a second at concurrency 2: ~7 s in all
    standin.reset_stats()

    child = Child(
        ctx,
        workers.mirror,
        standin.base_url,
        warehouse_url,
        mirror_schema,
        full_refresh=True,
        concurrency=2,
    )
    # The scan commits pages to its working table every 2 s: kill after the first commit.
    wait_until(lambda: scan_rows(wh, mirror_schema) > 0, "the scan's first batch")
    child.kill()
    standin.configure(latency_read=0)

    killed_at = list_pages(standin)
    assert 0 < scan_rows(wh, mirror_schema) < live
    assert mirror_state(wh, mirror_schema) == before, "rows and cursor as they were"
    assert cursor_not_ahead(wh, mirror_schema, standin) == []
    standin.reset_stats()

    rerun = Child(
        ctx, workers.mirror, standin.base_url, warehouse_url, mirror_schema, full_refresh=True
    ).result()

    assert rerun["mode"] == "full"
    assert killed_at < list_pages(standin), "the killed scan had not listed every page"
    assert mirror_differences(wh, mirror_schema, standin) == []
    assert cursor_not_ahead(wh, mirror_schema, standin) == []
    assert f"{mirror_schema}.customers_scan" not in dump_tables(wh, [mirror_schema])


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_kill_after_fetch_before_commit_then_rerun_converges(
    standin, ctx, wh, warehouse_url, mirror_schema, mode
):
    standin.seed_customers(1500, seed=32)
    refresh_mirror(faulty_api(standin), wh, mirror_schema, concurrency=4)
    change_customers(standin, random.Random(32), 250)
    before = mirror_state(wh, mirror_schema)
    cursor_before = read_mirror_cursor(wh, mirror_schema)
    full = mode == "full"

    child = Child(
        ctx,
        workers.mirror,
        standin.base_url,
        warehouse_url,
        mirror_schema,
        full_refresh=full,
        hold=True,
    )
    child.wait_for_hold()  # everything fetched; the commit is next
    child.kill()

    assert mirror_state(wh, mirror_schema) == before
    assert read_mirror_cursor(wh, mirror_schema) == cursor_before
    assert cursor_not_ahead(wh, mirror_schema, standin) == []

    rerun = Child(
        ctx, workers.mirror, standin.base_url, warehouse_url, mirror_schema, full_refresh=full
    ).result()

    assert rerun["mode"] == mode
    assert mirror_differences(wh, mirror_schema, standin) == []
    assert cursor_not_ahead(wh, mirror_schema, standin) == []
    assert read_mirror_cursor(wh, mirror_schema).mirror_version == cursor_before.mirror_version + 1


def test_kill_inside_the_commit_transaction_rolls_back_then_rerun_converges(
    standin, ctx, wh, warehouse_url, mirror_schema
):
    standin.seed_customers(1500, seed=33)
    refresh_mirror(faulty_api(standin), wh, mirror_schema, concurrency=4)
    change_customers(standin, random.Random(33), 250)
    before = mirror_state(wh, mirror_schema)

    child = Child(
        ctx,
        workers.mirror,
        standin.base_url,
        warehouse_url,
        mirror_schema,
        full_refresh=True,
        hold_in_commit=True,
        hold=True,
    )
    child.wait_for_hold()  # rows merged, deletes marked, cursor written; no COMMIT yet
    child.kill()

    assert mirror_state(wh, mirror_schema) == before, "the open transaction was rolled back"
    assert cursor_not_ahead(wh, mirror_schema, standin) == []

    Child(ctx, workers.mirror, standin.base_url, warehouse_url, mirror_schema).result()

    assert mirror_differences(wh, mirror_schema, standin) == []
    assert cursor_not_ahead(wh, mirror_schema, standin) == []


def test_kill_mid_export_between_writes_and_their_recording_repeats_no_create(
    standin, ctx, wh, warehouse_url, mirror_schema, unique_schema
):
    accounts = f'"{unique_schema("crm")}"."accounts"'
    rows = [account(i) for i in range(1, 101)]
    write_accounts(wh, accounts, rows)
    for i in range(1, 41):
        seed_customer(standin, i)  # 40 updates, 60 creates
    state_schema = unique_schema("exports")
    attributes = {
        "name": "crash_export",
        "model": f"SELECT * FROM {accounts}",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": dict(FIELDS),
        "partial_address": "keep_stripe",
        "state_schema": state_schema,
    }
    config = parse_config(attributes)
    api = faulty_api(standin)
    refresh_mirror(api, wh, mirror_schema, concurrency=4)
    store_plan(wh, config, make_plan(wh, config, mirror_schema, sent_keys=sent_keys(wh, config)))
    standin.configure(latency_write=0.02)
    standin.reset_stats()

    child = Child(
        ctx,
        workers.export,
        standin.base_url,
        warehouse_url,
        mirror_schema,
        attributes,
        batch_size=10,
        hold_at_flush=3,
        hold=True,
    )
    child.wait_for_hold()  # 20 results recorded; the third batch of 10 is not
    time.sleep(0.5)  # the writes in flight reach Stripe too
    child.kill()
    standin.configure(latency_write=0)

    applied = standin.stats()["writes_applied"]
    recorded = len(read_state(wh, config))
    assert recorded == 20 and applied >= 30, (recorded, applied)

    rerun = Child(
        ctx, workers.export, standin.base_url, warehouse_url, mirror_schema, attributes
    ).result()

    stats = standin.stats()
    assert rerun["already_sent"] == 20 and rerun["failed"] == 0
    assert rerun["created"] + rerun["updated"] == 80
    assert stats["writes_by_endpoint"] == {"customers.create": 60, "customers.update": 40}, (
        "every write applied once: those sent before the kill were replayed, not repeated"
    )
    assert stats["idempotent_replays"] >= applied - recorded
    assert duplicate_customers(standin) == 0 and len(standin.customers()) == 100
    assert model_differences(standin, rows) == []

    refresh_mirror(api, wh, mirror_schema, concurrency=4)
    again = make_plan(wh, config, mirror_schema, sent_keys=sent_keys(wh, config))
    assert again.summary.writes == 0
    assert mirror_differences(wh, mirror_schema, standin) == []

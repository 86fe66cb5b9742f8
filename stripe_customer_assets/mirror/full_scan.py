"""A full scan of the mirror: every customer listed, merged in one transaction with its cursor.

Pages stream into ``<schema>.customers_scan`` while the account is listed (``scan.py`` lists,
``scan_writer.py`` writes; bounded memory); a crash leaves the mirror and cursor untouched,
and the next run starts over. The cursor event is fetched alongside the first list requests
and the events that may have raced the scan are read back (``_window_events``). The merge
marks every row Stripe no longer lists as deleted, unless that is a mass delete nobody
asked for (``mass_delete.py``); on a first load the scan table becomes the mirror by a
rename, so the final transaction does not copy rows.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.cursor import Cursor, latest_version, lock_commit
from stripe_customer_assets.mirror.event_stage import EventStage
from stripe_customer_assets.mirror.events import CUSTOMER_EVENT_TYPES, newest_event
from stripe_customer_assets.mirror.feed import (
    record_applied,
    retrieve_customers,
    source_relation,
    staged_customers,
    write_states,
)
from stripe_customer_assets.mirror.history import FULL_SCAN, record_versions
from stripe_customer_assets.mirror.mass_delete import (
    DeleteGuard,
    MassDeleteRefused,
    guard_full_scan,
)
from stripe_customer_assets.mirror.result import MirrorResult, commit_cursor
from stripe_customer_assets.mirror.scan import PAGE_SIZE, scan_customers
from stripe_customer_assets.mirror.scan_writer import ScanWriter
from stripe_customer_assets.mirror.store import MergeCounts, mark_missing_deleted, merge
from stripe_customer_assets.mirror.table import (
    DEFAULT_ACCOUNT,
    account_suffix,
    customers_table,
    ensure_customers_index,
)
from stripe_customer_assets.mirror.test_clocks import scan_test_clocks
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.stripe_api.client import Reply
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.memory import bounded
from stripe_customer_assets.warehouse.names import Table, qualified, quote_ident

# Events this close to the start of a full scan's reads (on Stripe's clock, in whole seconds)
# are read back with the scan rather than trusted to be in it (see ``_window_events``).
CURSOR_MARGIN_S = 1


def scan_table(schema: str, account: str = DEFAULT_ACCOUNT) -> Table:
    """Where a full scan writes what it lists, before the merge into the mirror (one table
    per account: full scans of several accounts may run at the same time)."""
    return qualified(schema, f"customers_scan{account_suffix(account)}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _NoServerClock(Exception):
    """Stripe's answers carry no Date header: the cursor must be taken before listing."""


def _window_events(
    api: StripeApi, newest: dict[str, Any], reads_from: float
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The cursor event, and the events up to it that the scan may have missed (oldest first).

    ``newest`` is ``GET /v1/events`` (newest first) sent alongside the first list requests,
    so its events may be newer than some of the pages read. Stripe's clock tells which are
    safe: list reads began no earlier than ``reads_from`` (the first answer's ``Date`` minus
    the time since the first request), so an event created a whole second before that
    happened before every read, and the scan saw its effect: that second is the cursor's
    watermark. The customers of the events after it, up to the newest, are read back and
    written with the scan's rows (the scan may have listed them before or after those
    events, or after a later change), and the events recorded as applied: nothing is
    missed, nothing older is put back, and nothing is applied again by the next run.
    """
    data = newest.get("data") or []
    if not data:
        return None, []
    safe_before = math.floor(reads_from) - CURSOR_MARGIN_S
    window: list[dict[str, Any]] = []
    page, more = data, bool(newest.get("has_more"))
    while True:
        for event in page:
            created = event.get("created")
            if isinstance(created, int) and created < safe_before:
                return data[0], window[::-1]
            window.append(event)
        if not more or not page:
            return data[0], window[::-1]
        older = api.get(
            "/v1/events", limit=PAGE_SIZE, types=CUSTOMER_EVENT_TYPES, starting_after=page[-1]["id"]
        )
        page, more = older.get("data") or [], bool(older.get("has_more"))


def full_scan_run(
    api: StripeApi,
    warehouse: Warehouse,
    schema: str,
    reason: str,
    concurrency: int,
    before_commit: Callable[[], None] | None,
    *,
    cursor: Cursor | None = None,
    guard: tuple[DeleteGuard, bool] = (DeleteGuard(), False),
    account: str = DEFAULT_ACCOUNT,
) -> MirrorResult:
    """``cursor``: the account's cursor as read by this refresh (it holds the account's
    refresh lock); ``guard``: the delete guard and whether a full refresh was asked for."""
    result = MirrorResult(mode="full", reason=reason, account=account)
    scan = scan_table(schema, account)
    started = time.monotonic()
    keyed = not warehouse.is_duckdb  # DuckDB: the key is added once the rows are in
    # Scanned rows carry the version this run expects to commit (the next of the sequence
    # shared by the accounts); the commit allocates the version and checks it still is.
    with warehouse.begin() as conn:
        version = latest_version(conn, schema) + 1
    # The cursor is the newest customer event when the scan starts, fetched alongside the
    # first list requests (see ``_window_events``); without Stripe's clock it is fetched
    # before listing starts instead.
    writer = ScanWriter(warehouse, scan, version, _now(), keyed=keyed, api_version=api.api_version, account=account)
    helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mirror-cursor")
    newest = helper.submit(api.get, "/v1/events", limit=PAGE_SIZE, types=CUSTOMER_EVENT_TYPES)
    clock: dict[str, float] = {}

    def on_first_reply(reply: Reply, seconds: float) -> None:
        if reply.date is None:
            raise _NoServerClock
        clock["reads_from"] = reply.date.timestamp() - seconds

    replay: list[dict[str, Any]] = []
    try:
        try:
            result.scan = scan_customers(api, writer.put, concurrency=concurrency, on_first_reply=on_first_reply)
            start_event, replay = _window_events(api, newest.result(), clock["reads_from"])
            watermark = math.floor(clock["reads_from"]) - CURSOR_MARGIN_S
        except _NoServerClock:
            newest.result()  # fetched alongside, so its order against the reads is unknown
            start_event = newest_event(api)
            watermark = math.floor(api.now().timestamp()) - CURSOR_MARGIN_S
            result.scan = scan_customers(api, writer.put, concurrency=concurrency)
        # Customers on test clocks are only listed clock by clock.
        result.test_clocks = scan_test_clocks(api, writer.put, concurrency)
    finally:
        helper.shutdown(wait=True)
        writer.close()
    result.events = len(replay)
    result.listed = writer.listed
    result.timings["list_s"] = time.monotonic() - started
    result.timings["write_s"] = writer.write_s
    result.timings["write_cpu_s"] = writer.cpu_s
    result.timings["scan_cpu_s"] = result.scan.cpu_s
    # The cursor: a watermark the scan covers (events before it happened before every read)
    # and the events since, their customers read back and the events remembered as applied.
    stage = EventStage(warehouse, schema, api.api_version, account)
    stage.add_events(replay)
    stage.finish()
    # The replayed customers are read back (``staged_customers``): an event's object could
    # be older than what the scan listed (a change or a deletion during the scan).
    ambiguous = bounded(warehouse, lambda conn: staged_customers(conn, schema, account))
    retrieved = retrieve_customers(api, warehouse, schema, ambiguous, account)
    result.retrieved = len(ambiguous)
    if before_commit:
        before_commit()
    clocks_listed = result.test_clocks is not None and result.test_clocks.complete
    try:  # too many deletes: stop before committing, and leave no working table behind
        guard_full_scan(
            warehouse,
            schema,
            scan,
            guard[0],
            full_refresh=guard[1],
            keep_test_clocks=not clocks_listed,
            account=account,
        )
    except MassDeleteRefused:
        with warehouse.begin() as conn:
            stage.drop(conn)
        raise
    committing = time.monotonic()
    now = _now()
    stripe_now = api.now()  # versions are dated on Stripe's clock, as its events are
    with warehouse.begin() as conn:
        if not keyed:
            _drop_duplicates(conn, scan)
        # The version is allocated here, under the commit lock the accounts share, so
        # versions become visible in order (``cursor.lock_commit``).
        lock_commit(conn, schema)
        allocated = latest_version(conn, schema) + 1
        if allocated == version and _mirror_is_empty(conn, schema):
            # First load: the scan table, written while listing, becomes the mirror.
            counts = MergeCounts(inserted=int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {scan}").scalar() or 0))
            _replace_mirror(conn, schema, scan, add_key=not keyed)
        else:
            version = allocated
            counts = merge(conn, schema, scan, version, now, account)
            counts.deleted += mark_missing_deleted(
                conn, schema, scan, version, now, keep_test_clocks=not clocks_listed, account=account
            )
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {scan}")
        source, rows = source_relation(conn, schema, account, retrieved, with_window=False)
        if rows:
            counts += write_states(conn, schema, source, version, now, account)
        record_versions(conn, schema, version, stripe_now, None, FULL_SCAN, account)
        record_applied(conn, schema, account, watermark, retrieved, with_window=False)
        stage.drop(conn)
        event_id = start_event["id"] if start_event else None
        commit_cursor(
            conn, schema, result, event_id=event_id, watermark=watermark, version=version, now=now, account=account
        )
    result.timings["commit_s"] = time.monotonic() - committing
    result.inserted, result.updated, result.deleted = counts.inserted, counts.updated, counts.deleted
    return result


def _mirror_is_empty(conn: Connection, schema: str) -> bool:
    return conn.exec_driver_sql(f"SELECT 1 FROM {customers_table(schema)} LIMIT 1").first() is None


def _drop_duplicates(conn: Connection, table: str) -> None:
    """Keep one row per id in a table without its key (a no-op unless Stripe repeated one)."""
    rows, ids = conn.exec_driver_sql(f"SELECT COUNT(*), COUNT(DISTINCT id) FROM {table}").one()
    if rows != ids:
        conn.exec_driver_sql(f"DELETE FROM {table} WHERE rowid NOT IN (SELECT MIN(rowid) FROM {table} GROUP BY id)")


def _replace_mirror(conn: Connection, schema: str, scan: Table, *, add_key: bool) -> None:
    """Make the scan table the (empty) mirror: a rename, not a copy of every row."""
    conn.exec_driver_sql(f"DROP TABLE {customers_table(schema)}")
    if add_key:
        conn.exec_driver_sql(f"ALTER TABLE {scan} ADD PRIMARY KEY (account, id)")
    conn.exec_driver_sql(f"ALTER TABLE {scan} RENAME TO {quote_ident('customers')}")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"ALTER INDEX IF EXISTS {qualified(schema, scan.name + '_pkey')} RENAME TO {quote_ident('customers_pkey')}"
        )
    ensure_customers_index(conn, schema)

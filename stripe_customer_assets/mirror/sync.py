"""Keep the mirror current: a full scan when needed, otherwise the events since the cursor.

Crash safety: every run ends in one transaction that writes the rows and moves the cursor
(a watermark behind Stripe's clock and the events applied since, ``mirror/feed.py``)
together. A full scan streams pages into ``<schema>.customers_scan`` first (bounded
memory); a crash leaves the mirror and cursor untouched, and the next run starts over.

Speed: a full scan's cost is Stripe's rate limit, so everything else overlaps the listing.
Pages go to the warehouse as text while the scan runs (the warehouse derives the columns);
the cursor event is fetched alongside; on a first load the scan table, already shaped like
the mirror, becomes the mirror by a rename, so the final transaction does not copy rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.cursor import Cursor, read_cursor, write_cursor
from stripe_customer_assets.mirror.events import (
    CUSTOMER_EVENT_TYPES,
    CursorExpired,
    newest_event,
)
from stripe_customer_assets.mirror.feed import (
    EventStage,
    FeedStats,
    bounded,
    ensure_window_table,
    new_events,
    read_events,
    record_applied,
    retrieve_customers,
    source_relation,
    staged_customers,
    to_retrieve,
    write_states,
)
from stripe_customer_assets.mirror.identity import check_identity
from stripe_customer_assets.mirror.mass_delete import (
    DeleteGuard,
    MassDeleteRefused,
    guard_full_scan,
)
from stripe_customer_assets.mirror.scan import PAGE_SIZE, ScanPage, scan_customers
from stripe_customer_assets.mirror.store import (
    SOURCE_COLUMNS,
    MergeCounts,
    mark_missing_deleted,
    merge,
)
from stripe_customer_assets.mirror.table import (
    create_customers_table,
    customer_columns_sql,
    customers_table,
    ensure_customers_index,
    ensure_tables,
    page_items_sql,
)
from stripe_customer_assets.mirror.test_clocks import TestClockScan, scan_test_clocks
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.stripe_api.client import Reply
from stripe_customer_assets.warehouse import Warehouse, staged_arrow
from stripe_customer_assets.warehouse.names import qualified

log = logging.getLogger(__name__)

EVENT_RETENTION = dt.timedelta(days=30)
# Start over a little before Stripe drops the cursor's event, not after.
RETENTION_MARGIN = dt.timedelta(hours=6)
# The scan writer commits a batch when it holds this many customers or is this old, and
# lets go of the warehouse connection (the DuckDB file lock) after holding it this long.
SCAN_BATCH_ROWS = 20_000
SCAN_BATCH_SECONDS = 0.25
SCAN_HOLD_SECONDS = 2.0
# A DuckDB scan table is checkpointed every ``SCAN_CHECKPOINT_SECONDS`` while listing.
# Checkpoints and small batches cost more the larger the table, so the batch window and
# both periods grow with what was written (one more unit per ``SCAN_SECONDS_PER_ROWS``
# rows), up to ``SCAN_MAX_HOLD_SECONDS``; in the last ``SCAN_ENDGAME_SECONDS`` of the
# listing (the scan's own estimate) they are short again, so what is left when the last
# page arrives is a fraction of a second's work.
SCAN_CHECKPOINT_SECONDS = 0.5
SCAN_SECONDS_PER_ROWS = 500_000
SCAN_MAX_HOLD_SECONDS = 20.0
SCAN_ENDGAME_SECONDS = 3.0


def _pace(listed: int, ending: bool) -> tuple[float, float, float]:
    """(batch window, checkpoint period, hold period) for a writer that wrote ``listed`` rows."""
    if ending:
        return SCAN_BATCH_SECONDS, SCAN_CHECKPOINT_SECONDS, SCAN_HOLD_SECONDS
    grown = listed / SCAN_SECONDS_PER_ROWS
    hold = min(SCAN_MAX_HOLD_SECONDS, SCAN_HOLD_SECONDS * (1 + grown))
    return min(hold, SCAN_BATCH_SECONDS * (1 + grown)), min(hold, SCAN_CHECKPOINT_SECONDS * (1 + grown)), hold
# Events this close to the start of a full scan's reads (on Stripe's clock, in whole seconds)
# are read back with the scan rather than trusted to be in it (see ``_window_events``).
CURSOR_MARGIN_S = 1


@dataclass
class MirrorResult:
    mode: str  # "full" | "incremental"
    reason: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    events: int = 0
    listed: int = 0
    api_calls: int = 0
    cursor_event_id: str | None = None
    cursor_event_created: dt.datetime | None = None
    mirror_version: int = 0
    duration_s: float = 0.0
    row_count: int = 0
    api: dict[str, Any] = field(default_factory=dict)
    scan: Any = field(default=None, repr=False)  # ScanStats of a full scan
    test_clocks: TestClockScan | None = None  # a full scan's test clocks and their customers
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase of a full scan
    reread: int = 0  # events listed again (the overlap behind Stripe's clock), applied before
    retrieved: int = 0  # customers read back: several events in their newest second

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


OVERLAP_ENV = "STRIPE_EVENTS_OVERLAP_SECONDS"
DEFAULT_OVERLAP_S = 120


def events_overlap_s() -> int:
    """How far behind Stripe's clock the events cursor stays (``STRIPE_EVENTS_OVERLAP_SECONDS``)."""
    raw = os.environ.get(OVERLAP_ENV, "").strip()
    if not raw:
        return DEFAULT_OVERLAP_S
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"{OVERLAP_ENV}={raw!r} is not a whole number of seconds >= 0 (how late Stripe may list "
            f"an event and the mirror still read it; default {DEFAULT_OVERLAP_S})"
        )
    return value


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _scan_table(schema: str) -> str:
    return qualified(schema, "customers_scan")


def _from_ts(value: Any) -> dt.datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return None


def needs_full_scan(cursor: Cursor | None, full_refresh: bool, now: dt.datetime, retention: dt.timedelta) -> str | None:
    """Why this run must be a full scan, or None for an incremental run."""
    if full_refresh:
        return "full_refresh requested"
    if cursor is None:
        return "first run: no cursor yet"
    if cursor.event_created is not None and now - cursor.event_created > retention - RETENTION_MARGIN:
        return f"cursor from {cursor.event_created:%Y-%m-%d %H:%M} is older than Stripe's event retention"
    return None


def refresh_mirror(
    api: StripeApi,
    warehouse: Warehouse,
    schema: str = "stripe",
    *,
    full_refresh: bool = False,
    concurrency: int = 16,
    retention: dt.timedelta = EVENT_RETENTION,
    before_commit: Callable[[], None] | None = None,
    delete_guard: DeleteGuard | None = None,
    overlap_s: int | None = None,
) -> MirrorResult:
    """Bring ``<schema>.customers`` up to date with the Stripe account behind ``api``.

    ``overlap_s``: how far behind Stripe's clock the events cursor stays, i.e. how late an
    event may be listed and still be read (default ``STRIPE_EVENTS_OVERLAP_SECONDS``, 120).

    ``before_commit`` runs after everything was fetched and just before the final
    transaction (a hook for fault-injection tests). ``delete_guard``: how many customers a
    full scan may mark deleted unasked (``mass_delete.py``; default 20% and more than 10).
    """
    started = time.monotonic()
    calls_before = api.stats.calls
    # One refresh of a mirror at a time, across threads and processes: two full scans would
    # share the scan table, and a run holding older events could commit after one holding
    # newer ones and put older customer states back. The second refresh waits, then runs.
    with warehouse.exclusive(f"mirror-refresh:{schema}"):
        check_identity(api, warehouse, schema)  # a key of another account or mode stops here
        with warehouse.begin() as conn:
            ensure_tables(conn, schema)
            ensure_window_table(conn, schema)
            cursor = read_cursor(conn, schema)
        reason = needs_full_scan(cursor, full_refresh, _now(), retention)
        result: MirrorResult | None = None
        if reason is None:
            try:
                overlap = events_overlap_s() if overlap_s is None else overlap_s
                result = _incremental(api, warehouse, schema, cursor, before_commit, overlap)
            except CursorExpired as err:
                reason = f"cursor expired: {err}"
        if result is None:
            guard = (delete_guard or DeleteGuard(), full_refresh)
            result = _full_scan(
                api, warehouse, schema, reason or "", concurrency, before_commit, cursor=cursor, guard=guard
            )
    result.api_calls = api.stats.calls - calls_before
    result.api = api.stats.snapshot()
    result.duration_s = time.monotonic() - started
    return result


def _live_rows(conn: Connection, schema: str) -> int:
    return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {customers_table(schema)} WHERE NOT deleted").scalar() or 0)


def _incremental(
    api: StripeApi,
    warehouse: Warehouse,
    schema: str,
    cursor: Cursor,
    before_commit: Callable[[], None] | None,
    overlap_s: int,
) -> MirrorResult:
    """Apply the customer events created since the cursor's watermark (see ``mirror/feed.py``).

    The watermark stays ``overlap_s`` behind Stripe's clock, so events listed late are
    read by a later run; every event is applied once, and a quiet run still moves the
    watermark forward (a regularly running quiet account never falls out of retention).
    """
    if cursor.event_created is not None:
        since = int(cursor.event_created.timestamp())
    else:
        since = int(api.now().timestamp()) - overlap_s
    stats = FeedStats()
    stage = EventStage(warehouse, schema, api.api_version)
    read_events(api, stage, since, stats)
    if api.now().timestamp() - since > (EVENT_RETENTION - RETENTION_MARGIN).total_seconds():
        # Judged on Stripe's clock: events may have expired unseen.
        raise CursorExpired(f"cursor from {_from_ts(since):%Y-%m-%d %H:%M} is older than Stripe's event retention")
    (staged, stats.new), ambiguous = bounded(
        warehouse, lambda conn: (new_events(conn, schema, with_window=True), to_retrieve(conn, schema, with_window=True))
    )
    if staged < stats.listed:
        log.warning("skipped %d customer events without a customer object", stats.listed - staged)
    retrieved = retrieve_customers(api, warehouse, schema, ambiguous)
    watermark = max(since, math.floor(stats.read_from if stats.read_from is not None else since) - overlap_s)
    result = MirrorResult(
        mode="incremental",
        reason=f"{stats.new} customer events since the cursor",
        events=stats.new,
        reread=staged - stats.new,
        retrieved=len(ambiguous),
    )
    if before_commit:
        before_commit()
    now = _now()

    def commit(conn: Connection) -> Cursor:
        current = read_cursor(conn, schema) or cursor
        version = current.mirror_version
        source, rows = source_relation(conn, schema, retrieved, with_window=True)
        if rows:
            version += 1
            counts = write_states(conn, schema, source, version, now)
            result.inserted, result.updated, result.deleted = counts.inserted, counts.updated, counts.deleted
        record_applied(conn, schema, watermark, retrieved, with_window=True)
        stage.drop(conn)
        next_cursor = Cursor(
            event_id=stats.newest_id or current.event_id,
            event_created=_from_ts(watermark),
            mirror_version=version,
            mode="incremental",
            updated_at=now,
        )
        write_cursor(conn, schema, next_cursor)
        result.row_count = _live_rows(conn, schema)
        return next_cursor

    next_cursor = bounded(warehouse, commit)
    version = next_cursor.mirror_version
    result.cursor_event_id = next_cursor.event_id
    result.cursor_event_created = next_cursor.event_created
    result.mirror_version = version
    return result


_FLUSH = object()
# The scan writer only appends: DuckDB's cache of the growing table would only grow the
# process (up to 80% of RAM by default), so its connection caps it.
SCAN_WRITER_DUCKDB_MEMORY = "256MB"


def _limit_memory(conn: Connection) -> None:
    if conn.dialect.name == "duckdb":
        conn.exec_driver_sql(f"SET memory_limit = '{SCAN_WRITER_DUCKDB_MEMORY}'")
        conn.commit()


class _ScanWriter:
    """Collects list pages from scan workers and appends them to the scan table on one thread.

    Pages travel as the text Stripe sent; the warehouse parses them and derives the columns
    (``page_items_sql`` / ``customer_columns_sql``), so no Python object per customer is made.
    A batch is committed every ``SCAN_BATCH_ROWS`` customers or after a short window,
    whichever comes first, so memory stays flat however large the account. The connection
    is kept across batches for a few seconds (reopening a DuckDB file per batch costs a full
    open and close each time), then let go until the next batch so other writers get a
    turn. A DuckDB file is checkpointed as it grows, often near the end of the listing, so
    what is left when the last page arrives is a fraction of a second's work (``_pace``).
    """

    def __init__(
        self,
        warehouse: Warehouse,
        table: str,
        version: int,
        synced_at: dt.datetime,
        *,
        keyed: bool,
        api_version: str | None = None,
    ):
        self.warehouse = warehouse
        self.table = table
        self.version = version
        self.api_version = api_version  # lists are rendered in the pinned Stripe-Version
        self.synced_at = synced_at
        self.keyed = keyed  # the table has its primary key: skip duplicates on insert
        self._created = False  # the scan table is made on the writer's first connection
        self.listed = 0
        self.batches = 0
        self.write_s = 0.0
        self.cpu_s = 0.0  # of the writer thread (a DuckDB warehouse also works on its own threads)
        self._queue: queue.Queue[ScanPage | None] = queue.Queue(maxsize=256)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mirror-scan-writer", daemon=True)
        self._thread.start()

    def put(self, page: ScanPage) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(page)

    def _run(self) -> None:
        cpu = time.thread_time()
        try:
            self._loop()
        finally:
            self.cpu_s = time.thread_time() - cpu

    def _loop(self) -> None:
        with contextlib.ExitStack() as held:
            conn: Connection | None = None
            opened = checkpointed = started = 0.0
            bodies: list[str] = []
            keeps: list[int] = []
            rows = 0
            ending = False
            while True:
                window, every, hold = _pace(self.listed, ending)
                item: ScanPage | object | None
                try:
                    timeout = max(0.0, started + window - time.monotonic()) if bodies else None
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = _FLUSH  # the batch is old enough: write it
                if isinstance(item, ScanPage):
                    if not bodies:
                        started = time.monotonic()
                    bodies.append(item.text)
                    keeps.append(item.keep)
                    rows += item.keep
                    ending = item.seconds_left < SCAN_ENDGAME_SECONDS
                    window, every, hold = _pace(self.listed, ending)
                due = item is None or item is _FLUSH or rows >= SCAN_BATCH_ROWS or time.monotonic() >= started + window
                if bodies and due:
                    if self._error is None:
                        try:
                            if conn is None:
                                conn = held.enter_context(self.warehouse.connect())
                                opened = checkpointed = time.monotonic()
                                _limit_memory(conn)
                                self._create(conn)
                            self._write(conn, bodies, keeps, rows)
                            if conn.dialect.name == "duckdb" and time.monotonic() - checkpointed >= every:
                                conn.exec_driver_sql("CHECKPOINT")
                                conn.commit()
                                checkpointed = time.monotonic()
                            if time.monotonic() - opened > hold:
                                held.close()  # until the next batch is due: others' turn
                                conn = None
                        except BaseException as err:  # noqa: BLE001 - re-raised in the scan by put() and close()
                            self._error = err
                    bodies, keeps, rows = [], [], 0
                if item is None:
                    return

    def _create(self, conn: Connection) -> None:
        """A fresh scan table, shaped like the mirror (made here, off the scan's start)."""
        if self._created:
            return
        with conn.begin():
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
            create_customers_table(conn, self.table, if_not_exists=False, primary_key=self.keyed)
        self._created = True

    def _write(self, conn: Connection, bodies: list[str], keeps: list[int], rows: int) -> None:
        import pyarrow as pa
        started = time.monotonic()
        table = pa.table({"body": pa.array(bodies, pa.string()), "keep": pa.array(keeps, pa.int32())})
        dialect = conn.dialect.name
        with conn.begin(), staged_arrow(conn, [("body", "TEXT"), ("keep", "INTEGER")], table) as stage:
            columns = customer_columns_sql(dialect, page_items_sql(dialect, stage))
            # Slices do not overlap, so each customer comes once; should Stripe list one
            # twice anyway, the first listing is kept (here, or before the key is added).
            conn.execute(
                sa.text(
                    f"INSERT INTO {self.table} ({', '.join(SOURCE_COLUMNS)}, synced_at, mirror_version, api_version) "
                    f"SELECT *, FALSE, CAST(NULL AS TIMESTAMPTZ), :synced_at, :version, :api_version FROM ({columns}) AS c"
                    + (" ON CONFLICT (id) DO NOTHING" if self.keyed else "")
                ),
                {"synced_at": self.synced_at, "version": self.version, "api_version": self.api_version},
            )
        self.listed += rows
        self.batches += 1
        self.write_s += time.monotonic() - started

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        if not self._created:  # no page at all: the (empty) scan table is still the result
            with self.warehouse.connect() as conn:
                self._create(conn)


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


def _full_scan(
    api: StripeApi,
    warehouse: Warehouse,
    schema: str,
    reason: str,
    concurrency: int,
    before_commit: Callable[[], None] | None,
    *,
    cursor: Cursor | None = None,
    guard: tuple[DeleteGuard, bool] = (DeleteGuard(), False),
) -> MirrorResult:
    """``cursor``: the mirror's cursor as read by this refresh (it holds the mirror);
    ``guard``: the delete guard and whether a full refresh was asked for."""
    result = MirrorResult(mode="full", reason=reason)
    scan = _scan_table(schema)
    started = time.monotonic()
    keyed = not warehouse.is_duckdb  # DuckDB: the key is added once the rows are in
    # Scanned rows carry the version this run will commit; the commit checks it still is.
    version = (cursor.mirror_version if cursor else 0) + 1
    # The cursor is the newest customer event when the scan starts, fetched alongside the
    # first list requests (see ``_window_events``); without Stripe's clock it is fetched
    # before listing starts instead.
    writer = _ScanWriter(warehouse, scan, version, _now(), keyed=keyed, api_version=api.api_version)
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
    stage = EventStage(warehouse, schema, api.api_version)
    stage.add_events(replay)
    stage.finish()
    # The replayed customers are read back (``staged_customers``): an event's object could
    # be older than what the scan listed (a change or a deletion during the scan).
    ambiguous = bounded(warehouse, lambda conn: staged_customers(conn, schema))
    retrieved = retrieve_customers(api, warehouse, schema, ambiguous)
    result.retrieved = len(ambiguous)
    if before_commit:
        before_commit()
    clocks_listed = result.test_clocks is not None and result.test_clocks.complete
    try:  # too many deletes: stop before committing, and leave no working table behind
        guard_full_scan(warehouse, schema, scan, guard[0], full_refresh=guard[1], keep_test_clocks=not clocks_listed)
    except MassDeleteRefused:
        with warehouse.begin() as conn:
            stage.drop(conn)
        raise
    committing = time.monotonic()
    now = _now()
    with warehouse.begin() as conn:
        current = read_cursor(conn, schema)
        if not keyed:
            _drop_duplicates(conn, scan)
        if (current.mirror_version if current else 0) + 1 == version and _mirror_is_empty(conn, schema):
            # First load: the scan table, written while listing, becomes the mirror.
            counts = MergeCounts(inserted=int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {scan}").scalar() or 0))
            _replace_mirror(conn, schema, scan, add_key=not keyed)
        else:
            version = (current.mirror_version if current else 0) + 1
            counts = merge(conn, schema, scan, version, now)
            counts.deleted += mark_missing_deleted(
                conn, schema, scan, version, now, keep_test_clocks=not clocks_listed
            )
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {scan}")
        source, rows = source_relation(conn, schema, retrieved, with_window=False)
        if rows:
            counts += write_states(conn, schema, source, version, now)
        record_applied(conn, schema, watermark, retrieved, with_window=False)
        stage.drop(conn)
        next_cursor = Cursor(
            event_id=start_event["id"] if start_event else None,
            event_created=_from_ts(watermark),
            mirror_version=version,
            mode="full",
            updated_at=now,
        )
        write_cursor(conn, schema, next_cursor)
        result.row_count = _live_rows(conn, schema)
    result.timings["commit_s"] = time.monotonic() - committing
    result.inserted, result.updated, result.deleted = counts.inserted, counts.updated, counts.deleted
    result.cursor_event_id = next_cursor.event_id
    result.cursor_event_created = next_cursor.event_created
    result.mirror_version = version
    return result


def _mirror_is_empty(conn: Connection, schema: str) -> bool:
    return conn.exec_driver_sql(f"SELECT 1 FROM {customers_table(schema)} LIMIT 1").first() is None


def _drop_duplicates(conn: Connection, table: str) -> None:
    """Keep one row per id in a table without its key (a no-op unless Stripe repeated one)."""
    rows, ids = conn.exec_driver_sql(f"SELECT COUNT(*), COUNT(DISTINCT id) FROM {table}").one()
    if rows != ids:
        conn.exec_driver_sql(f"DELETE FROM {table} WHERE rowid NOT IN (SELECT MIN(rowid) FROM {table} GROUP BY id)")


def _replace_mirror(conn: Connection, schema: str, scan: str, *, add_key: bool) -> None:
    """Make the scan table the (empty) mirror: a rename, not a copy of every row."""
    conn.exec_driver_sql(f"DROP TABLE {customers_table(schema)}")
    if add_key:
        conn.exec_driver_sql(f"ALTER TABLE {scan} ADD PRIMARY KEY (id)")
    conn.exec_driver_sql(f'ALTER TABLE {scan} RENAME TO "customers"')
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f'ALTER INDEX IF EXISTS {qualified(schema, "customers_scan_pkey")} RENAME TO "customers_pkey"')
    ensure_customers_index(conn, schema)

"""Keep the mirror current: a full scan when needed, otherwise the events since the cursor.

This module decides which (``needs_full_scan``) and runs one refresh of a mirror at a time.
``incremental.py`` applies the customer events since the cursor (``event_stage.py`` stages
them, ``feed.py`` decides what they mean); ``full_scan.py`` lists every customer (``scan.py``
lists, ``scan_writer.py`` writes the pages as they come).

Crash safety: every run ends in one transaction that writes the rows and moves the cursor
(a watermark behind Stripe's clock and the events applied since, ``mirror/feed.py``)
together (``result.commit_cursor``). A full scan streams pages into
``<schema>.customers_scan`` first (bounded memory); a crash leaves the mirror and cursor
untouched, and the next run starts over.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from stripe_customer_assets.mirror.cursor import Cursor, read_cursor
from stripe_customer_assets.mirror.events import EVENT_RETENTION, RETENTION_MARGIN, CursorExpired
from stripe_customer_assets.mirror.feed import ensure_window_table
from stripe_customer_assets.mirror.full_scan import full_scan_run
from stripe_customer_assets.mirror.history import ensure_history_table
from stripe_customer_assets.mirror.identity import check_identity, migrate_identity
from stripe_customer_assets.mirror.incremental import incremental_run
from stripe_customer_assets.mirror.mass_delete import DeleteGuard
from stripe_customer_assets.mirror.result import MirrorResult
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT, ensure_tables
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.values import env_whole_number
from stripe_customer_assets.warehouse import Warehouse

__all__ = ["DEFAULT_ACCOUNT", "EVENT_RETENTION", "MirrorResult", "events_overlap_s", "needs_full_scan", "refresh_mirror"]

OVERLAP_ENV = "STRIPE_EVENTS_OVERLAP_SECONDS"
DEFAULT_OVERLAP_S = 120


def events_overlap_s() -> int:
    """How far behind Stripe's clock the events cursor stays (``STRIPE_EVENTS_OVERLAP_SECONDS``)."""
    return env_whole_number(
        OVERLAP_ENV,
        DEFAULT_OVERLAP_S,
        "seconds",
        "how late Stripe may list an event and the mirror still read it",
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    account: str = DEFAULT_ACCOUNT,
    full_refresh: bool = False,
    concurrency: int = 16,
    retention: dt.timedelta = EVENT_RETENTION,
    before_commit: Callable[[], None] | None = None,
    delete_guard: DeleteGuard | None = None,
    overlap_s: int | None = None,
) -> MirrorResult:
    """Bring ``account``'s rows of ``<schema>.customers`` up to date with the Stripe account
    behind ``api``.

    ``account``: the account key the rows, cursor and identity are kept under (several
    accounts share the mirror's tables; ``DEFAULT_ACCOUNT`` in a single-account deployment).
    Tables made before accounts are migrated in place, their rows becoming ``account``'s.

    ``overlap_s``: how far behind Stripe's clock the events cursor stays, i.e. how late an
    event may be listed and still be read (default ``STRIPE_EVENTS_OVERLAP_SECONDS``, 120).

    ``before_commit`` runs after everything was fetched and just before the final
    transaction (a hook for fault-injection tests). ``delete_guard``: how many customers a
    full scan may mark deleted unasked (``mass_delete.py``; default 20% and more than 10).
    """
    started = time.monotonic()
    calls_before = api.stats.calls
    # One refresh of an account at a time, across threads and processes: two full scans
    # would share its scan table, and a run holding older events could commit after one
    # holding newer ones and put older customer states back. The second refresh waits, then
    # runs. Other accounts refresh meanwhile (their own working tables); their commits take
    # turns (``cursor.lock_commit``).
    with warehouse.exclusive(f"mirror-refresh:{schema}:{account}"):
        # A key of another Stripe account or mode, or of an account mirrored under another
        # account key, stops here.
        check_identity(api, warehouse, schema, account=account)
        with warehouse.begin() as conn:
            ensure_tables(conn, schema, account)
            ensure_window_table(conn, schema, account)
            ensure_history_table(conn, schema, account)
            migrate_identity(conn, schema, account)
            cursor = read_cursor(conn, schema, account)
        reason = needs_full_scan(cursor, full_refresh, _now(), retention)
        result: MirrorResult | None = None
        if reason is None:
            try:
                overlap = events_overlap_s() if overlap_s is None else overlap_s
                result = incremental_run(api, warehouse, schema, cursor, before_commit, overlap, account)
            except CursorExpired as err:
                reason = f"cursor expired: {err}"
        if result is None:
            guard = (delete_guard or DeleteGuard(), full_refresh)
            result = full_scan_run(
                api,
                warehouse,
                schema,
                reason or "",
                concurrency,
                before_commit,
                cursor=cursor,
                guard=guard,
                account=account,
            )
    result.api_calls = api.stats.calls - calls_before
    result.api = api.stats.snapshot()
    result.duration_s = time.monotonic() - started
    return result

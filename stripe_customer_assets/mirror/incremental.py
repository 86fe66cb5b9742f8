"""An incremental refresh of the mirror: the customer events since the cursor's watermark."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable

from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.cursor import Cursor, latest_version, lock_commit, read_cursor
from stripe_customer_assets.mirror.event_stage import EventStage, FeedStats, read_events
from stripe_customer_assets.mirror.events import EVENT_RETENTION, RETENTION_MARGIN, CursorExpired
from stripe_customer_assets.mirror.feed import (
    made_by_sql,
    new_events,
    record_applied,
    retrieve_customers,
    source_relation,
    to_retrieve,
    write_states,
)
from stripe_customer_assets.mirror.history import RETRIEVE, record_versions
from stripe_customer_assets.mirror.result import MirrorResult, commit_cursor, from_unix
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.memory import bounded

log = logging.getLogger(__name__)


def incremental_run(
    api: StripeApi,
    warehouse: Warehouse,
    schema: str,
    cursor: Cursor,
    before_commit: Callable[[], None] | None,
    overlap_s: int,
    account: str = DEFAULT_ACCOUNT,
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
    stage = EventStage(warehouse, schema, api.api_version, account)
    read_events(api, stage, since, stats)
    if api.now().timestamp() - since > (EVENT_RETENTION - RETENTION_MARGIN).total_seconds():
        # Judged on Stripe's clock: events may have expired unseen.
        raise CursorExpired(f"cursor from {from_unix(since):%Y-%m-%d %H:%M} is older than Stripe's event retention")
    (staged, stats.new), ambiguous = bounded(
        warehouse,
        lambda conn: (
            new_events(conn, schema, account, with_window=True),
            to_retrieve(conn, schema, account, with_window=True),
        ),
    )
    if staged < stats.listed:
        log.warning("skipped %d customer events without a customer object", stats.listed - staged)
    retrieved = retrieve_customers(api, warehouse, schema, ambiguous, account)
    watermark = max(since, math.floor(stats.read_from if stats.read_from is not None else since) - overlap_s)
    result = MirrorResult(
        mode="incremental",
        reason=f"{stats.new} customer events since the cursor",
        events=stats.new,
        reread=staged - stats.new,
        retrieved=len(ambiguous),
        account=account,
    )
    if before_commit:
        before_commit()
    now = dt.datetime.now(dt.UTC)
    stripe_now = api.now()  # versions are dated on Stripe's clock, as its events are

    def commit(conn: Connection) -> Cursor:
        source, rows = source_relation(conn, schema, account, retrieved, with_window=True)
        lock_commit(conn, schema)  # versions: one sequence over the accounts, committed in order
        current = read_cursor(conn, schema, account) or cursor
        version = current.mirror_version
        if rows:
            version = latest_version(conn, schema) + 1
            counts = write_states(conn, schema, source, version, now, account)
            result.inserted, result.updated, result.deleted = counts.inserted, counts.updated, counts.deleted
            record_versions(conn, schema, version, stripe_now, made_by_sql(schema, account), RETRIEVE, account)
        record_applied(conn, schema, account, watermark, retrieved, with_window=True)
        stage.drop(conn)
        event_id = stats.newest_id or current.event_id
        return commit_cursor(
            conn, schema, result, event_id=event_id, watermark=watermark, version=version, now=now, account=account
        )

    bounded(warehouse, commit)
    return result

"""What one refresh of the mirror did, and the cursor write that ends every refresh."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.cursor import Cursor, write_cursor
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT, customers_table
from stripe_customer_assets.mirror.test_clocks import TestClockScan


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
    account: str = DEFAULT_ACCOUNT  # the account key refreshed

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


def from_unix(value: Any) -> dt.datetime | None:
    """A UTC time from unix seconds (None for anything else)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return None


def commit_cursor(
    conn: Connection,
    schema: str,
    result: MirrorResult,
    *,
    event_id: str | None,
    watermark: int,
    version: int,
    now: dt.datetime,
    account: str = DEFAULT_ACCOUNT,
) -> Cursor:
    """Write the run's cursor in the transaction that wrote its rows; fill ``result`` in from it."""
    cursor = Cursor(
        event_id=event_id,
        event_created=from_unix(watermark),
        mirror_version=version,
        mode=result.mode,
        updated_at=now,
    )
    write_cursor(conn, schema, cursor, account)
    result.row_count = int(
        conn.execute(
            sa.text(f"SELECT COUNT(*) FROM {customers_table(schema)} WHERE account = :account AND NOT deleted"),
            {"account": account},
        ).scalar()
        or 0
    )
    result.cursor_event_id = cursor.event_id
    result.cursor_event_created = cursor.event_created
    result.mirror_version = version
    return cursor

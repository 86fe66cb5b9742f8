"""The mirror's cursor: the newest customer event applied, kept beside the rows it covers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT, cursor_table

CURSOR_NAME = "customers"


@dataclass(frozen=True)
class Cursor:
    event_id: str | None
    event_created: dt.datetime | None
    mirror_version: int
    mode: str | None = None
    updated_at: dt.datetime | None = None


def read_cursor(conn: Connection, schema: str, account: str | None = DEFAULT_ACCOUNT) -> Cursor | None:
    """The cursor of ``account`` (None: a cursor table made before accounts, its one cursor)."""
    scoped = "" if account is None else " AND account = :account"
    row = conn.execute(
        sa.text(
            f"SELECT event_id, event_created, mirror_version, mode, updated_at "
            f"FROM {cursor_table(schema)} WHERE name = :name{scoped}"
        ),
        {"name": CURSOR_NAME, "account": account},
    ).first()
    if row is None:
        return None
    return Cursor(row[0], _utc(row[1]), int(row[2]), row[3], _utc(row[4]))


def latest_version(conn: Connection, schema: str) -> int:
    """The newest mirror version committed, over every account (0: none yet)."""
    return int(conn.exec_driver_sql(f"SELECT MAX(mirror_version) FROM {cursor_table(schema)}").scalar() or 0)


def lock_commit(conn: Connection, schema: str) -> None:
    """Hold the mirror's commit lock, shared by its accounts, until this transaction ends.

    Versions are one sequence over every account, allocated under this lock
    (``latest_version`` + 1) in the transaction that commits them, so they become visible in
    order: a reader's "changed since version V" never skips a commit still in flight. DuckDB
    has one writer at a time (the warehouse's file lock), so it needs no more.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": f"mirror-commit:{schema}"}
        )


def write_cursor(conn: Connection, schema: str, cursor: Cursor, account: str = DEFAULT_ACCOUNT) -> None:
    params = {
        "account": account,
        "name": CURSOR_NAME,
        "event_id": cursor.event_id,
        "event_created": cursor.event_created,
        "mirror_version": cursor.mirror_version,
        "mode": cursor.mode,
        "updated_at": cursor.updated_at,
    }
    conn.execute(
        sa.text(
            f"INSERT INTO {cursor_table(schema)} (account, name, event_id, event_created, mirror_version, mode, updated_at) "
            "VALUES (:account, :name, :event_id, :event_created, :mirror_version, :mode, :updated_at) "
            "ON CONFLICT (account, name) DO UPDATE SET event_id = excluded.event_id, "
            "event_created = excluded.event_created, mirror_version = excluded.mirror_version, "
            "mode = excluded.mode, updated_at = excluded.updated_at"
        ),
        params,
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)

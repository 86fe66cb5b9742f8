"""The mirror's cursor: the newest customer event applied, kept beside the rows it covers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.table import cursor_table

CURSOR_NAME = "customers"


@dataclass(frozen=True)
class Cursor:
    event_id: str | None
    event_created: dt.datetime | None
    mirror_version: int
    mode: str | None = None
    updated_at: dt.datetime | None = None


def read_cursor(conn: Connection, schema: str) -> Cursor | None:
    row = conn.execute(
        sa.text(
            f"SELECT event_id, event_created, mirror_version, mode, updated_at "
            f"FROM {cursor_table(schema)} WHERE name = :name"
        ),
        {"name": CURSOR_NAME},
    ).first()
    if row is None:
        return None
    return Cursor(row[0], _utc(row[1]), int(row[2]), row[3], _utc(row[4]))


def write_cursor(conn: Connection, schema: str, cursor: Cursor) -> None:
    params = {
        "name": CURSOR_NAME,
        "event_id": cursor.event_id,
        "event_created": cursor.event_created,
        "mirror_version": cursor.mirror_version,
        "mode": cursor.mode,
        "updated_at": cursor.updated_at,
    }
    conn.execute(
        sa.text(
            f"INSERT INTO {cursor_table(schema)} (name, event_id, event_created, mirror_version, mode, updated_at) "
            "VALUES (:name, :event_id, :event_created, :mirror_version, :mode, :updated_at) "
            "ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id, "
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

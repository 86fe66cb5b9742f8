"""Writing customers into the mirror: one merge statement per batch, counted.

A source relation (a staged DataFrame or the scan table) holds content columns plus
``deleted`` / ``deleted_at``. ``merge`` counts what is new and what changed, then upserts;
a row whose raw JSON and deleted flag are unchanged is left alone, so its
``mirror_version`` only moves when the customer really changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.table import CUSTOMER_COLUMNS, customers_table
from stripe_customer_assets.warehouse.names import quote_ident

SOURCE_COLUMNS = CUSTOMER_COLUMNS[:13] + ["deleted", "deleted_at"]


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def __iadd__(self, other: MergeCounts) -> Self:
        self.inserted += other.inserted
        self.updated += other.updated
        self.deleted += other.deleted
        return self


_q = quote_ident


def merge(conn: Connection, schema: str, source: str, version: int, now: dt.datetime) -> MergeCounts:
    """Upsert every row of ``source`` into the mirror at ``version``."""
    target = customers_table(schema)
    counted = conn.execute(
        sa.text(
            f"SELECT "
            f" SUM(CASE WHEN t.id IS NULL AND NOT s.deleted THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN t.id IS NOT NULL AND NOT s.deleted AND (t.deleted OR t.raw IS DISTINCT FROM s.raw) THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN s.deleted AND (t.id IS NULL OR NOT t.deleted) THEN 1 ELSE 0 END)"
            f" FROM {source} s LEFT JOIN {target} t ON t.id = s.id"
        )
    ).one()
    cols = ", ".join(_q(c) for c in SOURCE_COLUMNS)
    updates = ", ".join(
        f"{_q(c)} = excluded.{_q(c)}" for c in SOURCE_COLUMNS + ["synced_at", "mirror_version"] if c != "id"
    )
    conn.execute(
        sa.text(
            f"INSERT INTO {target} ({cols}, synced_at, mirror_version) "
            f"SELECT {cols}, :now, :version FROM {source} AS src "
            f"ON CONFLICT (id) DO UPDATE SET {updates} "
            f"WHERE {target}.raw IS DISTINCT FROM excluded.raw "
            f"OR {target}.deleted IS DISTINCT FROM excluded.deleted"
        ),
        {"now": now, "version": version},
    )
    return MergeCounts(int(counted[0] or 0), int(counted[1] or 0), int(counted[2] or 0))


def mark_missing_deleted(conn: Connection, schema: str, seen: str, version: int, now: dt.datetime) -> int:
    """Full scan anti-join: rows not listed by Stripe any more were deleted."""
    target = customers_table(schema)
    result = conn.execute(
        sa.text(
            f"UPDATE {target} SET deleted = TRUE, deleted_at = :now, synced_at = :now, mirror_version = :version "
            f"WHERE NOT deleted AND NOT EXISTS (SELECT 1 FROM {seen} s WHERE s.id = {target}.id)"
        ),
        {"now": now, "version": version},
    )
    return int(result.rowcount or 0)

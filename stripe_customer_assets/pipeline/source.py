"""Reading the mirror: pages of customers in id order, with the filter evaluated in SQL.

A full rebuild reads every live customer that matches. An incremental run reads every
customer whose ``mirror_version`` is in (since, upto], matching or not and deleted or
not, because those that stopped matching or were deleted must leave the table. Pages
are keyset-paginated on ``id``, so memory stays bounded on any mirror size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.table import customers_table
from stripe_customer_assets.pipeline.filters.sql import SqlFilter
from stripe_customer_assets.warehouse.ddl import table_exists


@dataclass(frozen=True)
class MirrorRow:
    id: str
    deleted: bool
    matches: bool
    mirror_version: int
    customer: dict[str, Any] | None  # the Stripe customer, when live and matching

    @property
    def wanted(self) -> bool:
        return self.matches and not self.deleted


def mirror_exists(conn: Connection, schema: str) -> bool:
    return table_exists(conn, customers_table(schema))


def mirror_version(conn: Connection, schema: str) -> int:
    """The newest mirror version committed (0 for an empty mirror)."""
    return int(
        conn.exec_driver_sql(
            f"SELECT COALESCE(MAX(mirror_version), 0) FROM {customers_table(schema)}"
        ).scalar()
    )


def read_page(
    conn: Connection,
    schema: str,
    where: SqlFilter,
    *,
    after: str,
    limit: int,
    since: int | None = None,
    upto: int | None = None,
) -> list[MirrorRow]:
    """Up to ``limit`` customers with id > ``after``: changed in (since, upto] when ``since``
    is given (incremental), else every live matching customer (full)."""
    changed = ""
    params: dict[str, Any] = {**where.params, "after": after, "limit": limit}
    if since is not None:
        changed = " AND m.mirror_version > :since AND m.mirror_version <= :upto"
        params.update(since=since, upto=upto)
    wanted_only = "" if since is not None else " WHERE s.matches AND NOT s.deleted"
    sql = (
        "SELECT s.id, s.deleted, s.matches, s.mirror_version, "
        "CASE WHEN s.matches AND NOT s.deleted THEN s.raw END AS raw FROM ("
        # The customer in the pinned API version's shape (an old event's JSON is rewritten).
        f"SELECT m.id, m.deleted, m.mirror_version, COALESCE(m.raw_normalized, m.raw) AS raw, "
        f"COALESCE({where.sql}, FALSE) AS matches "
        f"FROM {customers_table(schema)} m WHERE m.id > :after{changed}) s"
        f"{wanted_only} ORDER BY s.id LIMIT :limit"
    )
    return [
        MirrorRow(row[0], bool(row[1]), bool(row[2]), int(row[3]), _customer(row[4]))
        for row in conn.execute(sa.text(sql), params)
    ]


def _customer(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    return raw if isinstance(raw, dict) else json.loads(raw)

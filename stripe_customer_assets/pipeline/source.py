"""Reading the mirror: pages of customers in id order, with the filter evaluated in SQL.

A full rebuild reads every live customer that matches. An incremental run reads every
customer whose ``mirror_version`` is in (since, upto], matching or not and deleted or
not, because those that stopped matching or were deleted must leave the table. Pages
are keyset-paginated on ``id`` (Stripe ids are unique across accounts), so memory stays
bounded on any mirror size. Each customer carries the mirror's ``account`` as
``customer["account"]`` (the property ``account``).
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
from stripe_customer_assets.warehouse.names import Table


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


def account_sql(conn: Connection, table: Table) -> str:
    """``m.account``, or NULL for a mirror table without the column (made before accounts)."""
    found = conn.execute(
        sa.text(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :name AND column_name = 'account'"
        ),
        {"schema": table.schema, "name": table.name},
    ).first()
    return "m.account" if found else "CAST(NULL AS VARCHAR)"


def with_account(customer: dict[str, Any] | None, account: Any) -> dict[str, Any] | None:
    """The customer with the mirror's account key (``customer["account"]``)."""
    if customer is None or account is None:
        return customer
    return {**customer, "account": account}


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
        "CASE WHEN s.matches AND NOT s.deleted THEN s.raw END AS raw, s.account FROM ("
        # The customer in the pinned API version's shape (an old event's JSON is rewritten).
        f"SELECT m.id, m.deleted, m.mirror_version, COALESCE(m.raw_normalized, m.raw) AS raw, "
        f"{account_sql(conn, customers_table(schema))} AS account, "
        f"COALESCE({where.sql}, FALSE) AS matches "
        f"FROM {customers_table(schema)} m WHERE m.id > :after{changed}) s"
        f"{wanted_only} ORDER BY s.id LIMIT :limit"
    )
    return [
        MirrorRow(row[0], bool(row[1]), bool(row[2]), int(row[3]), with_account(_customer(row[4]), row[5]))
        for row in conn.execute(sa.text(sql), params)
    ]


def _customer(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    return raw if isinstance(raw, dict) else json.loads(raw)

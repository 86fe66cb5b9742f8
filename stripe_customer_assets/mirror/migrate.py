"""Mirror tables made when a mirror held one Stripe account get their ``account`` column.

Several accounts share the mirror's tables, each row naming its account key. A table made
before that has no ``account`` column: the next refresh adds it in place, the rows it holds
belonging to the account being refreshed (a single-account deployment's own name), and
re-keys the table with ``account`` first. Nothing is rescanned.

PostgreSQL alters the table (the column with the account as its default for the existing
rows, then the primary key replaced). DuckDB cannot change a primary key: the table is
rebuilt under its name in the same transaction. Both run under the project's DDL lock
(``warehouse/ddl.py``) and look again once it is held, so two runs migrating at once
migrate once.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.table import sql_literal
from stripe_customer_assets.warehouse.ddl import lock_ddl, table_exists
from stripe_customer_assets.warehouse.names import Table, qualified, quote_ident


def _columns(conn: Connection, table: Table) -> list[str]:
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :name ORDER BY ordinal_position"
        ),
        {"schema": table.schema, "name": table.name},
    )
    return [row[0] for row in rows]


def lacks_account(conn: Connection, table: Table) -> bool:
    """Whether ``table`` exists and was made before it had an ``account`` column."""
    columns = _columns(conn, table)
    return bool(columns) and "account" not in columns


def add_account(
    conn: Connection,
    table: Table,
    account: str,
    key: list[str] | None,
    create: Callable[[Connection, str], None],
) -> bool:
    """Give ``table`` its ``account`` column (existing rows: ``account``) and the primary key
    (account, *key) (``key`` None: the table has none). ``create(conn, name)`` makes the
    table's current shape under ``name`` (DuckDB's rebuild). True when it migrated."""
    if not lacks_account(conn, table):
        return False
    lock_ddl(conn)
    if not lacks_account(conn, table):  # another run migrated it while this one waited
        return False
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD COLUMN account VARCHAR NOT NULL DEFAULT {sql_literal(account)}"
        )
        conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN account DROP DEFAULT")
        if key is not None:
            constraint = conn.execute(
                sa.text("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:t) AND contype = 'p'"),
                {"t": str(table)},
            ).scalar()
            if constraint is not None:
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {quote_ident(constraint)}")
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(['account', *key])})"
            )
        return True
    old = _columns(conn, table)
    rebuilt = qualified(table.schema, f"{table.name}__accounts")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {rebuilt}")
    create(conn, rebuilt)
    new = set(_columns(conn, rebuilt))
    kept = [c for c in old if c in new]
    cols = ", ".join(quote_ident(c) for c in kept)
    conn.exec_driver_sql(
        f"INSERT INTO {rebuilt} (account, {cols}) SELECT {sql_literal(account)}, {cols} FROM {table}"
    )
    conn.exec_driver_sql(f"DROP TABLE {table}")
    conn.exec_driver_sql(f"ALTER TABLE {rebuilt} RENAME TO {quote_ident(table.name)}")
    return True


def exists_with_account(conn: Connection, table: Table) -> bool:
    """Whether ``table`` exists in the shape that has ``account``."""
    return table_exists(conn, table) and not lacks_account(conn, table)

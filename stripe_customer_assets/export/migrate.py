"""Giving a sync's tables made before accounts their ``account`` column, in place.

The rows such a table holds were written for the deployment's single account, so they get
that account's key (``STRIPE_ACCOUNT_NAME``, default ``default``; a sync with a fixed
``account`` gets that one). Tables without a key just gain the column with that value; the
state table, keyed by (key, stripe_id), is rebuilt keyed by (account, key, stripe_id) (a
primary key cannot be altered in DuckDB): one transaction, under the DDL lock, so a
concurrent run sees the old table or the new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.export.accounts import single_account
from stripe_customer_assets.warehouse.ddl import add_columns, lock_ddl
from stripe_customer_assets.warehouse.names import Table, qualified, quote_ident

if TYPE_CHECKING:
    from stripe_customer_assets.export.config import ExportConfig


def migration_account(config: ExportConfig) -> str:
    """The account the rows of a table made before accounts were written for."""
    return config.account or single_account()


def _literal(account: str) -> str:
    return "'" + account.replace("'", "''") + "'"


def _columns(conn: Connection, table: Table) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :schema AND table_name = :name ORDER BY ordinal_position"
            ),
            {"schema": table.schema, "name": table.name},
        )
    ]


def add_account_column(conn: Connection, table: Table, account: str) -> None:
    """A table without a key: the ``account`` column, holding ``account`` in existing rows."""
    add_columns(conn, table, [("account", f"VARCHAR DEFAULT {_literal(account)}")])


def add_account_key(conn: Connection, table: Table, columns_ddl: str, account: str) -> None:
    """Rebuild ``table`` (made with ``columns_ddl`` less its ``account`` column) with the
    account in its key, its rows under ``account``. Nothing to do once it has the column."""
    if "account" in _columns(conn, table):
        return
    lock_ddl(conn)
    have = _columns(conn, table)
    if "account" in have:  # another run migrated it while we waited
        return
    assert table.schema is not None
    new = qualified(table.schema, f"{table.name}__accounts")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {new}")
    conn.exec_driver_sql(f"CREATE TABLE {new} ({columns_ddl})")
    names = ", ".join(quote_ident(c) for c in have)
    conn.exec_driver_sql(
        f"INSERT INTO {new} (account, {names}) SELECT {_literal(account)}, {names} FROM {table}"
    )
    conn.exec_driver_sql(f"DROP TABLE {table}")
    conn.exec_driver_sql(f"ALTER TABLE {new} RENAME TO {quote_ident(table.name)}")

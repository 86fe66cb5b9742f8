"""Creating shared schemas, tables and indexes safely when several runs start at once.

On PostgreSQL ``CREATE SCHEMA/TABLE/INDEX IF NOT EXISTS`` is not safe against a concurrent
creator: both transactions pass the check and the second fails on the catalog's unique index
(``UniqueViolation ... pg_namespace_nspname_index`` or ``pg_type_typname_nsp_index``), as
pipelines started in parallel on a fresh warehouse did. So a missing object is created
under a transaction-scoped advisory lock (``pg_advisory_xact_lock``), held until the
creating transaction ends, and looked for again once the lock is held: the second run waits
for the first to commit and then finds the object. An object that exists costs one catalog
lookup and no lock, so a long transaction that only finds its tables never holds it.

DuckDB allows one writer at a time (``engine.py``'s file lock), so its statements just run.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.warehouse.names import Table, qualified, quote_ident

# One lock for every DDL statement of the project (creation is rare and quick).
DDL_LOCK_NAME = "stripe_customer_assets:ddl"


def lock_ddl(conn: Connection) -> None:
    """Take the project's DDL lock until this transaction ends (PostgreSQL; no-op elsewhere)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": DDL_LOCK_NAME}
        )


def _exists(conn: Connection, schema: str, name: str | None) -> bool:
    if name is None:
        sql, value = "SELECT to_regnamespace(:v) IS NOT NULL", quote_ident(schema)
    else:
        sql, value = "SELECT to_regclass(:v) IS NOT NULL", qualified(schema, name)
    return bool(conn.execute(sa.text(sql), {"v": value}).scalar())


def ensure(conn: Connection, statement: str, schema: str, name: str | None = None) -> None:
    """Run ``statement`` (a ``CREATE .. IF NOT EXISTS``) unless ``schema`` / ``schema.name`` exists.

    ``name`` is a table or index in ``schema``; without it the object is the schema itself.
    """
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(statement)
        return
    if _exists(conn, schema, name):
        return
    lock_ddl(conn)
    if not _exists(conn, schema, name):  # another run may have created it while we waited
        conn.exec_driver_sql(statement)


def ensure_schema(conn: Connection, schema: str) -> None:
    """``CREATE SCHEMA IF NOT EXISTS``, safe against runs doing the same at the same moment."""
    ensure(conn, f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}", schema)


def ensure_table(conn: Connection, table: Table, columns: str) -> None:
    """``table``'s schema and ``CREATE TABLE IF NOT EXISTS table (columns)``, both safe against
    runs doing the same at the same moment."""
    if table.schema is None:
        raise ValueError(f"ensure_table needs a schema-qualified table, not {table}")
    ensure_schema(conn, table.schema)
    ensure(conn, f"CREATE TABLE IF NOT EXISTS {table} ({columns})", table.schema, table.name)


def table_exists(conn: Connection, table: Table) -> bool:
    """Whether ``table`` exists (without a schema: in the connection's current schema)."""
    return sa.inspect(conn).has_table(table.name, schema=table.schema)


def add_columns(conn: Connection, table: Table, columns: list[tuple[str, str]]) -> None:
    """Give ``table``, made before some of ``columns`` (name, SQL type) existed, the ones it lacks.

    One look at the catalog; the DDL lock only when a column is missing, since another run may
    be adding it at the same moment."""
    have = {
        row[0]
        for row in conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :schema AND table_name = :name"
            ),
            {"schema": table.schema, "name": table.name},
        )
    }
    missing = [(name, kind) for name, kind in columns if name not in have]
    if missing:
        lock_ddl(conn)
    for name, kind in missing:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote_ident(name)} {kind}")

"""Bulk writes per dialect: never row-by-row.

- PostgreSQL: ``COPY`` (CSV written by Arrow) into a temporary staging table, then one
  ``INSERT .. SELECT .. ON CONFLICT``; into an empty table (or for a plain append) the
  ``COPY`` goes straight into the target.
- DuckDB: the DataFrame is registered as an Arrow table (zero-copy for Arrow-backed
  columns) and inserted with one ``INSERT .. SELECT``.

An upsert with ``only_if_changed`` first keeps the rows that are new or changed (a join on
the key), so unchanged rows never reach ``ON CONFLICT``: on DuckDB an update is a delete
plus an insert through the key's index, several times the cost of skipping the row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from stripe_customer_assets.warehouse.names import quote_ident
from stripe_customer_assets.warehouse.nul import (
    NUL,
    NUL_TEXT,
    arrow_for_postgres,
    frame_value_for_postgres,
    json_columns,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

NULL_MARKER = "__sca_null_7f3e9b__"




def _arrow(df: pd.DataFrame) -> pa.Table | None:
    """``df`` as Arrow, or None when a column does not convert (mixed Python objects)."""
    import pyarrow as pa
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def copy_arrow(conn: Connection, table_sql: str, table: pa.Table) -> None:
    """``COPY`` an Arrow table into ``table_sql`` (PostgreSQL), columns in ``table``'s order.

    Arrow's CSV quotes every string, so an empty string stays one; NULL is an empty field.
    A NUL character (which PostgreSQL cannot hold) is written as ``\\u0000`` (``nul.py``).
    """
    import pyarrow.csv as pa_csv
    table = arrow_for_postgres(conn, table_sql, table)
    cols = ", ".join(quote_ident(name) for name in table.column_names)
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    _copy_expert(conn, f"COPY {table_sql} ({cols}) FROM STDIN WITH (FORMAT csv)", buffer)


def _copy_expert(conn: Connection, command: str, buffer: io.BytesIO | io.StringIO) -> None:
    buffer.seek(0)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.copy_expert(command, buffer)
    finally:
        cursor.close()


def _copy(conn: Connection, table_sql: str, df: pd.DataFrame) -> None:
    """``COPY`` ``df`` into ``table_sql`` (PostgreSQL)."""
    table = _arrow(df)
    if table is not None:
        copy_arrow(conn, table_sql, table)
        return
    # Every text value is quoted, so an empty string stays an empty string; missing values
    # are written as a marker that FORCE_NULL turns into NULL.
    df = _escape_nul(conn, table_sql, df)
    cols = ", ".join(quote_ident(str(c)) for c in df.columns)
    buffer = io.StringIO()
    df.to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_NONNUMERIC, na_rep=NULL_MARKER)
    command = f"COPY {table_sql} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '{NULL_MARKER}', FORCE_NULL ({cols}))"
    _copy_expert(conn, command, buffer)


def _escape_nul(conn: Connection, table_sql: str, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with NUL characters as PostgreSQL can hold them (see ``nul.py``)."""
    found = [
        str(c)
        for c in df.columns
        if df[c].dtype == object and any(isinstance(v, str) and (NUL in v or NUL_TEXT in v) for v in df[c])
    ]
    if not found:
        return df
    json_cols = json_columns(conn, table_sql)
    df = df.copy()
    for name in found:
        df[name] = [frame_value_for_postgres(v, name in json_cols) for v in df[name]]
    return df


def _stage(conn: Connection, target_sql: str, df: pd.DataFrame) -> str:
    """Make ``df`` visible to SQL in this transaction; return the relation name."""
    dialect = conn.dialect.name
    stage = f"stage_{uuid.uuid4().hex[:12]}"
    if dialect == "duckdb":
        # DuckDB refuses to register while an earlier result (e.g. after ``.first()``) is
        # unfinished; a fully fetched statement completes it.
        conn.exec_driver_sql("SELECT 1").fetchall()
        table = _arrow(df)
        conn.connection.driver_connection.register(stage, df if table is None else table)
        return stage
    if dialect == "postgresql":
        cols = ", ".join(quote_ident(c) for c in df.columns)
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM {target_sql} WITH NO DATA"
        )
        _copy(conn, stage, df)
        return stage
    raise NotImplementedError(f"bulk writes are not implemented for the {dialect} dialect")


def _unstage(conn: Connection, stage: str) -> None:
    if conn.dialect.name == "duckdb":
        conn.connection.driver_connection.unregister(stage)


def _is_empty(conn: Connection, target_sql: str) -> bool:
    return conn.exec_driver_sql(f"SELECT 1 FROM {target_sql} LIMIT 1").first() is None


@contextlib.contextmanager
def staged(conn: Connection, target_sql: str, df: pd.DataFrame) -> Iterator[str]:
    """``df`` as a relation SQL can select from, for the rest of the block.

    ``target_sql`` gives the column types (PostgreSQL stages into a temporary table
    shaped like it).
    """
    stage = _stage(conn, target_sql, df)
    try:
        yield stage
    finally:
        _unstage(conn, stage)


def upsert_frame(
    conn: Connection,
    target_sql: str,
    df: pd.DataFrame,
    key: Sequence[str],
    *,
    only_if_changed: Sequence[str] | None = None,
) -> None:
    """Insert ``df`` into ``target_sql`` (already quoted), updating rows whose key exists.

    ``only_if_changed``: update an existing row only when one of these columns differs,
    so unchanged rows keep their bookkeeping columns (versions, timestamps).
    The key must be unique within ``df``.
    """
    if df.empty:
        return
    if _is_empty(conn, target_sql):
        write_frame(conn, target_sql, df)  # nothing to conflict with
        return
    stage = _stage(conn, target_sql, df)
    try:
        cols = [str(c) for c in df.columns]
        col_list = ", ".join(quote_ident(c) for c in cols)
        updates = ", ".join(f"{quote_ident(c)} = excluded.{quote_ident(c)}" for c in cols if c not in key)
        conflict = f"ON CONFLICT ({', '.join(quote_ident(k) for k in key)}) "
        source = stage
        if updates:
            conflict += f"DO UPDATE SET {updates}"
            if only_if_changed:
                cond = " OR ".join(
                    f"{target_sql}.{quote_ident(c)} IS DISTINCT FROM excluded.{quote_ident(c)}" for c in only_if_changed
                )
                conflict += f" WHERE {cond}"
                # Only new and changed rows go on to ON CONFLICT.
                join = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
                changed = " OR ".join(f"t.{quote_ident(c)} IS DISTINCT FROM s.{quote_ident(c)}" for c in only_if_changed)
                picked = ", ".join(f"s.{quote_ident(c)}" for c in cols)
                source = (
                    f"(SELECT {picked} FROM {stage} AS s LEFT JOIN {target_sql} AS t ON {join} "
                    f"WHERE t.{quote_ident(key[0])} IS NULL OR {changed})"
                )
        else:
            conflict += "DO NOTHING"
        conn.exec_driver_sql(
            f"INSERT INTO {target_sql} ({col_list}) SELECT {col_list} FROM {source} AS src {conflict}"
        )
    finally:
        _unstage(conn, stage)


def write_frame(conn: Connection, target_sql: str, df: pd.DataFrame) -> None:
    """Append ``df`` to ``target_sql`` in bulk."""
    if df.empty:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, target_sql, df)
        return
    stage = _stage(conn, target_sql, df)
    try:
        col_list = ", ".join(quote_ident(str(c)) for c in df.columns)
        conn.exec_driver_sql(f"INSERT INTO {target_sql} ({col_list}) SELECT {col_list} FROM {stage}")
    finally:
        _unstage(conn, stage)


@contextlib.contextmanager
def staged_arrow(conn: Connection, columns: Sequence[tuple[str, str]], table: pa.Table) -> Iterator[str]:
    """``table`` as a relation SQL can select from, for the rest of the block.

    ``columns``: (name, SQL type) in the order of ``table``'s columns. DuckDB reads the
    Arrow table in place; PostgreSQL receives it with one ``COPY`` (CSV written by Arrow:
    strings are quoted, so an empty string stays one and NULL stays NULL).
    """
    dialect = conn.dialect.name
    stage = f"stage_{uuid.uuid4().hex[:12]}"
    if dialect == "duckdb":
        conn.exec_driver_sql("SELECT 1").fetchall()  # see _stage
        driver = conn.connection.driver_connection
        driver.register(stage, table)
        try:
            yield stage
        finally:
            driver.unregister(stage)
        return
    if dialect != "postgresql":
        raise NotImplementedError(f"bulk writes are not implemented for the {dialect} dialect")
    defs = ", ".join(f"{quote_ident(name)} {sql_type}" for name, sql_type in columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} ({defs}) ON COMMIT DROP")
    if table.num_rows:
        copy_arrow(conn, stage, table.rename_columns([name for name, _ in columns]))
    try:
        yield stage
    finally:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")

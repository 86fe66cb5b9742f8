"""The pipeline's table: columns from the customer model, rows written in bulk.

Columns: ``stripe_customer_id`` (primary key), one per model property (``NOT NULL`` when
the property is not nullable), then ``_synced_at``, ``_mirror_version`` and ``_row_hash``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.pipeline.model import KEY_COLUMN, CustomerModel
from stripe_customer_assets.warehouse import quote_table, upsert_frame
from stripe_customer_assets.warehouse.ddl import ensure_schema
from stripe_customer_assets.warehouse.engine import split_table
from stripe_customer_assets.warehouse.names import quote_ident

if TYPE_CHECKING:
    import pandas as pd

ID_CHUNK = 1000
_KEY = quote_ident(KEY_COLUMN)
_DTYPES = {
    "string": "object",
    "integer": "Int64",
    "number": "Float64",
    "boolean": "boolean",
    "timestamp": "datetime64[us, UTC]",
    "json": "object",
}


@dataclass(frozen=True)
class TargetRow:
    customer_id: str
    values: dict[str, Any]
    mirror_version: int
    row_hash: str


def row_hash(model: CustomerModel, values: dict[str, Any]) -> str:
    payload = json.dumps([values.get(n) for n in model.names], default=_iso, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _iso(value: Any) -> str:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def table_columns(conn: Connection, table: str) -> list[str] | None:
    """The table's column names in order, or None when it does not exist."""
    schema, name = split_table(table, default_schema="")
    if not schema:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :name ORDER BY ordinal_position"
        ),
        {"schema": schema, "name": name},
    ).fetchall()
    return [r[0] for r in rows] or None


def create_table(conn: Connection, table: str, model: CustomerModel, dialect: str) -> None:
    schema, _ = split_table(table, default_schema="")
    if schema:
        ensure_schema(conn, schema)
    columns = [f"{_KEY} VARCHAR PRIMARY KEY"]
    for prop in model.properties:
        columns.append(
            f'{quote_ident(prop.name)} {prop.sql_type(dialect)}{"" if prop.nullable else " NOT NULL"}'
        )
    columns += [
        f"{quote_ident('_synced_at')} TIMESTAMPTZ NOT NULL",
        f"{quote_ident('_mirror_version')} BIGINT NOT NULL",
        f"{quote_ident('_row_hash')} VARCHAR NOT NULL",
    ]
    conn.exec_driver_sql(f"CREATE TABLE {quote_table(table)} ({', '.join(columns)})")


def drop_table(conn: Connection, table: str) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote_table(table)}")


def existing_hashes(conn: Connection, table: str, customer_ids: list[str]) -> dict[str, str]:
    statement = sa.text(
        f"SELECT {_KEY}, {quote_ident('_row_hash')} FROM {quote_table(table)} WHERE {_KEY} IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    found: dict[str, str] = {}
    for start in range(0, len(customer_ids), ID_CHUNK):
        chunk = customer_ids[start : start + ID_CHUNK]
        found.update({row[0]: row[1] for row in conn.execute(statement, {"ids": chunk})})
    return found


def delete_rows(conn: Connection, table: str, customer_ids: Iterable[str]) -> None:
    statement = sa.text(
        f"DELETE FROM {quote_table(table)} WHERE {_KEY} IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    ids = list(customer_ids)
    for start in range(0, len(ids), ID_CHUNK):
        conn.execute(statement, {"ids": ids[start : start + ID_CHUNK]})


def upsert_rows(
    conn: Connection,
    table: str,
    model: CustomerModel,
    rows: list[TargetRow],
    synced_at: dt.datetime,
) -> None:
    if rows:
        upsert_frame(conn, quote_table(table), rows_frame(model, rows, synced_at), key=[KEY_COLUMN])


def rows_frame(model: CustomerModel, rows: list[TargetRow], synced_at: dt.datetime) -> pd.DataFrame:
    """A frame typed per column, so both bulk paths read the types right."""
    import pandas as pd
    data: dict[str, pd.Series] = {
        KEY_COLUMN: pd.Series([r.customer_id for r in rows], dtype=object)
    }
    for prop in model.properties:
        values = [r.values.get(prop.name) for r in rows]
        if prop.type == "timestamp":
            data[prop.name] = pd.Series(
                pd.to_datetime(values, utc=True), dtype=_DTYPES["timestamp"]
            )
        else:
            data[prop.name] = pd.Series(values, dtype=_DTYPES[prop.type])
    data["_synced_at"] = pd.Series([synced_at] * len(rows), dtype="datetime64[us, UTC]")
    data["_mirror_version"] = pd.Series([r.mirror_version for r in rows], dtype="Int64")
    data["_row_hash"] = pd.Series([r.row_hash for r in rows], dtype=object)
    return pd.DataFrame(data)


def removed_by_filter(
    conn: Connection, table: str, mirror_sql: str, filter_sql: str, params: dict[str, Any]
) -> int:
    """Delete rows whose customer is deleted or no longer matches; returns how many."""
    target = quote_table(table)
    result = conn.execute(
        sa.text(
            f"DELETE FROM {target} WHERE NOT EXISTS (SELECT 1 FROM {mirror_sql} m "
            f"WHERE m.id = {target}.{_KEY} AND NOT m.deleted AND {filter_sql}) "
            f"RETURNING {_KEY}"
        ),
        params,
    )
    return len(result.fetchall())


def table_preview(conn: Connection, table: str, limit: int = 10) -> pd.DataFrame:
    import pandas as pd
    result = conn.execute(
        sa.text(
            f"SELECT * FROM {quote_table(table)} ORDER BY {quote_ident('_synced_at')} DESC, {_KEY} LIMIT :limit"
        ),
        {"limit": limit},
    )
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.drop(columns=["_row_hash"], errors="ignore")


def row_count(conn: Connection, table: str) -> int:
    return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {quote_table(table)}").scalar() or 0)

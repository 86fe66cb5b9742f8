"""``history: true``: the pipeline's table keeps every version of each typed row, like a dbt
snapshot, built from the mirror's customer history (``mirror/history.py``).

Columns: the key and the model's properties, then ``valid_from``, ``valid_to`` (NULL while
current), ``is_current``, and the bookkeeping columns; one row per customer and mirror
version that changed the typed row (key: ``stripe_customer_id, _mirror_version``).

Each mirror version, in order, is filtered and transformed as a plain run would: a typed
row that differs from the customer's current one closes it (``valid_to`` = the new
``valid_from``) and becomes current; a customer deleted, no longer matching, skipped or
rejected has its current row closed and none opened. A version that leaves the typed row
as it was adds nothing. An incremental run reads the mirror versions committed since the
last run; a full rebuild replays the whole retained history (``STRIPE_HISTORY_DAYS``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.history import history_table
from stripe_customer_assets.pipeline.errors import PipelineRunError
from stripe_customer_assets.pipeline.model import BOOKKEEPING_COLUMNS, KEY_COLUMN, CustomerModel
from stripe_customer_assets.pipeline.rejects import Reject, write_rejects
from stripe_customer_assets.pipeline.source import _customer, account_sql, with_account
from stripe_customer_assets.pipeline.target import TargetRow, row_hash, rows_frame
from stripe_customer_assets.pipeline.transforms.apply import transform_customers
from stripe_customer_assets.warehouse import quote_table, write_frame
from stripe_customer_assets.warehouse.ddl import ensure_schema, table_exists
from stripe_customer_assets.warehouse.engine import split_table
from stripe_customer_assets.warehouse.names import quote_ident

if TYPE_CHECKING:
    from stripe_customer_assets.pipeline.compiled import Pipeline
    from stripe_customer_assets.pipeline.filters.sql import SqlFilter
    from stripe_customer_assets.pipeline.result import PipelineResult
    from stripe_customer_assets.pipeline.transforms.javascript import JavaScriptTransform

VALIDITY_COLUMNS = ("valid_from", "valid_to", "is_current")
_KEY = quote_ident(KEY_COLUMN)


def history_columns(model: CustomerModel) -> list[str]:
    return [KEY_COLUMN, *model.names, *VALIDITY_COLUMNS, *BOOKKEEPING_COLUMNS]


def create_history_table(conn: Connection, table: str, model: CustomerModel, dialect: str) -> None:
    schema, _ = split_table(table, default_schema="")
    if schema:
        ensure_schema(conn, schema)
    columns = [f"{_KEY} VARCHAR NOT NULL"]
    for prop in model.properties:
        columns.append(f'{quote_ident(prop.name)} {prop.sql_type(dialect)}{"" if prop.nullable else " NOT NULL"}')
    columns += [
        "valid_from TIMESTAMPTZ NOT NULL",
        "valid_to TIMESTAMPTZ",
        "is_current BOOLEAN NOT NULL",
        f"{quote_ident('_synced_at')} TIMESTAMPTZ NOT NULL",
        f"{quote_ident('_mirror_version')} BIGINT NOT NULL",
        f"{quote_ident('_row_hash')} VARCHAR NOT NULL",
        f"PRIMARY KEY ({_KEY}, {quote_ident('_mirror_version')})",
    ]
    conn.exec_driver_sql(f"CREATE TABLE {quote_table(table)} ({', '.join(columns)})")


@dataclass
class _Opened:
    row: TargetRow
    valid_from: dt.datetime
    valid_to: dt.datetime | None = None  # set when a later version of the same page closes it


@dataclass(frozen=True)
class Version:
    id: str
    mirror_version: int
    valid_from: dt.datetime
    wanted: bool
    customer: dict[str, Any] | None


def _pages(
    conn: Connection, schema: str, where: SqlFilter, since: int | None, upto: int, size: int
) -> Iterator[list[Version]]:
    """The mirror's customer versions committed in (since, upto], by customer then version."""
    params: dict[str, Any] = {**where.params, "since": since or 0, "upto": upto, "limit": size}
    sql = (
        "SELECT m.id, m.mirror_version, m.valid_from, COALESCE(" + where.sql + ", FALSE) AND NOT m.deleted,"
        f" COALESCE(m.raw_normalized, m.raw), {account_sql(conn, history_table(schema))}"
        f" FROM {history_table(schema)} AS m WHERE m.mirror_version > :since AND m.mirror_version <= :upto"
        " AND (m.id > :after OR (m.id = :after AND m.mirror_version > :after_version))"
        " ORDER BY m.id, m.mirror_version LIMIT :limit"
    )
    after, after_version = "", 0
    while True:
        rows = conn.execute(sa.text(sql), {**params, "after": after, "after_version": after_version}).all()
        page = [
            Version(r[0], int(r[1]), r[2], bool(r[3]), with_account(_customer(r[4]), r[5]) if r[3] else None)
            for r in rows
        ]
        if page:
            yield page
            after, after_version = page[-1].id, page[-1].mirror_version
        if len(page) < size:
            return


def _current(conn: Connection, table: str, ids: list[str]) -> dict[str, str]:
    """The current row's hash of each customer in ``ids`` that has one."""
    statement = sa.text(
        f"SELECT {_KEY}, {quote_ident('_row_hash')} FROM {quote_table(table)} WHERE is_current AND {_KEY} IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    return {r[0]: r[1] for r in conn.execute(statement, {"ids": ids})} if ids else {}


def run_history(
    conn: Connection,
    pipeline: Pipeline,
    schema: str,
    since: int | None,
    upto: int,
    javascript: JavaScriptTransform | None,
    result: PipelineResult,
    run_id: str | None,
    now: dt.datetime,
    page_size: int,
) -> None:
    """Add the typed versions of the mirror versions in (since, upto]; since None: rebuild."""
    table = pipeline.table
    if not table_exists(conn, history_table(schema)):
        raise PipelineRunError(
            f"pipeline '{pipeline.name}' has history: true but the mirror's customer history "
            f"{history_table(schema)} does not exist yet: materialize stripe/customers first"
        )
    if since is None:
        conn.exec_driver_sql(f"DELETE FROM {quote_table(table)}")
    where = pipeline.filter_sql(conn.dialect.name)
    for page in _pages(conn, schema, where, since, upto, page_size):
        wanted = [v for v in page if v.wanted]
        outcomes = iter(transform_customers(pipeline, [v.customer or {} for v in wanted], javascript))
        current = _current(conn, table, sorted({v.id for v in page}))
        opened: list[_Opened] = []
        closes: list[dict[str, Any]] = []  # rows already in the table to close
        rejects: list[Reject] = []
        for v in page:
            row = None
            if v.wanted:
                result.processed += 1
                outcome = next(outcomes)
                if outcome.row is None:
                    if outcome.reject is not None:
                        rejects.append(Reject(v.id, outcome.reject, v.mirror_version))
                    else:
                        result.skipped += 1
                else:
                    row = TargetRow(v.id, outcome.row, v.mirror_version, row_hash(pipeline.model, outcome.row))
            before = current.get(v.id)
            if row is not None and row.row_hash == before:
                result.unchanged += 1
                continue
            if before is not None:  # the current row ends here
                if opened and opened[-1].row.customer_id == v.id and opened[-1].valid_to is None:
                    opened[-1].valid_to = v.valid_from
                else:
                    closes.append({"id": v.id, "to": v.valid_from})
                if row is None:
                    result.removed += 1
            if row is not None:
                result.inserted += before is None
                result.updated += before is not None
                opened.append(_Opened(row, v.valid_from))
                current[v.id] = row.row_hash
            else:
                current.pop(v.id, None)
        _close(conn, table, closes)
        _insert(conn, table, pipeline.model, opened, now)
        write_rejects(conn, schema, pipeline.name, rejects, run_id, now)
        result.add_rejects(rejects)


def _close(conn: Connection, table: str, closes: list[dict[str, Any]]) -> None:
    if closes:
        conn.execute(
            sa.text(f"UPDATE {quote_table(table)} SET valid_to = :to, is_current = FALSE WHERE {_KEY} = :id AND is_current"),
            closes,
        )


def _insert(conn: Connection, table: str, model: CustomerModel, opened: list[_Opened], now: dt.datetime) -> None:
    """Append the new versions (in the table's column order)."""
    if not opened:
        return
    import pandas as pd

    frame = rows_frame(model, [o.row for o in opened], now)
    at = len(model.names) + 1
    starts = pd.to_datetime([o.valid_from for o in opened], utc=True)
    ends = pd.to_datetime([o.valid_to for o in opened], utc=True)
    frame.insert(at, "valid_from", pd.Series(starts, dtype="datetime64[us, UTC]"))
    frame.insert(at + 1, "valid_to", pd.Series(ends, dtype="datetime64[us, UTC]"))
    frame.insert(at + 2, "is_current", pd.Series([o.valid_to is None for o in opened], dtype="boolean"))
    write_frame(conn, quote_table(table), frame)

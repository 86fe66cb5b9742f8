"""Key resolution: the model joined with the mirror, in the warehouse (no Stripe calls).

One query runs the model once and left-joins every row to the live (not deleted) mirror
customers its key matches: ``email`` case-insensitively, ``id`` exactly, ``metadata.<key>``
on the JSON value. Deleted customers that carried the key are returned apart: they make a
re-create after a deletion a new request (see ``payload.idempotency_key``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.errors import ExportModelError
from stripe_customer_assets.mirror.table import customers_table, ensure_tables
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.names import quote_ident

_ROW, _KEY, _ACCOUNT = "__export_row", "__export_key", "__export_account"
_SYNCED = "__stripe_synced_at"
_ID, _CREATED, _VERSION, _DELETED, _RAW = (
    "__stripe_id",
    "__stripe_created",
    "__stripe_version",
    "__stripe_deleted",
    "__stripe_raw",
)


@dataclass(frozen=True)
class Match:
    """A mirror customer a model row's key matched."""

    id: str
    created: dt.datetime | None
    version: int
    customer: dict[str, Any]
    synced_at: dt.datetime | None = None  # when the mirror last changed this customer


@dataclass
class ModelRow:
    number: int  # 1-based position in the model's result
    key: str | None  # the key column as text (emails trimmed)
    values: dict[str, Any]  # model columns the sync reads
    matches: list[Match] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)
    account: str | None = None  # the target account the model named (None: the sync names none)


def model_columns(warehouse: Warehouse, config: ExportConfig) -> list[str]:
    """The columns the model returns (runs it with LIMIT 0)."""
    sql = f"SELECT * FROM (\n{config.model_sql}\n) AS model LIMIT 0"
    try:
        with warehouse.begin() as conn:
            return list(conn.execute(sa.text(sql)).keys())
    except sa.exc.SQLAlchemyError as err:
        raise ExportModelError(
            f"sync '{config.name}': the model SQL{_where(config)} failed in the warehouse: "
            f"{getattr(err, 'orig', err)}"
        ) from err


def check_columns(config: ExportConfig, columns: Sequence[str]) -> None:
    """Every column the key and the fields name must be in the model."""
    present = set(columns)
    wanted = [("key.column", config.key.column)]
    if config.account_column:
        wanted.append(("account_column", config.account_column))
    wanted += [
        (f"fields.{path}", column) for path, column in config.fields.items()
    ]
    for attribute, column in wanted:
        if column in present:
            continue
        near = [c for c in columns if c.lower() == column.lower()]
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise ExportModelError(
            f"sync '{config.name}': `{attribute}` names model column '{column}', which the model"
            f"{_where(config)} does not return{hint}; it returns: {', '.join(columns) or 'nothing'}"
        )


def match_condition(config: ExportConfig, dialect: str) -> str:
    """SQL true when mirror row ``c`` carries model row ``model``'s key."""
    key = f"model.{quote_ident(_KEY)}"
    if config.key.stripe_field == "email":
        return f"lower(c.email) = lower({key})"
    if config.key.stripe_field == "id":
        return f"c.id = {key}"
    meta = config.key.metadata_key or ""
    if dialect == "postgresql":
        return f"(c.metadata ->> '{meta}') = {key}"
    return f"json_extract_string(c.metadata, '$.\"{meta}\"') = {key}"


def resolve_rows(
    warehouse: Warehouse, config: ExportConfig, mirror_schema: str, *, scoped: bool = True
) -> list[ModelRow]:
    """Run the model and attach the mirror customers each row's key matches (``scoped``:
    only those of the row's account, for a sync that names accounts)."""
    check_columns(config, model_columns(warehouse, config))
    key_sql = f"CAST(m.{quote_ident(config.key.column)} AS VARCHAR)"
    if config.key.stripe_field == "email":
        key_sql = f"TRIM({key_sql})"
    reads = ", ".join(f"model.{quote_ident(c)}" for c in config.model_columns)
    account_sql, same_account = account_sql_parts(config)
    if not scoped:  # a single-account mirror: every row is that account's
        same_account = ""
    sql = f"""
        SELECT model.{quote_ident(_ROW)}, model.{quote_ident(_KEY)}, {reads},
               c.id AS {quote_ident(_ID)}, c.created AS {quote_ident(_CREATED)}, c.mirror_version AS {quote_ident(_VERSION)},
               c.deleted AS {quote_ident(_DELETED)}, c.raw AS {quote_ident(_RAW)},
               c.synced_at AS {quote_ident(_SYNCED)}, model.{quote_ident(_ACCOUNT)}
        FROM (
            SELECT ROW_NUMBER() OVER () AS {quote_ident(_ROW)}, {key_sql} AS {quote_ident(_KEY)},
                   {account_sql} AS {quote_ident(_ACCOUNT)}, m.*
            FROM (
{config.model_sql}
            ) AS m
        ) AS model
        LEFT JOIN {customers_table(mirror_schema)} AS c
          ON {match_condition(config, warehouse.dialect)}{same_account}
        ORDER BY model.{quote_ident(_ROW)}, c.created DESC, c.id DESC
    """
    try:
        with warehouse.begin() as conn:
            ensure_tables(conn, mirror_schema)
            result = conn.execute(sa.text(sql))
            names = list(result.keys())
            records = result.fetchall()
    except sa.exc.SQLAlchemyError as err:
        raise ExportModelError(
            f"sync '{config.name}': reading the model{_where(config)} joined with the mirror "
            f"failed: {getattr(err, 'orig', err)}"
        ) from err
    return _group(names, records, config.model_columns)


def account_sql_parts(config: ExportConfig) -> tuple[str, str]:
    """The row's account as SQL, and the join condition keeping matches in that account.

    A sync that names no account reads the whole mirror (a single-account deployment's)."""
    if config.account_column:
        column = f"NULLIF(TRIM(CAST(m.{quote_ident(config.account_column)} AS VARCHAR)), '')"
    else:
        column = "CAST(NULL AS VARCHAR)"
    if config.account:  # checked against ACCOUNT_KEY: no quote can occur
        column = f"COALESCE({column}, '{config.account}')"
    if not (config.account_column or config.account):
        return column, ""
    return column, f" AND c.account = model.{quote_ident(_ACCOUNT)}"


def _group(
    names: list[str], records: Sequence[Sequence[Any]], columns: list[str]
) -> list[ModelRow]:
    rows: dict[int, ModelRow] = {}
    # Model columns come back in the order selected, right after the row number and key.
    value_slots = range(2, 2 + len(columns))
    at = {n: i for i, n in enumerate(names)}
    for rec in records:
        number = int(rec[0])
        row = rows.get(number)
        if row is None:
            row = rows[number] = ModelRow(
                number=number,
                key=rec[1],
                values={columns[i - 2]: rec[i] for i in value_slots},
                account=rec[at[_ACCOUNT]],
            )
        stripe_id = rec[at[_ID]]
        if stripe_id is None:
            continue
        if rec[at[_DELETED]]:
            row.deleted_ids.append(stripe_id)
            continue
        row.matches.append(
            Match(
                id=stripe_id,
                created=rec[at[_CREATED]],
                version=int(rec[at[_VERSION]] or 0),
                customer=_json(rec[at[_RAW]]),
                synced_at=_utc(rec[at[_SYNCED]]),
            )
        )
    return [rows[n] for n in sorted(rows)]


def _utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)):
        parsed = json.loads(value)
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _where(config: ExportConfig) -> str:
    return f" ({config.model_file})" if config.model_file else ""

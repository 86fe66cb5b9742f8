"""The mirror's tables: one row per Stripe customer ever seen, and the cursor.

``<schema>.customers``
    account (the account key: several Stripe accounts share the table), id, created, email, name, phone, description, currency, balance, delinquent,
    metadata / address / shipping (JSON), raw (the customer JSON as Stripe returned it),
    deleted, deleted_at, synced_at (when the row last changed), mirror_version (the
    mirror commit that last changed the row; import pipelines read "changed since"),
    api_version (the Stripe API version ``raw`` was rendered in: an event's ``api_version``,
    or the pinned version of a list), raw_normalized (``raw`` in the pinned version's shape
    when its version has another customer shape, else NULL; see ``mirror/versions.py``).

``<schema>.customers_cursor``
    one row per account (``name`` 'customers'): the newest customer event applied (id, created), the mirror version, the
    mode of the last run. Written in the same transaction as the rows it covers.

Syncs derive the typed columns from the customer JSON in SQL (``customer_columns_sql``), so
a page of 100 customers goes from Stripe's answer into the warehouse without a Python object
per customer; ``customer_row`` is the same mapping in Python, for small and test paths.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from stripe_customer_assets.warehouse.ddl import (
    add_columns,
    ensure,
    ensure_schema,
    lock_ddl,
    table_exists,
)
from stripe_customer_assets.warehouse.names import Table, qualified, quote_ident
from stripe_customer_assets.warehouse.nul import JSON_NUL_ESCAPE, JSON_NUL_REPLACEMENT

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SCHEMA = "stripe"
# The account key of a single-account deployment (``STRIPE_ACCOUNT_NAME``'s default).
DEFAULT_ACCOUNT = "default"

CUSTOMER_COLUMNS = [
    "id",
    "created",
    "email",
    "name",
    "phone",
    "description",
    "currency",
    "balance",
    "delinquent",
    "metadata",
    "address",
    "shipping",
    "raw",
    "deleted",
    "deleted_at",
    "synced_at",
    "mirror_version",
    "api_version",
    "raw_normalized",
]
# The version ``raw`` was rendered in, and ``raw`` in the pinned version's shape (or NULL).
VERSION_COLUMNS = ["api_version", "raw_normalized"]
# Columns whose change makes a row "changed" (everything Stripe owns).
CONTENT_COLUMNS = ["raw", "deleted"]
JSON_COLUMNS = ["metadata", "address", "shipping", "raw"]


def account_suffix(account: str) -> str:
    """A short name part for an account's working tables ('' for the default account, whose
    working tables keep their single-account names)."""
    if account == DEFAULT_ACCOUNT:
        return ""
    return "_" + hashlib.sha1(account.encode()).hexdigest()[:10]


def sql_literal(value: str) -> str:
    """``value`` as an SQL string literal (an account key inside generated SQL)."""
    return "'" + value.replace("'", "''") + "'"


def customers_table(schema: str = DEFAULT_SCHEMA) -> Table:
    return qualified(schema, "customers")


def cursor_table(schema: str = DEFAULT_SCHEMA) -> Table:
    return qualified(schema, "customers_cursor")


def customer_columns_ddl(json_type: str) -> str:
    """The customer's fields as Stripe holds them: the columns of the mirror and its history."""
    return f"""created TIMESTAMPTZ,
            email VARCHAR,
            name VARCHAR,
            phone VARCHAR,
            description VARCHAR,
            currency VARCHAR,
            balance BIGINT,
            delinquent BOOLEAN,
            metadata {json_type},
            address {json_type},
            shipping {json_type},
            raw {json_type} NOT NULL"""


def create_customers_table(
    conn: Connection, table: str, *, if_not_exists: bool = True, primary_key: bool = True
) -> None:
    """A table shaped like the mirror (``table`` already quoted); also the full scan's table.

    ``primary_key=False`` leaves the key to be added once the rows are in (``ALTER TABLE ..
    ADD PRIMARY KEY (account, id)``): DuckDB rewrites a whole index at every checkpoint, so a table
    filled in many batches is cheaper to index at the end.
    """
    json_type = "JSONB" if conn.dialect.name == "postgresql" else "JSON"
    conn.exec_driver_sql(
        f"""CREATE TABLE {"IF NOT EXISTS " if if_not_exists else ""}{table} (
            account VARCHAR NOT NULL,
            id VARCHAR NOT NULL,
            {customer_columns_ddl(json_type)},
            deleted BOOLEAN NOT NULL DEFAULT FALSE,
            deleted_at TIMESTAMPTZ,
            synced_at TIMESTAMPTZ NOT NULL,
            mirror_version BIGINT NOT NULL,
            api_version VARCHAR,
            raw_normalized {json_type}{", PRIMARY KEY (account, id)" if primary_key else ""}
        )"""
    )


def create_cursor_table(conn: Connection, table: str) -> None:
    conn.exec_driver_sql(
        f"""CREATE TABLE IF NOT EXISTS {table} (
            account VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            event_id VARCHAR,
            event_created TIMESTAMPTZ,
            mirror_version BIGINT NOT NULL,
            mode VARCHAR,
            updated_at TIMESTAMPTZ,
            PRIMARY KEY (account, name)
        )"""
    )


def add_version_columns(conn: Connection, schema: str) -> None:
    """Give a mirror made before API versions were recorded its two version columns."""
    json_type = "JSONB" if conn.dialect.name == "postgresql" else "JSON"
    add_columns(conn, customers_table(schema), [("api_version", "VARCHAR"), ("raw_normalized", json_type)])


def ensure_customers_index(conn: Connection, schema: str = DEFAULT_SCHEMA) -> None:
    """An index for "changed since version" reads, on PostgreSQL.

    DuckDB skips row groups by their min/max ``mirror_version`` without one, and an ART
    index there adds to every write and to every checkpoint of the database file.
    """
    if conn.dialect.name != "postgresql":
        return
    ensure(
        conn,
        f"CREATE INDEX IF NOT EXISTS customers_mirror_version ON {customers_table(schema)} (mirror_version)",
        schema,
        "customers_mirror_version",
    )


def ensure_tables(conn: Connection, schema: str = DEFAULT_SCHEMA, account: str | None = None) -> None:
    """The mirror's schema and tables; safe when several runs create them at once (``ddl.py``).

    With ``account`` (the mirror's refresh), tables made before the mirror held several
    accounts get their ``account`` column, the rows they hold becoming ``account``'s
    (``mirror/migrate.py``); without it (a reader) they are left as they are.
    """
    from stripe_customer_assets.mirror.migrate import add_account

    ensure_schema(conn, schema)
    tables = (customers_table(schema), cursor_table(schema))
    if conn.dialect.name != "postgresql" or not all(table_exists(conn, t) for t in tables):
        lock_ddl(conn)
        create_customers_table(conn, customers_table(schema))
        create_cursor_table(conn, cursor_table(schema))
    add_version_columns(conn, schema)
    if account is not None:
        add_account(conn, customers_table(schema), account, ["id"], lambda c, t: create_customers_table(c, t))
        add_account(conn, cursor_table(schema), account, ["name"], create_cursor_table)
    ensure_customers_index(conn, schema)



def _ts(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def customer_row(customer: dict[str, Any]) -> dict[str, Any]:
    """One mirror row from a customer as Stripe returned it.

    Defensive by design: a field that is missing or of an unexpected type becomes NULL in
    its typed column; the full JSON always lands in ``raw``.
    """
    # ``account_balance`` before API version 2019-10-17 (an event of that time).
    balance = customer.get("balance") if "balance" in customer else customer.get("account_balance")
    delinquent = customer.get("delinquent")
    metadata = customer.get("metadata")
    address = customer.get("address")
    shipping = customer.get("shipping")
    return {
        "id": customer["id"],
        "created": _ts(customer.get("created")),
        "email": _text(customer.get("email")),
        "name": _text(customer.get("name")),
        "phone": _text(customer.get("phone")),
        "description": _text(customer.get("description")),
        "currency": _text(customer.get("currency")),
        "balance": balance if isinstance(balance, int) and not isinstance(balance, bool) else None,
        "delinquent": delinquent if isinstance(delinquent, bool) else None,
        "metadata": _json(metadata if isinstance(metadata, dict) else None),
        "address": _json(address if isinstance(address, dict) else None),
        "shipping": _json(shipping if isinstance(shipping, dict) else None),
        "raw": _json(customer),
    }


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A typed frame of mirror rows (without bookkeeping columns)."""
    import pandas as pd
    df = pd.DataFrame.from_records(rows, columns=CUSTOMER_COLUMNS[:13])
    df["created"] = pd.to_datetime(df["created"], utc=True)
    df["balance"] = df["balance"].astype("Int64")
    df["delinquent"] = df["delinquent"].astype("boolean")
    for col in ["id", "email", "name", "phone", "description", "currency", *JSON_COLUMNS]:
        df[col] = df[col].astype("object")
    return df


# Python's datetime range (years 1..9999): ``customer_row`` leaves anything outside it NULL.
_TS_MIN, _TS_MAX = -62135596800, 253402300799
_TEXT_FIELDS = ["email", "name", "phone", "description", "currency"]
_OBJECT_FIELDS = ["metadata", "address", "shipping"]
_DUCKDB_SHAPE = "{" + ", ".join(
    f'"{name}": "JSON"'
    for name in ["id", "created", *_TEXT_FIELDS, "balance", "account_balance", "delinquent", *_OBJECT_FIELDS]
) + "}"


def customer_columns_sql(dialect: str, items: str, extra: list[str] | None = None) -> str:
    """A SELECT of the content columns (``CUSTOMER_COLUMNS[:13]``) plus ``extra`` from ``items``.

    ``items`` is a relation (a table name or a parenthesized query) whose column ``c`` holds
    one customer's JSON each: JSONB on PostgreSQL, minified JSON text on DuckDB (``raw`` is
    ``c`` as it is). The rules are ``customer_row``'s: a field of an unexpected JSON type is
    NULL in its typed column; items that are not objects with a string ``id`` are skipped.
    """
    tail = "".join(f", x.{quote_ident(name)}" for name in extra or [])
    if dialect == "duckdb":
        text = "".join(
            f", CASE WHEN json_type(f.{name}) = 'VARCHAR' THEN f.{name}->>'$' END AS {name}" for name in _TEXT_FIELDS
        )
        objects = "".join(
            f", CASE WHEN json_type(f.{name}) = 'OBJECT' THEN f.{name} END AS {name}" for name in _OBJECT_FIELDS
        )
        seconds = "TRY_CAST(f.created AS DOUBLE)"
        return (
            "SELECT f.id->>'$' AS id"
            f", CASE WHEN json_type(f.created) IN ('BIGINT', 'UBIGINT', 'DOUBLE') AND {seconds} BETWEEN {_TS_MIN} AND {_TS_MAX}"
            f" THEN to_timestamp(trunc({seconds})) END AS created"
            f"{text}"
            ", CASE WHEN json_type(f.balance) IN ('BIGINT', 'UBIGINT') THEN TRY_CAST(f.balance AS BIGINT)"
            " WHEN f.balance IS NULL AND json_type(f.account_balance) IN ('BIGINT', 'UBIGINT')"
            " THEN TRY_CAST(f.account_balance AS BIGINT) END AS balance"
            ", CASE WHEN json_type(f.delinquent) = 'BOOLEAN' THEN TRY_CAST(f.delinquent AS BOOLEAN) END AS delinquent"
            f"{objects}, x.c AS raw{tail}"
            f" FROM (SELECT *, from_json(c, '{_DUCKDB_SHAPE}') AS f FROM {items}) AS x"
            " WHERE json_type(f.id) = 'VARCHAR' AND f.id->>'$' <> ''"
        )
    if dialect == "postgresql":
        text = "".join(
            f", CASE WHEN jsonb_typeof(x.c->'{name}') = 'string' THEN x.c->>'{name}' END AS {name}"
            for name in _TEXT_FIELDS
        )
        objects = "".join(
            f", CASE WHEN jsonb_typeof(x.c->'{name}') = 'object' THEN x.c->'{name}' END AS {name}"
            for name in _OBJECT_FIELDS
        )
        return (
            "SELECT x.c->>'id' AS id"
            ", CASE WHEN jsonb_typeof(x.c->'created') = 'number'"
            f" AND (x.c->>'created')::numeric BETWEEN {_TS_MIN} AND {_TS_MAX}"
            " THEN to_timestamp(trunc((x.c->>'created')::numeric)::double precision) END AS created"
            f"{text}"
            ", CASE WHEN jsonb_typeof(x.c->'balance') = 'number' AND x.c->>'balance' ~ '^-?[0-9]{1,18}$'"
            " THEN (x.c->>'balance')::bigint"
            " WHEN x.c->'balance' IS NULL AND jsonb_typeof(x.c->'account_balance') = 'number'"
            " AND x.c->>'account_balance' ~ '^-?[0-9]{1,18}$'"
            " THEN (x.c->>'account_balance')::bigint END AS balance"
            ", CASE WHEN jsonb_typeof(x.c->'delinquent') = 'boolean' THEN (x.c->'delinquent')::boolean END AS delinquent"
            f"{objects}, x.c AS raw{tail}"
            f" FROM {items} AS x"
            " WHERE jsonb_typeof(x.c->'id') = 'string' AND x.c->>'id' <> ''"
        )
    raise NotImplementedError(f"the mirror is not implemented for the {dialect} dialect")


def page_items_sql(dialect: str, pages: str) -> str:
    """Customers of list pages as a relation with column ``c`` (for ``customer_columns_sql``).

    ``pages`` has columns ``body`` (a list answer's text, as Stripe sent it) and ``keep``
    (how many of its customers, newest first, to take).
    """
    if dialect == "duckdb":
        return (
            "(SELECT unnest(list_slice(from_json(body, '{\"data\": [\"JSON\"]}').data, 1, keep)) AS c"
            f" FROM {pages})"
        )
    if dialect == "postgresql":
        return (
            "(SELECT e.c FROM "
            f"{pages} AS p CROSS JOIN LATERAL (SELECT {pg_jsonb('p.body')} -> 'data' AS data OFFSET 0) AS d"
            " CROSS JOIN LATERAL jsonb_array_elements("
            "CASE WHEN jsonb_typeof(d.data) = 'array' THEN d.data ELSE '[]'::jsonb END"
            ") WITH ORDINALITY AS e(c, n) WHERE e.n <= p.keep)"
        )
    raise NotImplementedError(f"the mirror is not implemented for the {dialect} dialect")


def json_items_sql(
    dialect: str, texts: str, extra: list[str] | None = None, json_extra: list[str] | None = None
) -> str:
    """Customer JSON texts (column ``c``) as the relation ``customer_columns_sql`` reads.

    On DuckDB the text is minified, so a customer stored from an event and from a list page
    compares equal when Stripe's JSON is equal; ``json_extra`` columns are JSON texts treated
    the same way. (``OFFSET 0``, here and in ``page_items_sql``,
    keeps PostgreSQL from inlining the cast into every column that reads ``c``: parsed once
    per customer, not once per column.)
    """
    tail = "".join(f", {quote_ident(name)}" for name in extra or [])
    if dialect == "duckdb":
        tail += "".join(f", json({quote_ident(name)}) AS {quote_ident(name)}" for name in json_extra or [])
        return f"(SELECT json(c) AS c{tail} FROM {texts})"
    if dialect == "postgresql":
        tail += "".join(f", {pg_jsonb(quote_ident(name))} AS {quote_ident(name)}" for name in json_extra or [])
        return f"(SELECT {pg_jsonb('c')} AS c{tail} FROM {texts} OFFSET 0)"
    raise NotImplementedError(f"the mirror is not implemented for the {dialect} dialect")


def pg_jsonb(text: str) -> str:
    """SQL casting the JSON text ``text`` to jsonb on PostgreSQL.

    A ``\\u0000`` escape (U+0000, which jsonb cannot hold) is kept as the six characters it
    is written with, as every bulk write to PostgreSQL does (``warehouse/nul.py``): one such
    customer never stops the mirror. Texts without one are cast as they are.
    """
    return (
        f"(CASE WHEN strpos({text}, '\\u0000') > 0"
        f" THEN regexp_replace({text}, '{JSON_NUL_ESCAPE}', '{JSON_NUL_REPLACEMENT}', 'g')"
        f" ELSE {text} END)::jsonb"
    )


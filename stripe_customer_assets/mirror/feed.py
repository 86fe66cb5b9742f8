"""Applying Stripe's customer events to the mirror: each event once, the newest state last.

Stripe's events list is eventually consistent (an event can be listed up to about a minute
after a newer one) and does not order the events of one second. So the mirror's cursor is
a *time watermark* plus the ids of the events applied since it:

- ``customers_cursor.event_created`` is the watermark ``W``: every customer event created
  before ``W`` has been applied (or was seen by a full scan). A run lists ``created >= W``.
- ``customers_cursor_events`` holds the events created at or after ``W`` that are applied
  (``event_id``, ``customer_id``, ``created``), and one marker row per customer whose
  state was read back from Stripe (``event_id`` ``retrieved:<id>:<second>``): the mirror
  holds that customer as of that second (every event created up to it included).

Events are streamed page by page into ``customers_events_stage`` (``event_stage.py``,
bounded memory), then SQL decides per customer with a new event, looking at every event of
the customer read in this run *and* applied before (the overlap re-read is what makes this
possible):

- the newest second of the customer holds only applied events (or a marker): the mirror
  already has that state or a newer one; a late, older event changes nothing;
- it holds one event, not yet applied: that event's object is the customer's state;
- it holds several events, one of them new: the list cannot say which is last, so the
  customer is read back (``GET /v1/customers/{id}``, one call each).

Everything (rows, applied ids, markers, watermark) is committed in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.event_stage import stage_table
from stripe_customer_assets.mirror.store import (
    SOURCE_COLUMNS,
    MergeCounts,
    content_sql,
    count_changes,
    merge,
)
from stripe_customer_assets.mirror.migrate import add_account
from stripe_customer_assets.mirror.table import (
    DEFAULT_ACCOUNT,
    VERSION_COLUMNS,
    account_suffix,
    customer_columns_sql,
    customers_table,
    json_items_sql,
    sql_literal,
)
from stripe_customer_assets.stripe_api import StripeApi, StripeRequestError
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.ddl import ensure_table
from stripe_customer_assets.warehouse.names import Table, qualified, quote_ident

_RETRIEVED = "retrieved:"


def window_table(schema: str) -> Table:
    return qualified(schema, "customers_cursor_events")


_WINDOW_COLUMNS = (
    "account VARCHAR NOT NULL, event_id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, created BIGINT NOT NULL,"
    " PRIMARY KEY (account, event_id)"
)


def ensure_window_table(conn: Connection, schema: str, account: str = DEFAULT_ACCOUNT) -> None:
    """The applied events of every account (made before accounts: its rows become ``account``'s)."""
    ensure_table(conn, window_table(schema), _WINDOW_COLUMNS)
    add_account(
        conn,
        window_table(schema),
        account,
        ["event_id"],
        lambda c, t: c.exec_driver_sql(f"CREATE TABLE {t} ({_WINDOW_COLUMNS})"),
    )


def _source_table(schema: str, account: str) -> Table:
    """Scratch: the customers an incremental run writes, on DuckDB (``write_states``)."""
    return qualified(schema, f"customers_events_source{account_suffix(account)}")


def _applied_sql(schema: str, account: str) -> str:
    """``account``'s applied events and markers (of the shared window table)."""
    return f"(SELECT * FROM {window_table(schema)} WHERE account = {sql_literal(account)})"


def _ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _decisions_sql(schema: str, account: str, *, with_window: bool) -> str:
    """Per customer with an event not applied yet: its newest second and what it holds.

    Columns: customer_id, n_top (events and markers in the newest second), n_new (of
    them not applied), event_id (one of them). ``with_window=False`` ignores what was
    applied before (a full scan replaces it).
    """
    stage = stage_table(schema, account)
    applied = (
        f"SELECT event_id, customer_id, created, 1 AS applied FROM {_applied_sql(schema, account)} AS w"
        if with_window
        else "SELECT CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS BIGINT), 1 WHERE 1 = 0"
    )
    return (
        "WITH seen AS ("
        " SELECT event_id, customer_id, created, MAX(applied) AS applied FROM ("
        f"  SELECT event_id, customer_id, created, 0 AS applied FROM {stage}"
        f"  UNION ALL {applied}"
        " ) AS u GROUP BY event_id, customer_id, created),"
        " touched AS (SELECT DISTINCT customer_id FROM seen WHERE applied = 0),"
        " ranked AS (SELECT s.*, MAX(s.created) OVER (PARTITION BY s.customer_id) AS newest"
        "  FROM seen AS s JOIN touched AS t ON t.customer_id = s.customer_id)"
        " SELECT customer_id, COUNT(*) AS n_top, SUM(1 - applied) AS n_new, MIN(event_id) AS event_id"
        " FROM ranked WHERE created = newest GROUP BY customer_id"
    )


def to_retrieve(conn: Connection, schema: str, account: str, *, with_window: bool) -> list[str]:
    """Customers whose newest second holds several events, one of them new."""
    rows = conn.exec_driver_sql(
        f"SELECT customer_id FROM ({_decisions_sql(schema, account, with_window=with_window)}) AS d "
        "WHERE n_new > 0 AND n_top > 1 ORDER BY customer_id"
    ).all()
    return [row[0] for row in rows]


def staged_customers(conn: Connection, schema: str, account: str) -> list[str]:
    """Every customer with an event in the stage (a full scan's replayed events).

    A full scan reads them back instead of applying their events: the scan may have listed
    a customer after a newer change than the event (updated or deleted during the scan, the
    event of that change coming after the replay was fetched), and an event's object would
    then put an older state back.
    """
    stage = stage_table(schema, account)
    rows = conn.exec_driver_sql(f"SELECT DISTINCT customer_id FROM {stage} ORDER BY customer_id").all()
    return [row[0] for row in rows]


@dataclass
class Retrieved:
    """Customers read back from Stripe: (id, JSON text, deleted, deleted_at, the API version
    of the text, the text in the pinned version's shape when that differs) each."""

    rows: list[tuple[str, str, bool, dt.datetime | None, str | None, str | None]] = field(default_factory=list)
    as_of: dict[str, int] = field(default_factory=dict)  # last second each one includes


def retrieve_customers(
    api: StripeApi, warehouse: Warehouse, schema: str, ids: Iterable[str], account: str = DEFAULT_ACCOUNT
) -> Retrieved:
    """``GET /v1/customers/{id}`` for each of ``ids``; a deleted customer keeps its last JSON.

    Stripe answers a deleted customer with ``{"id", "object", "deleted": true}``: the row
    keeps the customer as its ``customer.deleted`` event showed it (or its newest event) and
    is flagged deleted, ``deleted_at`` being the delete event's time (else the answer's).
    """
    out = Retrieved()
    for cid in ids:
        try:
            reply = api.fetch("get", f"/v1/customers/{cid}")
            data, text = reply.data, reply.text
            served = reply.date.timestamp() - reply.elapsed_s if reply.date else api.now().timestamp()
        except StripeRequestError as err:
            if err.status != 404:
                raise
            data, text, served = {"id": cid, "deleted": True}, "", api.now().timestamp()
        out.as_of[cid] = math.floor(served) - 1
        if data.get("deleted") is True:
            with warehouse.begin() as conn:
                row = conn.execute(
                    sa.text(
                        f"SELECT obj, created, type, api_version, obj_normalized FROM {stage_table(schema, account)} "
                        "WHERE customer_id = :id "
                        "ORDER BY CASE WHEN type = 'customer.deleted' THEN 0 ELSE 1 END, created DESC LIMIT 1"
                    ),
                    {"id": cid},
                ).first()
            found = row if row is not None else (json.dumps({"id": cid}), None, None, api.api_version, None)
            obj, created, type_, version, normalized = found
            when = _ts(created) if type_ == "customer.deleted" and created is not None else _ts(served)
            out.rows.append((cid, obj, True, when, version, normalized))
        else:
            # A retrieve is rendered in the pinned Stripe-Version the client sends.
            out.rows.append((cid, text or json.dumps(data, ensure_ascii=False), False, None, api.api_version, None))
    return out


def source_relation(
    conn: Connection, schema: str, account: str, retrieved: Retrieved, *, with_window: bool
) -> tuple[str, int]:
    """Each customer's state to write, as a relation ``merge`` reads (not materialized).

    The one new event of customers whose newest second holds just it, and the customers
    read back (a small temporary table). Returns (the relation, its rows). The relation is
    a query over the stage, so the warehouse streams it into the mirror instead of holding
    a copy of every changed customer.
    """
    dialect = conn.dialect.name
    extra = ["deleted", "deleted_at", "api_version"]
    name = f"mirror_read_back_{uuid.uuid4().hex[:12]}"
    # A customer read back is written from its read-back only, never also from an event.
    not_read_back = f" AND NOT EXISTS (SELECT 1 FROM {name} AS b WHERE b.id = d.customer_id)" if retrieved.rows else ""
    if retrieved.rows:
        on_commit = " ON COMMIT DROP" if dialect == "postgresql" else ""
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {name} (id VARCHAR, c TEXT, deleted BOOLEAN, deleted_at TIMESTAMPTZ,"
            f" api_version VARCHAR, raw_normalized TEXT){on_commit}"
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {name} (id, c, deleted, deleted_at, api_version, raw_normalized) "
                "VALUES (:id, :c, :deleted, :deleted_at, :version, :normalized)"
            ),
            [
                {"id": r[0], "c": r[1], "deleted": r[2], "deleted_at": r[3], "version": r[4], "normalized": r[5]}
                for r in retrieved.rows
            ],
        )
    picked = (
        f"SELECT s.obj AS c, s.type = 'customer.deleted' AS deleted,"
        f" CASE WHEN s.type = 'customer.deleted' THEN {_to_timestamp(dialect, 's.created')} END AS deleted_at,"
        " s.api_version, s.obj_normalized AS raw_normalized"
        f" FROM {stage_table(schema, account)} AS s JOIN ({_decisions_sql(schema, account, with_window=with_window)}) AS d"
        f" ON d.event_id = s.event_id WHERE d.n_top = 1 AND d.n_new = 1{not_read_back}"
    )
    rows = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM ({picked}) AS p").scalar() or 0)
    if retrieved.rows:
        picked += f" UNION ALL SELECT c, deleted, deleted_at, api_version, raw_normalized FROM {name}"
        rows += len(retrieved.rows)
    items = json_items_sql(dialect, f"({picked}) AS picked", extra, ["raw_normalized"])
    return f"({customer_columns_sql(dialect, items, [*extra, 'raw_normalized'])})", rows


def made_by_sql(schema: str, account: str = DEFAULT_ACCOUNT) -> str:
    """(id, event_id, event_created, changed_fields) of the customers an incremental run
    writes from one event's object (the customers it reads back are the others), for the
    change history (``history.py``). Read before ``record_applied`` (which makes the
    events applied)."""
    return (
        "(SELECT s.customer_id AS id, s.event_id, s.created AS event_created, s.changed AS changed_fields"
        f" FROM {stage_table(schema, account)} AS s JOIN ({_decisions_sql(schema, account, with_window=True)}) AS d"
        " ON d.event_id = s.event_id WHERE d.n_top = 1 AND d.n_new = 1)"
    )


def _to_timestamp(dialect: str, seconds: str) -> str:
    if dialect == "duckdb":
        return f"to_timestamp(CAST({seconds} AS DOUBLE))"
    return f"to_timestamp({seconds})"


def record_applied(
    conn: Connection, schema: str, account: str, watermark: int, retrieved: Retrieved, *, with_window: bool
) -> None:
    """Remember the staged events and read-back markers at or after ``watermark``.

    ``with_window=False`` starts the list afresh (a full scan). Older entries are dropped:
    the next run lists from ``watermark`` and never sees them again.
    """
    window = window_table(schema)
    if not with_window:
        conn.execute(sa.text(f"DELETE FROM {window} WHERE account = :account"), {"account": account})
    conn.execute(
        sa.text(
            f"INSERT INTO {window} (account, event_id, customer_id, created) "
            f"SELECT :account, s.event_id, s.customer_id, s.created FROM {stage_table(schema, account)} AS s "
            f"WHERE s.created >= :w AND NOT EXISTS (SELECT 1 FROM {window} AS a"
            " WHERE a.account = :account AND a.event_id = s.event_id)"
        ),
        {"w": watermark, "account": account},
    )
    markers = [(f"{_RETRIEVED}{cid}:{sec}", cid, sec) for cid, sec in retrieved.as_of.items() if sec >= watermark]
    if markers:
        conn.execute(
            sa.text(
                f"INSERT INTO {window} (account, event_id, customer_id, created) VALUES (:a, :e, :c, :s) "
                "ON CONFLICT (account, event_id) DO NOTHING"
            ),
            [{"a": account, "e": event_id, "c": cid, "s": sec} for event_id, cid, sec in markers],
        )
    conn.execute(
        sa.text(f"DELETE FROM {window} WHERE account = :account AND created < :w"),
        {"w": watermark, "account": account},
    )


def new_events(conn: Connection, schema: str, account: str, *, with_window: bool) -> tuple[int, int]:
    """(staged events, of them not applied before)."""
    staged = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {stage_table(schema, account)}").scalar() or 0)
    if not with_window:
        return staged, staged
    new = conn.exec_driver_sql(
        f"SELECT COUNT(*) FROM {stage_table(schema, account)} AS s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {_applied_sql(schema, account)} AS a WHERE a.event_id = s.event_id)"
    ).scalar()
    return staged, int(new or 0)


def write_states(
    conn: Connection, schema: str, source: str, version: int, now: dt.datetime, account: str = DEFAULT_ACCOUNT
) -> MergeCounts:
    """``merge`` the customers of ``source`` into the mirror, in bounded memory on DuckDB.

    DuckDB holds every row an ``INSERT .. ON CONFLICT DO UPDATE`` (or an ``UPDATE``) touches
    in memory until the commit, however low its memory limit, while plain appends are
    written out as they grow. So on DuckDB the customers are first appended to a scratch
    table, the mirror rows they change are deleted, and their new states appended: the
    same rows as ``merge`` leaves, in one transaction. PostgreSQL uses ``merge`` itself.
    """
    if conn.dialect.name != "duckdb":
        return merge(conn, schema, source, version, now, account)
    target = customers_table(schema)
    scratch = _source_table(schema, account)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {scratch}")
    conn.exec_driver_sql(f"CREATE TABLE {scratch} AS SELECT * FROM {source} AS src")
    counts = count_changes(conn, target, scratch, account)
    conn.execute(
        sa.text(
            f"DELETE FROM {target} WHERE account = :account AND id IN (SELECT s.id FROM {scratch} s"
            f" JOIN {target} t ON t.account = :account AND t.id = s.id"
            f" WHERE {content_sql('t')} IS DISTINCT FROM {content_sql('s')} OR t.deleted IS DISTINCT FROM s.deleted)"
        ),
        {"account": account},
    )
    cols = ", ".join(quote_ident(c) for c in SOURCE_COLUMNS + VERSION_COLUMNS)
    conn.execute(
        sa.text(
            f"INSERT INTO {target} (account, {cols}, synced_at, mirror_version) SELECT :account, {cols}, :now, :version "
            f"FROM {scratch} AS s WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE t.account = :account AND t.id = s.id)"
        ),
        {"now": now, "version": version, "account": account},
    )
    conn.exec_driver_sql(f"DROP TABLE {scratch}")
    return counts


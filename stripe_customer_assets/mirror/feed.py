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

Events are streamed page by page into ``customers_events_stage`` (bounded memory), then
SQL decides per customer with a new event, looking at every event of the customer read in
this run *and* applied before (the overlap re-read is what makes this possible):

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
import logging
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.events import CUSTOMER_EVENT_TYPES, PAGE_SIZE
from stripe_customer_assets.mirror.store import (
    SOURCE_COLUMNS,
    MergeCounts,
    content_sql,
    count_changes,
    merge,
)
from stripe_customer_assets.mirror.table import (
    VERSION_COLUMNS,
    customer_columns_sql,
    customers_table,
    json_items_sql,
    pg_jsonb,
)
from stripe_customer_assets.mirror.versions import normalized_text, same_shape
from stripe_customer_assets.stripe_api import StripeApi, StripeRequestError
from stripe_customer_assets.warehouse import Warehouse, staged_arrow
from stripe_customer_assets.warehouse.ddl import ensure_table
from stripe_customer_assets.warehouse.names import qualified

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

# Pages are written to the stage once this much text is buffered (or at the end).
STAGE_FLUSH_BYTES = 1024 * 1024
# DuckDB caches what it reads and writes up to 80% of RAM by default: a large backlog
# would grow the process with it. The events path caps it (one thread, DuckDB spills to
# disk beyond the cap), so peak memory does not follow the backlog. DuckDB keeps the rows a
# transaction appends in memory until a row group (122,880 rows) is full, so a commit of
# many large customers can need more: a transaction that runs out is rolled back and run
# again with the next, larger cap (``None``: DuckDB's default).
DUCKDB_MEMORY_STEPS: tuple[str | None, ...] = ("128MB", "1GB", None)
T = TypeVar("T")


def bound_memory(conn: Connection, limit: str | None = DUCKDB_MEMORY_STEPS[0]) -> None:
    """Cap DuckDB's memory for this connection's database (a no-op elsewhere)."""
    if conn.dialect.name != "duckdb":
        return
    if limit is None:
        conn.exec_driver_sql("RESET memory_limit")
        conn.exec_driver_sql("RESET threads")
        return
    conn.exec_driver_sql(f"SET memory_limit = '{limit}'")
    conn.exec_driver_sql("SET preserve_insertion_order = false")
    conn.exec_driver_sql("SET threads = 1")


def _out_of_memory(err: BaseException) -> bool:
    return type(getattr(err, "orig", None)).__name__ == "OutOfMemoryException"


def bounded(warehouse: Warehouse, work: Callable[[Connection], T]) -> T:
    """``work`` in one transaction under DuckDB's memory cap, again under a larger one if it runs out."""
    steps = DUCKDB_MEMORY_STEPS if warehouse.is_duckdb else (None,)
    for i, limit in enumerate(steps):
        try:
            with warehouse.begin() as conn:
                bound_memory(conn, limit)
                return work(conn)
        except sa.exc.OperationalError as err:
            if not _out_of_memory(err) or i == len(steps) - 1:
                raise
            log.warning("DuckDB ran out of its %s memory cap; running the transaction again with more", limit)
    raise AssertionError("unreachable")
_RETRIEVED = "retrieved:"
# An event rendered in an API version of another customer shape than the pinned one travels
# to the stage with the customer rewritten in the pinned shape under this key (beside
# ``data``, which stays as Stripe sent it): see ``mirror/versions.py``.
NORMALIZED_KEY = "_pinned_shape_object"


def page_text(text: str, events: list[dict[str, Any]], pinned: str) -> str:
    """The list answer ``text`` as staged: as it came, unless one of its ``events`` was
    rendered in another customer shape than ``pinned`` (then with ``NORMALIZED_KEY`` added)."""
    if all(same_shape(_event_version(e), pinned) for e in events):
        return text
    return json.dumps({"data": [_with_normalized(e, pinned) for e in events]}, ensure_ascii=False)


def _event_version(event: dict[str, Any]) -> str | None:
    version = event.get("api_version")
    return version if isinstance(version, str) else None


def _with_normalized(event: dict[str, Any], pinned: str) -> dict[str, Any]:
    obj = (event.get("data") or {}).get("object")
    text = normalized_text(obj, _event_version(event), pinned) if isinstance(obj, dict) else None
    return {**event, NORMALIZED_KEY: json.loads(text)} if text is not None else event


def window_table(schema: str) -> str:
    return qualified(schema, "customers_cursor_events")


def stage_table(schema: str) -> str:
    return qualified(schema, "customers_events_stage")


def ensure_window_table(conn: Connection, schema: str) -> None:
    ensure_table(
        conn, schema, "customers_cursor_events", "event_id VARCHAR PRIMARY KEY, customer_id VARCHAR NOT NULL, created BIGINT NOT NULL"
    )


def _ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


@dataclass
class FeedStats:
    """What one read of the feed did (for the run's metadata)."""

    listed: int = 0  # events listed, the overlap re-read included
    new: int = 0  # events not applied before
    retrieved: int = 0  # customers read back because their newest second was ambiguous
    calls: int = 0
    read_from: float | None = None  # Stripe's clock when the listing began (lower bound)
    newest_id: str | None = None
    newest_created: int | None = None
    retrieved_at: dict[str, int] = field(default_factory=dict, repr=False)


class EventStage:
    """``customers_events_stage``: pages of ``GET /v1/events`` as they arrive.

    The page text goes to the warehouse, which takes each event apart in SQL; Python holds
    at most ``STAGE_FLUSH_BYTES`` of it. An event listed twice is kept once (PostgreSQL: by
    the key; DuckDB: plain appends, which it writes out instead of holding them, and the
    rare duplicate is dropped by ``finish``).
    """

    def __init__(self, warehouse: Warehouse, schema: str, pinned: str):
        self.warehouse = warehouse
        self.schema = schema
        self.pinned = pinned  # the API version lists and retrieves are rendered in
        self.table = stage_table(schema)
        self._bodies: list[str] = []
        self._bytes = 0
        with warehouse.begin() as conn:
            bound_memory(conn)
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
            conn.exec_driver_sql(
                f"CREATE TABLE {self.table} (event_id VARCHAR{'' if warehouse.is_duckdb else ' PRIMARY KEY'}, "
                "customer_id VARCHAR NOT NULL, "
                "created BIGINT NOT NULL, type VARCHAR, api_version VARCHAR, obj TEXT NOT NULL, obj_normalized TEXT)"
            )

    def add(self, body: str) -> None:
        self._bodies.append(body)
        self._bytes += len(body)
        if self._bytes >= STAGE_FLUSH_BYTES:
            self.flush()

    def add_events(self, events: list[dict[str, Any]]) -> None:
        if events:
            self.add(json.dumps({"data": [_with_normalized(e, self.pinned) for e in events]}, ensure_ascii=False))

    def flush(self) -> None:
        if not self._bodies:
            return
        import pyarrow as pa

        table = pa.table({"body": pa.array(self._bodies, pa.string())})
        self._bodies, self._bytes = [], 0
        bounded(self.warehouse, lambda conn: self._insert(conn, table))

    def _insert(self, conn: Connection, table: pa.Table) -> None:
        with staged_arrow(conn, [("body", "TEXT")], table) as pages:
            conn.exec_driver_sql(
                f"INSERT INTO {self.table} (event_id, customer_id, created, type, api_version, obj, obj_normalized) "
                f"{_events_sql(conn.dialect.name, pages)}"
                + ("" if conn.dialect.name == "duckdb" else " ON CONFLICT (event_id) DO NOTHING")
            )

    def finish(self) -> None:
        """Write what is buffered; drop an event listed twice (DuckDB, no key there)."""
        self.flush()
        if not self.warehouse.is_duckdb:
            return
        bounded(self.warehouse, self._drop_duplicates)

    def _drop_duplicates(self, conn: Connection) -> None:
        rows, ids = conn.exec_driver_sql(f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {self.table}").one()
        if rows != ids:
            conn.exec_driver_sql(
                f"DELETE FROM {self.table} WHERE rowid NOT IN (SELECT MIN(rowid) FROM {self.table} GROUP BY event_id)"
            )

    def drop(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")


def _events_sql(dialect: str, pages: str) -> str:
    """(event_id, customer_id, created, type, api_version, obj, obj_normalized) of the events
    in ``pages.body``.

    ``api_version`` is the version the event's object is rendered in (Stripe renders an
    event in the API version of its creation, not the one requested); ``obj_normalized`` the
    object in the pinned version's shape when that differs (``page_text``), else NULL.

    Events without a customer object with a string id, or without an integer ``created``,
    are left out (the caller logs how many).
    """
    if dialect == "duckdb":
        return (
            "SELECT e->>'$.id', e->>'$.data.object.id', CAST(e->>'$.created' AS BIGINT), e->>'$.type',"
            " e->>'$.api_version', CAST(e->'$.data.object' AS VARCHAR),"
            f" CAST(e->'$.{NORMALIZED_KEY}' AS VARCHAR)"
            f" FROM (SELECT unnest(from_json(body, '{{\"data\": [\"JSON\"]}}').data) AS e FROM {pages}) AS x"
            " WHERE json_type(e, '$.id') = 'VARCHAR' AND json_type(e, '$.data.object.id') = 'VARCHAR'"
            " AND json_type(e, '$.created') IN ('BIGINT', 'UBIGINT') AND e->>'$.data.object.id' <> ''"
        )
    if dialect == "postgresql":
        return (
            "SELECT e->>'id', e->'data'->'object'->>'id', (e->>'created')::bigint, e->>'type',"
            f" e->>'api_version', (e->'data'->'object')::text, (e->'{NORMALIZED_KEY}')::text"
            f" FROM {pages} AS p CROSS JOIN LATERAL (SELECT {pg_jsonb('p.body')} -> 'data' AS data OFFSET 0) AS d"
            " CROSS JOIN LATERAL jsonb_array_elements("
            "CASE WHEN jsonb_typeof(d.data) = 'array' THEN d.data ELSE '[]'::jsonb END) AS e"
            " WHERE jsonb_typeof(e->'id') = 'string' AND jsonb_typeof(e->'data'->'object'->'id') = 'string'"
            " AND jsonb_typeof(e->'created') = 'number' AND e->>'created' ~ '^-?[0-9]{1,18}$'"
            " AND e->'data'->'object'->>'id' <> ''"
        )
    raise NotImplementedError(f"the mirror is not implemented for the {dialect} dialect")


def read_events(api: StripeApi, stage: EventStage, since: int, stats: FeedStats) -> None:
    """Stream every customer event created at or after ``since`` into ``stage``.

    Newest first, 100 a page: ceil(e/100) calls, one when nothing changed. ``stats.read_from``
    is Stripe's clock when the first page was served, at the earliest (its ``Date`` minus
    the time the request took), or this machine's clock when Stripe sent no ``Date``.
    """
    before = api.now().timestamp()
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE_SIZE, "types": CUSTOMER_EVENT_TYPES, "created": {"gte": since}}
        if after:
            params["starting_after"] = after
        reply = api.fetch("get", "/v1/events", params)
        stats.calls += 1
        if stats.read_from is None:
            stats.read_from = reply.date.timestamp() - reply.elapsed_s if reply.date else before
        data = reply.data.get("data") or []
        if data:
            stats.listed += len(data)
            if stats.newest_id is None:
                top = data[0]
                stats.newest_id = top.get("id")
                created = top.get("created")
                stats.newest_created = created if isinstance(created, int) else None
            stage.add(page_text(reply.text, data, stage.pinned))
            after = data[-1].get("id")
        if not reply.data.get("has_more") or not data or not after:
            break
    stage.finish()


def _decisions_sql(schema: str, *, with_window: bool) -> str:
    """Per customer with an event not applied yet: its newest second and what it holds.

    Columns: customer_id, n_top (events and markers in the newest second), n_new (of
    them not applied), event_id (one of them). ``with_window=False`` ignores what was
    applied before (a full scan replaces it).
    """
    stage = stage_table(schema)
    applied = (
        f"SELECT event_id, customer_id, created, 1 AS applied FROM {window_table(schema)}"
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


def to_retrieve(conn: Connection, schema: str, *, with_window: bool) -> list[str]:
    """Customers whose newest second holds several events, one of them new."""
    rows = conn.exec_driver_sql(
        f"SELECT customer_id FROM ({_decisions_sql(schema, with_window=with_window)}) AS d "
        "WHERE n_new > 0 AND n_top > 1 ORDER BY customer_id"
    ).all()
    return [row[0] for row in rows]


def staged_customers(conn: Connection, schema: str) -> list[str]:
    """Every customer with an event in the stage (a full scan's replayed events).

    A full scan reads them back instead of applying their events: the scan may have listed
    a customer after a newer change than the event (updated or deleted during the scan, the
    event of that change coming after the replay was fetched), and an event's object would
    then put an older state back.
    """
    rows = conn.exec_driver_sql(f"SELECT DISTINCT customer_id FROM {stage_table(schema)} ORDER BY customer_id").all()
    return [row[0] for row in rows]


@dataclass
class Retrieved:
    """Customers read back from Stripe: (id, JSON text, deleted, deleted_at, the API version
    of the text, the text in the pinned version's shape when that differs) each."""

    rows: list[tuple[str, str, bool, dt.datetime | None, str | None, str | None]] = field(default_factory=list)
    as_of: dict[str, int] = field(default_factory=dict)  # last second each one includes


def retrieve_customers(api: StripeApi, warehouse: Warehouse, schema: str, ids: Iterable[str]) -> Retrieved:
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
                        f"SELECT obj, created, type, api_version, obj_normalized FROM {stage_table(schema)} "
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


def source_relation(conn: Connection, schema: str, retrieved: Retrieved, *, with_window: bool) -> tuple[str, int]:
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
        f" FROM {stage_table(schema)} AS s JOIN ({_decisions_sql(schema, with_window=with_window)}) AS d"
        f" ON d.event_id = s.event_id WHERE d.n_top = 1 AND d.n_new = 1{not_read_back}"
    )
    rows = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM ({picked}) AS p").scalar() or 0)
    if retrieved.rows:
        picked += f" UNION ALL SELECT c, deleted, deleted_at, api_version, raw_normalized FROM {name}"
        rows += len(retrieved.rows)
    items = json_items_sql(dialect, f"({picked}) AS picked", extra, ["raw_normalized"])
    return f"({customer_columns_sql(dialect, items, [*extra, 'raw_normalized'])})", rows


def _to_timestamp(dialect: str, seconds: str) -> str:
    if dialect == "duckdb":
        return f"to_timestamp(CAST({seconds} AS DOUBLE))"
    return f"to_timestamp({seconds})"


def record_applied(
    conn: Connection, schema: str, watermark: int, retrieved: Retrieved, *, with_window: bool
) -> None:
    """Remember the staged events and read-back markers at or after ``watermark``.

    ``with_window=False`` starts the list afresh (a full scan). Older entries are dropped:
    the next run lists from ``watermark`` and never sees them again.
    """
    window = window_table(schema)
    if not with_window:
        conn.exec_driver_sql(f"DELETE FROM {window}")
    conn.execute(
        sa.text(
            f"INSERT INTO {window} (event_id, customer_id, created) "
            f"SELECT s.event_id, s.customer_id, s.created FROM {stage_table(schema)} AS s "
            f"WHERE s.created >= :w AND NOT EXISTS (SELECT 1 FROM {window} AS a WHERE a.event_id = s.event_id)"
        ),
        {"w": watermark},
    )
    markers = [(f"{_RETRIEVED}{cid}:{sec}", cid, sec) for cid, sec in retrieved.as_of.items() if sec >= watermark]
    if markers:
        conn.execute(
            sa.text(
                f"INSERT INTO {window} (event_id, customer_id, created) VALUES (:e, :c, :s) "
                "ON CONFLICT (event_id) DO NOTHING"
            ),
            [{"e": event_id, "c": cid, "s": sec} for event_id, cid, sec in markers],
        )
    conn.execute(sa.text(f"DELETE FROM {window} WHERE created < :w"), {"w": watermark})


def new_events(conn: Connection, schema: str, *, with_window: bool) -> tuple[int, int]:
    """(staged events, of them not applied before)."""
    staged = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {stage_table(schema)}").scalar() or 0)
    if not with_window:
        return staged, staged
    new = conn.exec_driver_sql(
        f"SELECT COUNT(*) FROM {stage_table(schema)} AS s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {window_table(schema)} AS a WHERE a.event_id = s.event_id)"
    ).scalar()
    return staged, int(new or 0)


def write_states(conn: Connection, schema: str, source: str, version: int, now: dt.datetime) -> MergeCounts:
    """``merge`` the customers of ``source`` into the mirror, in bounded memory on DuckDB.

    DuckDB holds every row an ``INSERT .. ON CONFLICT DO UPDATE`` (or an ``UPDATE``) touches
    in memory until the commit, however low its memory limit, while plain appends are
    written out as they grow. So on DuckDB the customers are first appended to a scratch
    table, the mirror rows they change are deleted, and their new states appended: the
    same rows as ``merge`` leaves, in one transaction. PostgreSQL uses ``merge`` itself.
    """
    if conn.dialect.name != "duckdb":
        return merge(conn, schema, source, version, now)
    target = customers_table(schema)
    scratch = qualified(schema, "customers_events_source")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {scratch}")
    conn.exec_driver_sql(f"CREATE TABLE {scratch} AS SELECT * FROM {source} AS src")
    counts = count_changes(conn, target, scratch)
    conn.exec_driver_sql(
        f"DELETE FROM {target} WHERE id IN (SELECT s.id FROM {scratch} s JOIN {target} t ON t.id = s.id "
        f"WHERE {content_sql('t')} IS DISTINCT FROM {content_sql('s')} OR t.deleted IS DISTINCT FROM s.deleted)"
    )
    cols = ", ".join(f'"{c}"' for c in SOURCE_COLUMNS + VERSION_COLUMNS)
    conn.execute(
        sa.text(
            f"INSERT INTO {target} ({cols}, synced_at, mirror_version) SELECT {cols}, :now, :version "
            f"FROM {scratch} AS s WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE t.id = s.id)"
        ),
        {"now": now, "version": version},
    )
    conn.exec_driver_sql(f"DROP TABLE {scratch}")
    return counts

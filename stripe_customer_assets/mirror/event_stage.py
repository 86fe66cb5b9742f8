"""Staging ``GET /v1/events``: customer events streamed page by page into the warehouse.

The page text goes to ``<schema>.customers_events_stage`` (one per account) as Stripe sent it and the
warehouse takes each event apart in SQL, so memory stays bounded however long the backlog.
What the staged events mean for the mirror (which to apply, which customers to read back)
is ``feed.py``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.events import CUSTOMER_EVENT_TYPES, PAGE_SIZE
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT, account_suffix, pg_jsonb
from stripe_customer_assets.mirror.versions import normalized_text, same_shape
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse, staged_arrow
from stripe_customer_assets.warehouse.memory import bound_memory, bounded
from stripe_customer_assets.warehouse.names import Table, qualified

if TYPE_CHECKING:
    import pyarrow as pa

# Pages are written to the stage once this much text is buffered (or at the end).
STAGE_FLUSH_BYTES = 1024 * 1024
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


def stage_table(schema: str, account: str = DEFAULT_ACCOUNT) -> Table:
    """An account's own stage: refreshes of several accounts may stage at the same time."""
    return qualified(schema, f"customers_events_stage{account_suffix(account)}")


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

    def __init__(self, warehouse: Warehouse, schema: str, pinned: str, account: str = DEFAULT_ACCOUNT):
        self.warehouse = warehouse
        self.schema = schema
        self.pinned = pinned  # the API version lists and retrieves are rendered in
        self.table = stage_table(schema, account)
        self._bodies: list[str] = []
        self._bytes = 0
        with warehouse.begin() as conn:
            bound_memory(conn)
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
            conn.exec_driver_sql(
                f"CREATE TABLE {self.table} (event_id VARCHAR{'' if warehouse.is_duckdb else ' PRIMARY KEY'}, "
                "customer_id VARCHAR NOT NULL, "
                "created BIGINT NOT NULL, type VARCHAR, api_version VARCHAR, obj TEXT NOT NULL, obj_normalized TEXT, "
                "changed VARCHAR)"
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
        import pyarrow as pa  # only a run with events to stage pays for it

        table = pa.table({"body": pa.array(self._bodies, pa.string())})
        self._bodies, self._bytes = [], 0
        bounded(self.warehouse, lambda conn: self._insert(conn, table))

    def _insert(self, conn: Connection, table: pa.Table) -> None:
        with staged_arrow(conn, [("body", "TEXT")], table) as pages:
            conn.exec_driver_sql(
                f"INSERT INTO {self.table} (event_id, customer_id, created, type, api_version, obj, obj_normalized, changed) "
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
    """(event_id, customer_id, created, type, api_version, obj, obj_normalized, changed) of the
    events in ``pages.body``; ``changed``: the keys of ``data.previous_attributes``, sorted
    and comma-separated (for the change history, ``history.py``).

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
            f" CAST(e->'$.{NORMALIZED_KEY}' AS VARCHAR),"
            " array_to_string(list_sort(json_keys(e, '$.data.previous_attributes')), ',')"
            f" FROM (SELECT unnest(from_json(body, '{{\"data\": [\"JSON\"]}}').data) AS e FROM {pages}) AS x"
            " WHERE json_type(e, '$.id') = 'VARCHAR' AND json_type(e, '$.data.object.id') = 'VARCHAR'"
            " AND json_type(e, '$.created') IN ('BIGINT', 'UBIGINT') AND e->>'$.data.object.id' <> ''"
        )
    if dialect == "postgresql":
        return (
            "SELECT e->>'id', e->'data'->'object'->>'id', (e->>'created')::bigint, e->>'type',"
            f" e->>'api_version', (e->'data'->'object')::text, (e->'{NORMALIZED_KEY}')::text,"
            " (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(CASE WHEN"
            " jsonb_typeof(e->'data'->'previous_attributes') = 'object' THEN e->'data'->'previous_attributes' END) AS k)"
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


"""The customer change history: ``<schema>.customers_history``, one row per customer version.

Every mirror commit that changes customers (``mirror_version`` ``v``) adds one version per
changed customer and closes the customer's previous one, in the commit's transaction and in
two set-based statements (``record_versions``), so the history is exactly the mirror's
successive states: nothing a commit wrote is missing, and since the mirror never puts an
older state back (``feed.py``), a late event never makes a version out of order.

Columns: account, id, mirror_version (the commit), valid_from, valid_to (NULL for the current
version), event_id (the event whose object made it; ``retrieve`` when the customer was read
back from Stripe because one second held several events; ``full_scan`` when a full scan
found it; ``mirror`` for the state a customer had in the mirror when the history was
created, dated by the mirror row's ``synced_at``), changed_fields (comma-separated top-level customer fields, sorted: the keys of
the event's ``previous_attributes``, else the fields whose JSON differs from the previous
version, plus ``deleted`` when the deleted flag changed; NULL for a customer's first
version), the mirror's content columns (created .. raw, raw_normalized, deleted,
deleted_at) as of that version.

``valid_from`` is the event's ``created`` time for an event's version, else the commit's
time on Stripe's clock (a full scan finds a change some time before it), and never earlier than the previous version's ``valid_from``.

Retention: ``STRIPE_HISTORY_DAYS`` (default 30) days after a version was replaced it is
deleted (by the next commit); ``0`` keeps every version. The current version is never
pruned.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.migrate import add_account
from stripe_customer_assets.mirror.table import (
    CUSTOMER_COLUMNS,
    DEFAULT_ACCOUNT,
    customer_columns_ddl,
    customers_table,
)
from stripe_customer_assets.values import env_whole_number
from stripe_customer_assets.warehouse.ddl import ensure, lock_ddl, table_exists
from stripe_customer_assets.warehouse.names import Table, qualified, quote_ident

HISTORY_DAYS_ENV = "STRIPE_HISTORY_DAYS"
DEFAULT_HISTORY_DAYS = 30
FULL_SCAN = "full_scan"
RETRIEVE = "retrieve"
EXISTING = "mirror"  # the state of a customer already mirrored when the history began

# The mirror columns a version keeps (content and deleted flag).
_CONTENT = [*CUSTOMER_COLUMNS[1:13], "raw_normalized", "deleted", "deleted_at"]


def history_table(schema: str) -> Table:
    return qualified(schema, "customers_history")


def history_days() -> int:
    """Days a replaced version is kept (``STRIPE_HISTORY_DAYS``; 0 = forever)."""
    return env_whole_number(
        HISTORY_DAYS_ENV,
        DEFAULT_HISTORY_DAYS,
        "days",
        "how long a replaced customer version is kept; 0 keeps them all",
    )


def _create(conn: Connection, table: str) -> None:
    json_type = "JSONB" if conn.dialect.name == "postgresql" else "JSON"
    # DuckDB: no key (an ART index adds to every write and checkpoint); one version per
    # customer and commit holds by construction.
    key = ", PRIMARY KEY (account, id, mirror_version)" if conn.dialect.name == "postgresql" else ""
    conn.exec_driver_sql(
        f"""CREATE TABLE IF NOT EXISTS {table} (
            account VARCHAR NOT NULL,
            id VARCHAR NOT NULL,
            mirror_version BIGINT NOT NULL,
            valid_from TIMESTAMPTZ NOT NULL,
            valid_to TIMESTAMPTZ,
            event_id VARCHAR NOT NULL,
            changed_fields VARCHAR,
            {customer_columns_ddl(json_type)},
            raw_normalized {json_type},
            deleted BOOLEAN NOT NULL,
            deleted_at TIMESTAMPTZ{key}
        )"""
    )


def ensure_history_table(conn: Connection, schema: str, account: str = DEFAULT_ACCOUNT) -> None:
    """The history; one made before accounts gets ``account`` (its rows ``account``'s)."""
    table = history_table(schema)
    if not table_exists(conn, table):
        lock_ddl(conn)  # refreshes of other accounts may be making it at this moment
    if table_exists(conn, table):
        key = ["id", "mirror_version"] if conn.dialect.name == "postgresql" else None
        add_account(conn, table, account, key, _create)
        return
    _create(conn, table)
    # A mirror kept before the history existed: each customer's state now is its first version.
    cols = ", ".join(quote_ident(c) for c in _CONTENT)
    conn.exec_driver_sql(
        f"INSERT INTO {table} (account, id, mirror_version, valid_from, valid_to, event_id, changed_fields, {cols}) "
        f"SELECT account, id, mirror_version, synced_at, NULL, '{EXISTING}', NULL, {cols} FROM {customers_table(schema)}"
    )
    if conn.dialect.name == "postgresql":
        ensure(
            conn,
            f"CREATE INDEX IF NOT EXISTS customers_history_current ON {table} (account, id) WHERE valid_to IS NULL",
            schema,
            "customers_history_current",
        )


def _diff_sql(dialect: str, old: str, new: str) -> str:
    """Comma-separated top-level keys whose JSON differs between ``old`` and ``new``."""
    if dialect == "duckdb":
        return (
            f"array_to_string(list_sort(list_filter(list_distinct(list_concat(json_keys({old}), json_keys({new}))),"
            f" lambda k: json_extract({old}, k) IS DISTINCT FROM json_extract({new}, k))), ',')"
        )
    return (
        f"(SELECT string_agg(k, ',' ORDER BY k) FROM (SELECT key AS k FROM jsonb_each({old})"
        f" UNION SELECT key FROM jsonb_each({new})) AS ks WHERE ({old})->k IS DISTINCT FROM ({new})->k)"
    )


def record_versions(
    conn: Connection,
    schema: str,
    version: int,
    at: dt.datetime,
    made_by: str | None,
    default_event: str,
    account: str = DEFAULT_ACCOUNT,
) -> None:
    """Add a version for each customer the commit ``version`` changed; close their previous one.

    ``made_by``: a relation (id, event_id, event_created, changed_fields) of the customers
    written from one event's object (``feed.made_by_sql``), or None; the other changed
    customers are labelled ``default_event`` and dated ``at`` (Stripe's clock at the
    commit), which also dates the pruning. Call it before ``record_applied`` (the
    relation reads which events are new).
    """
    dialect = conn.dialect.name
    table, mirror = history_table(schema), customers_table(schema)
    cols = ", ".join(quote_ident(c) for c in _CONTENT)
    picked = ", ".join(f"m.{quote_ident(c)}" for c in _CONTENT)
    source = made_by or (
        "(SELECT CAST(NULL AS VARCHAR) AS id, CAST(NULL AS VARCHAR) AS event_id,"
        " CAST(NULL AS BIGINT) AS event_created, CAST(NULL AS VARCHAR) AS changed_fields WHERE 1 = 0)"
    )
    event_at = (
        "to_timestamp(CAST(s.event_created AS DOUBLE))" if dialect == "duckdb" else "to_timestamp(s.event_created)"
    )
    start = f"COALESCE({event_at}, CAST(:now AS TIMESTAMPTZ))"
    diff = _diff_sql(dialect, "COALESCE(p.raw_normalized, p.raw)", "COALESCE(m.raw_normalized, m.raw)")
    deleted_changed = "p.deleted IS DISTINCT FROM m.deleted"
    changed = (
        "CASE WHEN p.id IS NULL THEN NULL"
        " WHEN s.changed_fields IS NOT NULL AND s.changed_fields <> '' THEN s.changed_fields"
        f" WHEN {deleted_changed} THEN CONCAT_WS(',', NULLIF({diff}, ''), 'deleted')"
        f" ELSE NULLIF({diff}, '') END"
    )
    conn.execute(
        sa.text(
            f"INSERT INTO {table} (account, id, mirror_version, valid_from, valid_to, event_id, changed_fields, {cols}) "
            f"SELECT m.account, m.id, :version, CASE WHEN p.valid_from > {start} THEN p.valid_from ELSE {start} END,"
            f" CAST(NULL AS TIMESTAMPTZ), COALESCE(s.event_id, :default_event), {changed}, {picked}"
            f" FROM (SELECT * FROM {mirror} WHERE account = :account AND mirror_version = :version) AS m"
            # The current versions of just the changed customers (not a join with all of them).
            f" LEFT JOIN (SELECT * FROM {table} WHERE account = :account AND valid_to IS NULL AND id IN"
            f" (SELECT id FROM {mirror} WHERE account = :account AND mirror_version = :version)) AS p ON p.id = m.id"
            f" LEFT JOIN {source} AS s ON s.id = m.id"
        ),
        {"version": version, "now": at, "default_event": default_event, "account": account},
    )
    conn.execute(
        sa.text(
            f"UPDATE {table} SET valid_to = (SELECT n.valid_from FROM {table} AS n"
            f" WHERE n.account = :account AND n.id = {table}.id AND n.mirror_version = :version)"
            f" WHERE account = :account AND valid_to IS NULL AND mirror_version < :version"
            f" AND id IN (SELECT n.id FROM {table} AS n WHERE n.account = :account AND n.mirror_version = :version)"
        ),
        {"version": version, "account": account},
    )
    days = history_days()
    if days:
        conn.execute(
            sa.text(f"DELETE FROM {table} WHERE account = :account AND valid_to IS NOT NULL AND valid_to < :cutoff"),
            {"cutoff": at - dt.timedelta(days=days), "account": account},
        )

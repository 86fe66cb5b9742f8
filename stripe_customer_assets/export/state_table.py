"""The exported customer state: ``"<state_schema>"."<sync>"``, the ``<sync>`` asset's table.

One row per target account, model key and Stripe customer (``stripe_id`` is '' while a key
has none, e.g. a rejected row or a create that failed). Columns:

account         the target Stripe account's key (the deployment's single account when the
                sync names none; NULL for a row rejected for its account)
status          this run's outcome: created, updated, failed, unchanged, skipped, rejected
reason          Stripe's message for a failure, or why the row was skipped / rejected
changed_fields  the fields the last write carried
last_write      outcome of the last write attempt: created, updated or failed
payload_hash, idempotency_key, written_at   that attempt (what was last pushed, and when)
pushed_values   JSON {field: value}: each field's value as the sync last wrote it to this
                customer (for ``on_conflict: keep_stripe``); a failed write keeps the old
plan_id, updated_at

Write results are upserted in batches while the sync runs (a crash loses at most the
in-flight batch); the run ends by rewriting the table to exactly the plan's keys.
A table made before accounts is rebuilt once with its rows under the single account
(``export/migrate.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.conflicts import LastWrite
from stripe_customer_assets.export.migrate import add_account_key, migration_account
from stripe_customer_assets.warehouse import Warehouse, upsert_frame, write_frame
from stripe_customer_assets.warehouse.ddl import add_columns, ensure_table
from stripe_customer_assets.warehouse.engine import frame_from
from stripe_customer_assets.warehouse.names import Table, qualified

if TYPE_CHECKING:
    import pandas as pd

STATE_COLUMNS = [
    "account",
    "key",
    "stripe_id",
    "status",
    "reason",
    "changed_fields",
    "last_write",
    "payload_hash",
    "idempotency_key",
    "written_at",
    "pushed_values",
    "plan_id",
    "updated_at",
]
_TIME_COLUMNS = ("written_at", "updated_at")
SENT = ("created", "updated")


def state_table(config: ExportConfig) -> Table:
    return qualified(config.state_schema, config.name)


_STATE_DDL = """
        account VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        stripe_id VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        reason VARCHAR,
        changed_fields VARCHAR,
        last_write VARCHAR,
        payload_hash VARCHAR,
        idempotency_key VARCHAR,
        written_at TIMESTAMPTZ,
        pushed_values VARCHAR,
        plan_id VARCHAR,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (account, key, stripe_id)
        """


def ensure_state_table(conn: Connection, config: ExportConfig) -> None:
    # Safe when syncs start at once (warehouse/ddl.py).
    ensure_table(conn, state_table(config), _STATE_DDL)
    # A state table made before conflict policies: its pushed_values column.
    add_columns(conn, state_table(config), [("pushed_values", "VARCHAR")])
    # A state table made before accounts: rebuilt keyed by (account, key, stripe_id).
    add_account_key(conn, state_table(config), _STATE_DDL, migration_account(config))


def state_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd
    df = pd.DataFrame.from_records(rows, columns=STATE_COLUMNS)
    for col in STATE_COLUMNS:
        if col in _TIME_COLUMNS:
            df[col] = pd.to_datetime(df[col], utc=True)
        else:
            df[col] = df[col].astype("object")
    return df


def read_state(warehouse: Warehouse, config: ExportConfig) -> list[dict[str, Any]]:
    with warehouse.begin() as conn:
        ensure_state_table(conn, config)
        df = frame_from(conn, f"SELECT {', '.join(STATE_COLUMNS)} FROM {state_table(config)}")
    return [
        {k: (None if _missing(v) else v) for k, v in rec.items()} for rec in df.to_dict("records")
    ]


def sent_keys(warehouse: Warehouse, config: ExportConfig) -> set[str]:
    """Idempotency keys of writes Stripe accepted (what was last pushed, per customer)."""
    with warehouse.begin() as conn:
        ensure_state_table(conn, config)
        result = conn.execute(
            sa.text(
                f"SELECT idempotency_key FROM {state_table(config)} "
                "WHERE idempotency_key IS NOT NULL AND last_write IN ('created', 'updated')"
            )
        )
        return {r[0] for r in result}


def last_pushed(
    warehouse: Warehouse, config: ExportConfig
) -> dict[tuple[str, str, str], LastWrite]:
    """(account, key, Stripe id) -> the values the sync last wrote there, and when."""
    with warehouse.begin() as conn:
        ensure_state_table(conn, config)
        rows = conn.exec_driver_sql(
            f"SELECT account, key, stripe_id, pushed_values, written_at FROM {state_table(config)} "
            "WHERE pushed_values IS NOT NULL"
        ).fetchall()
    return {
        (account, key, stripe_id): LastWrite(json.loads(values), _utc(written_at))
        for account, key, stripe_id, values, written_at in rows
    }


def pushed_after(last: LastWrite | None, changes: dict[str, Any]) -> str:
    """``pushed_values`` once a write of ``changes`` (field -> (old, new)) succeeded."""
    values = dict(last.values) if last else {}
    values.update({path: new for path, (_, new) in changes.items()})
    return json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)


def _utc(value: Any) -> dt.datetime | None:
    import pandas as pd
    if value is None or _missing(value):
        return None
    stamp = pd.Timestamp(value).to_pydatetime()
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def record_results(
    warehouse: Warehouse,
    config: ExportConfig,
    rows: list[dict[str, Any]],
    also: Callable[[Connection], None] | None = None,
) -> None:
    """Upsert one batch of write results; a created customer replaces its key's '' row (in
    its account).

    ``also`` runs in the same transaction (the history of the batch). The table exists
    already (``sent_keys`` or ``read_state`` made it at the start of the run).
    """
    if not rows:
        return
    created: dict[str, set[str]] = {}
    for r in rows:
        if r["stripe_id"]:
            created.setdefault(r["account"], set()).add(r["key"])
    with warehouse.begin() as conn:
        upsert_frame(conn, state_table(config), state_frame(rows), ["account", "key", "stripe_id"])
        for account, keys in sorted(created.items()):
            conn.execute(
                sa.text(
                    f"DELETE FROM {state_table(config)} "
                    "WHERE stripe_id = '' AND account = :account AND key IN :keys"
                ).bindparams(sa.bindparam("keys", expanding=True)),
                {"account": account, "keys": sorted(keys)},
            )
        if also is not None:
            also(conn)


def replace_state(
    warehouse: Warehouse,
    config: ExportConfig,
    rows: list[dict[str, Any]],
    also: Callable[[Connection], None] | None = None,
) -> None:
    """Make the table exactly ``rows`` in one transaction (``also`` runs in it too)."""
    with warehouse.begin() as conn:
        ensure_state_table(conn, config)
        conn.exec_driver_sql(f"DELETE FROM {state_table(config)}")
        write_frame(conn, state_table(config), state_frame(rows))
        if also is not None:
            also(conn)


def _missing(value: Any) -> bool:
    import pandas as pd
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False

"""The stored plan: ``"<state_schema>"."<sync>_plan"``, one row per plan entry.

Rewritten whole by each plan (one transaction); the sync applies what it holds. Columns:
entry, row_number (in the model), account (the target Stripe account), key, action, stripe_id, reason, changes (JSON
``{field: [current, new]}``), payload (JSON body to send), payload_hash, idempotency_key,
matched_ids (JSON), plan_id, planned_at.

``"<state_schema>"."<sync>_plans"`` gets one row per plan made (plan_id, planned_at, the
counts, and ``by_account``: JSON ``{account: {action: count}}``), in the same transaction: the history of previews, and the proof that an empty
plan is a plan; ``"<state_schema>"."<sync>_plan_history"`` keeps each plan's row-level
changes (``history.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from stripe_customer_assets.export.accounts import names_accounts
from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.history import append_plan_history
from stripe_customer_assets.export.migrate import add_account_column, migration_account
from stripe_customer_assets.export.plan import ACTIONS, Plan, PlanEntry
from stripe_customer_assets.warehouse import Warehouse, upsert_frame, write_frame
from stripe_customer_assets.warehouse.ddl import add_columns, ensure_table
from stripe_customer_assets.warehouse.engine import frame_from
from stripe_customer_assets.warehouse.names import Table, qualified, quote_ident

if TYPE_CHECKING:
    import pandas as pd

TEXT_COLUMNS = [
    "account",
    "key",
    "action",
    "stripe_id",
    "reason",
    "changes",
    "payload",
    "payload_hash",
    "idempotency_key",
    "matched_ids",
    "plan_id",
]


def plan_table(config: ExportConfig) -> Table:
    return qualified(config.state_schema, f"{config.name}_plan")


def ensure_plan_table(conn: Connection, config: ExportConfig) -> None:
    json_type = "JSONB" if conn.dialect.name == "postgresql" else "JSON"
    # Safe when syncs start at once (warehouse/ddl.py).
    ensure_table(
        conn,
        plan_table(config),
        f"""
        entry INTEGER PRIMARY KEY,
        row_number INTEGER NOT NULL,
        account VARCHAR,
        key VARCHAR,
        action VARCHAR NOT NULL,
        stripe_id VARCHAR,
        reason VARCHAR,
        changes {json_type},
        payload {json_type},
        payload_hash VARCHAR,
        idempotency_key VARCHAR,
        matched_ids {json_type},
        plan_id VARCHAR NOT NULL,
        planned_at TIMESTAMPTZ NOT NULL
        """,
    )
    # A plan stored before accounts: its entries target the single account.
    add_account_column(conn, plan_table(config), migration_account(config))


def _dumps(value: Any) -> str | None:
    return (
        None
        if value is None
        else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    )


def plan_frame(plan: Plan) -> pd.DataFrame:
    import pandas as pd
    records = [
        {
            "entry": i,
            "row_number": e.row,
            "account": e.account,
            "key": e.key,
            "action": e.action,
            "stripe_id": e.stripe_id,
            "reason": e.reason,
            "changes": _dumps({p: [old, new] for p, (old, new) in e.changes.items()}),
            "payload": _dumps(e.payload),
            "payload_hash": e.payload_hash,
            "idempotency_key": e.idempotency_key,
            "matched_ids": _dumps(e.matched_ids),
            "plan_id": plan.plan_id,
            "planned_at": plan.planned_at,
        }
        for i, e in enumerate(plan.entries, start=1)
    ]
    df = pd.DataFrame.from_records(
        records, columns=["entry", "row_number", *TEXT_COLUMNS[:-1], "plan_id", "planned_at"]
    )
    for col in TEXT_COLUMNS:
        df[col] = df[col].astype("object")
    df["planned_at"] = pd.to_datetime(df["planned_at"], utc=True)
    return df


def plans_table(config: ExportConfig) -> Table:
    return qualified(config.state_schema, f"{config.name}_plans")


def ensure_plans_table(conn: Connection, config: ExportConfig) -> None:
    counts = ", ".join(f"{quote_ident(a)} INTEGER NOT NULL" for a in ACTIONS)
    # Safe when syncs start at once (warehouse/ddl.py).
    ensure_table(
        conn,
        plans_table(config),
        f"""
        plan_id VARCHAR PRIMARY KEY,
        planned_at TIMESTAMPTZ NOT NULL,
        model_rows INTEGER NOT NULL,
        {counts},
        matched INTEGER NOT NULL,
        reject_percent DOUBLE PRECISION NOT NULL,
        change_percent DOUBLE PRECISION NOT NULL,
        by_account VARCHAR
        """,
    )
    # A plans table made before an action existed (conflict), or before accounts.
    add_columns(
        conn,
        plans_table(config),
        [(action, "INTEGER DEFAULT 0") for action in ACTIONS] + [("by_account", "VARCHAR")],
    )


def plans_frame(plan: Plan) -> pd.DataFrame:
    import pandas as pd
    summary = plan.summary
    record = {
        "plan_id": plan.plan_id,
        "planned_at": plan.planned_at,
        "model_rows": summary.rows,
        **summary.counts,
        "matched": summary.matched,
        "reject_percent": summary.reject_percent,
        "change_percent": summary.change_percent,
        "by_account": _dumps({a: s.counts for a, s in plan.by_account().items()}),
    }
    df = pd.DataFrame.from_records([record])
    df["plan_id"] = df["plan_id"].astype("object")
    df["by_account"] = df["by_account"].astype("object")
    df["planned_at"] = pd.to_datetime(df["planned_at"], utc=True)
    return df


def store_plan(warehouse: Warehouse, config: ExportConfig, plan: Plan) -> None:
    """Replace the stored plan with ``plan`` and log it, in one transaction."""
    with warehouse.begin() as conn:
        ensure_plan_table(conn, config)
        ensure_plans_table(conn, config)
        conn.exec_driver_sql(f"DELETE FROM {plan_table(config)}")
        write_frame(conn, plan_table(config), plan_frame(plan))
        upsert_frame(conn, plans_table(config), plans_frame(plan), ["plan_id"])
        append_plan_history(conn, config, plan)


def load_plan(warehouse: Warehouse, config: ExportConfig) -> Plan | None:
    """The stored plan, or None when the sync was never planned."""
    import pandas as pd
    with warehouse.begin() as conn:
        ensure_plan_table(conn, config)
        ensure_plans_table(conn, config)
        latest = frame_from(
            conn,
            f"SELECT plan_id, planned_at FROM {plans_table(config)} "
            "ORDER BY planned_at DESC LIMIT 1",
        )
        # Plain tuples from the driver: a plan has a row per model row, and a DataFrame or
        # SQLAlchemy's typed rows cost several times the reading itself at 100,000 rows.
        rows = conn.exec_driver_sql(
            "SELECT row_number, account, key, action, stripe_id, reason, CAST(changes AS VARCHAR), "
            "CAST(payload AS VARCHAR), payload_hash, idempotency_key, CAST(matched_ids AS VARCHAR) "
            f"FROM {plan_table(config)} ORDER BY entry"
        ).fetchall()
    if latest.empty:
        return None
    entries = [
        PlanEntry(
            row=int(row),
            account=_text(account),
            key=_text(key),
            action=action,
            stripe_id=_text(stripe_id),
            reason=_text(reason),
            changes={p: (v[0], v[1]) for p, v in (_loads(changes) or {}).items()},
            payload=_loads(payload),
            payload_hash=_text(payload_hash),
            idempotency_key=_text(idempotency_key),
            matched_ids=list(_loads(matched_ids) or []),
        )
        for row, account, key, action, stripe_id, reason, changes, payload, payload_hash, idempotency_key, matched_ids in rows
    ]
    planned_at = pd.Timestamp(latest["planned_at"].iloc[0]).to_pydatetime()
    if planned_at.tzinfo is None:
        planned_at = planned_at.replace(tzinfo=dt.UTC)
    return Plan(
        config.name, str(latest["plan_id"].iloc[0]), planned_at, entries, names_accounts(config)
    )


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _loads(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "null":
        return None
    # Most entries are unchanged rows whose JSON columns hold nothing: no parse for those.
    if value == "{}":
        return {}
    if value == "[]":
        return []
    return json.loads(value) if isinstance(value, (str, bytes)) else value

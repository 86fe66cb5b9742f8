"""The sync's history: what each run wrote, failed or rejected, and what each plan found.

``"<state_schema>"."<sync>_history"``: one row per written, failed, rejected or skipped row
(and per conflict: fields kept as Stripe holds them) of every sync run, appended in the
transaction that records the row's state (a write that happened is in the history once its
state is). Columns:

run_id, plan_id   the run that applied the plan, and the plan
recorded_at       when the write was answered (rejects, skips, conflicts: the run's end)
account           the target Stripe account ('' when a rejected row names none)
key, stripe_id    the model key and the Stripe customer ('' when none)
action            create, update, reject, skip or conflict (the plan's action)
status            created, updated, failed, rejected, skipped or conflict
changes           JSON ``{field: [old, new]}``: what the write carried (old = Stripe's value)
request_id        Stripe's Request-Id of the write (failed ones too)
message           Stripe's message for a failure, the plan's reason for a reject, skip or conflict

A failed row is planned again on the next run while it still differs, so each attempt is
one more row here.

``"<state_schema>"."<sync>_plan_history"``: every plan's row-level changes (its entries
other than ``unchanged``: plan_id, planned_at, account, key, action, stripe_id, reason,
changes),
appended when the plan is stored. Each plan's counts are in ``<sync>_plans``.

Rows older than the sync's ``history_days`` are deleted at the end of each plan and each
sync (the latest plan's counts are kept whatever their age: the sync applies that plan).
Tables made before accounts gain ``account``, their rows under the single account.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.migrate import add_account_column, migration_account
from stripe_customer_assets.export.plan import REJECT, SKIP, UNCHANGED, Plan, PlanEntry
from stripe_customer_assets.warehouse import write_frame
from stripe_customer_assets.warehouse.ddl import ensure_table
from stripe_customer_assets.warehouse.names import Table, qualified

if TYPE_CHECKING:
    import pandas as pd

    from stripe_customer_assets.export.writes import WriteResult

HISTORY_COLUMNS = [
    "run_id",
    "plan_id",
    "recorded_at",
    "account",
    "key",
    "stripe_id",
    "action",
    "status",
    "changes",
    "request_id",
    "message",
]
PLAN_HISTORY_COLUMNS = [
    "plan_id", "planned_at", "account", "key", "action", "stripe_id", "reason", "changes"
]
# A conflict (on_conflict: keep_stripe) is a field left unwritten: Stripe's edit was kept.
_NOT_WRITTEN = {REJECT: "rejected", SKIP: "skipped", "conflict": "conflict"}


def history_table(config: ExportConfig) -> Table:
    return qualified(config.state_schema, f"{config.name}_history")


def plan_history_table(config: ExportConfig) -> Table:
    return qualified(config.state_schema, f"{config.name}_plan_history")


def _json_type(conn: Connection) -> str:
    return "JSONB" if conn.dialect.name == "postgresql" else "JSON"


def ensure_history_table(conn: Connection, config: ExportConfig) -> None:
    # Safe when syncs start at once (warehouse/ddl.py).
    ensure_table(
        conn,
        history_table(config),
        f"""
        run_id VARCHAR NOT NULL,
        plan_id VARCHAR NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        account VARCHAR,
        key VARCHAR,
        stripe_id VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        changes {_json_type(conn)},
        request_id VARCHAR,
        message VARCHAR
        """,
    )
    add_account_column(conn, history_table(config), migration_account(config))


def ensure_plan_history_table(conn: Connection, config: ExportConfig) -> None:
    ensure_table(
        conn,
        plan_history_table(config),
        f"""
        plan_id VARCHAR NOT NULL,
        planned_at TIMESTAMPTZ NOT NULL,
        account VARCHAR,
        key VARCHAR,
        action VARCHAR NOT NULL,
        stripe_id VARCHAR,
        reason VARCHAR,
        changes {_json_type(conn)}
        """,
    )
    add_account_column(conn, plan_history_table(config), migration_account(config))


def changes_json(entry: PlanEntry) -> str | None:
    if not entry.changes:
        return None
    changes = {p: [old, new] for p, (old, new) in entry.changes.items()}
    return json.dumps(changes, ensure_ascii=False, sort_keys=True, default=str)


def write_row(run_id: str, plan_id: str, outcome: WriteResult) -> dict[str, Any]:
    """The history row of one write's outcome."""
    entry = outcome.entry
    return {
        "run_id": run_id,
        "plan_id": plan_id,
        "recorded_at": outcome.at,
        "account": entry.account or "",
        "key": entry.key,
        "stripe_id": outcome.stripe_id or "",
        "action": entry.action,
        "status": outcome.status,
        "changes": changes_json(entry),
        "request_id": outcome.request_id,
        "message": outcome.error or outcome.note,
    }


def unwritten_rows(run_id: str, plan: Plan, at: dt.datetime) -> list[dict[str, Any]]:
    """The history rows of the plan's rejected and skipped rows, for the run applying it."""
    return [
        {
            "run_id": run_id,
            "plan_id": plan.plan_id,
            "recorded_at": at,
            "account": e.account or "",
            "key": e.key,
            "stripe_id": e.stripe_id or "",
            "action": e.action,
            "status": _NOT_WRITTEN[e.action],
            "changes": changes_json(e),
            "request_id": None,
            "message": e.reason,
        }
        for e in plan.entries
        if e.action in _NOT_WRITTEN
    ]


def _frame(rows: list[dict[str, Any]], columns: list[str], time_column: str) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame.from_records(rows, columns=columns)
    for col in columns:
        if col == time_column:
            df[col] = pd.to_datetime(df[col], utc=True)
        else:
            df[col] = df[col].astype("object")
    return df


def append_history(conn: Connection, config: ExportConfig, rows: list[dict[str, Any]]) -> None:
    """Append history rows in the caller's transaction (the table exists: ``ensure_history_table``)."""
    if rows:
        write_frame(conn, history_table(config), _frame(rows, HISTORY_COLUMNS, "recorded_at"))


def append_plan_history(conn: Connection, config: ExportConfig, plan: Plan) -> None:
    """Keep the plan's row-level changes, in the transaction that stores the plan."""
    ensure_plan_history_table(conn, config)
    rows = [
        {
            "plan_id": plan.plan_id,
            "planned_at": plan.planned_at,
            "account": e.account or "",
            "key": e.key,
            "action": e.action,
            "stripe_id": e.stripe_id,
            "reason": e.reason,
            "changes": changes_json(e),
        }
        for e in plan.entries
        if e.action != UNCHANGED
    ]
    if rows:
        write_frame(conn, plan_history_table(config), _frame(rows, PLAN_HISTORY_COLUMNS, "planned_at"))
    prune_plans(conn, config)


def _cutoff(config: ExportConfig) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=config.history_days)


def prune_history(conn: Connection, config: ExportConfig) -> None:
    """Delete sync history older than ``history_days``."""
    ensure_history_table(conn, config)
    conn.execute(
        sa.text(f"DELETE FROM {history_table(config)} WHERE recorded_at < :cutoff"),
        {"cutoff": _cutoff(config)},
    )


def prune_plans(conn: Connection, config: ExportConfig) -> None:
    """Delete plan history older than ``history_days``, keeping the latest plan's counts."""
    from stripe_customer_assets.export.plan_table import plans_table

    cutoff = {"cutoff": _cutoff(config)}
    conn.execute(
        sa.text(f"DELETE FROM {plan_history_table(config)} WHERE planned_at < :cutoff"), cutoff
    )
    plans = plans_table(config)
    conn.execute(
        sa.text(
            f"DELETE FROM {plans} WHERE planned_at < :cutoff "
            f"AND planned_at < (SELECT max(planned_at) FROM {plans})"
        ),
        cutoff,
    )

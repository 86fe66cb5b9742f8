"""The figures a user reads after a plan or a sync (plain values; the Dagster layer wraps them)."""

from __future__ import annotations

from typing import Any

from stripe_customer_assets.export.apply import ApplyResult
from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.history import history_table
from stripe_customer_assets.export.plan import Plan
from stripe_customer_assets.export.state_table import state_table


def plan_figures(plan: Plan) -> dict[str, Any]:
    summary = plan.summary
    by_account = (
        {"accounts": {a or "(none)": s.counts for a, s in plan.by_account().items()}}
        if plan.accounts
        else {}
    )
    return {
        **{action: n for action, n in summary.counts.items()},
        "model_rows": summary.rows,
        "writes": summary.writes,
        "matched_customers": summary.matched,
        "reject_percent": round(summary.reject_percent, 2),
        "change_percent": round(summary.change_percent, 2),
        "plan_id": plan.plan_id,
        **by_account,
    }


def apply_figures(result: ApplyResult) -> dict[str, Any]:
    return {
        "writes": result.writes,
        "creates": result.created,
        "updates": result.updated,
        "failures": result.failed,
        "already_sent": result.already_sent,
        "replayed_failures": result.replayed,
        "api_calls": result.api_calls,
        "api_retries": result.api.get("retries", 0),
        "api_rate_limited": result.api.get("rate_limited", 0),
        "duration_s": round(result.duration_s, 3),
        "goodput_writes_per_s": round(result.goodput, 1),
        "plan_id": result.plan_id,
        **({"writes_by_account": result.by_account} if result.by_account else {}),
    }


def links_markdown(result: ApplyResult, dashboard_base: str, limit: int = 5) -> str:
    """Links to a few of the customers the sync wrote, in the Stripe dashboard."""
    if not result.written:
        return "_no customers written_"
    return "\n".join(
        f"- [{stripe_id}]({dashboard_base}{stripe_id}) {status} ({key})"
        for key, stripe_id, status in result.written[:limit]
    )


def failures_markdown(result: ApplyResult, limit: int = 10) -> str:
    if not result.errors:
        return "_no failures_"
    return "\n".join(f"- `{key}`: {message}" for key, message in result.errors[:limit])


def failed_writes_message(config: ExportConfig, result: ApplyResult, limit: int = 3) -> str:
    """Why a sync whose writes finally failed fails its run: how many, and where to look."""
    first = "; ".join(f"{key}: {message}" for key, message in result.errors[:limit])
    table = state_table(config).replace('"', "")
    history = history_table(config).replace('"', "")
    return (
        f"sync '{config.name}': {result.failed} of {result.writes} writes failed after retries "
        f"({result.created} created, {result.updated} updated, all recorded). Each failed row "
        f"is in {table} with status 'failed' and Stripe's message in `reason` (also in this "
        f"run's failed_rows metadata, and every attempt in {history}); the next run plans "
        f"them again. First: {first}"
    )

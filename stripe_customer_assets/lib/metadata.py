"""Materialization metadata users read at a glance."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from stripe_customer_assets.mirror.sync import MirrorResult
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT

if TYPE_CHECKING:
    import pandas as pd


def preview(df: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """A small markdown table; JSON-ish cells are shortened."""
    return preview_rows(list(df.columns), df.head(rows).itertuples(index=False))


def preview_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> dg.MetadataValue:
    """``preview`` of rows as a query returns them (no pandas needed: a run that changed
    nothing stays cheap)."""
    from tabulate import tabulate

    shown = [[_short(v) for v in row] for row in rows]
    if not shown:
        return dg.MetadataValue.md("_no rows_")
    return dg.MetadataValue.md(tabulate(shown, headers=list(columns), tablefmt="pipe", showindex=False))


def _short(value: Any, width: int = 60) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def mirror_metadata(result: MirrorResult, schema: str) -> dict[str, Any]:
    seconds = max(result.duration_s, 1e-9)
    return {
        "mode": result.mode,
        "reason": result.reason,
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "rows_deleted": result.deleted,
        "events_applied": result.events,
        "events_reread": result.reread,
        "customers_read_back": result.retrieved,
        "customers_listed": result.listed,
        "test_clock_customers": result.test_clocks.customers if result.test_clocks else 0,
        "api_calls": result.api_calls,
        "api_retries": result.api.get("retries", 0),
        "api_rate_limited": result.api.get("rate_limited", 0),
        "cursor_event_id": result.cursor_event_id or "",
        "cursor_event_created": result.cursor_event_created.isoformat() if result.cursor_event_created else "",
        "mirror_version": result.mirror_version,
        "duration_s": round(result.duration_s, 3),
        "customers_per_s": round((result.listed or result.events) / seconds, 1),
        "dagster/row_count": result.row_count,
        "dagster/table_name": f"{schema}.customers",
        # Several accounts share the table: whose rows this refresh wrote (and counted).
        **({"account": result.account} if result.account != DEFAULT_ACCOUNT else {}),
    }

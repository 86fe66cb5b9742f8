"""The apply step: send the stored plan's writes and record every outcome.

1. Load the stored plan; it must be younger than ``age.MAX_PLAN_AGE`` on Stripe's clock
   (Stripe forgets idempotency keys after 24 h) and its guards must pass (else nothing is
   sent); a plan that ages past the limit while it is applied stops sending.
2. Skip writes an earlier run already made (their idempotency key is recorded as sent).
3. Send the rest concurrently (``writes.send_writes``), recording results in batches.
4. Rewrite the state table to exactly the plan's keys (``reconcile.final_state``).

Every outcome, and the plan's rejected and skipped rows, is appended to the sync's history
in the transaction that records it (``history.py``), which is pruned at the end.

A 401 / 403 stops the sync with ``ExportAccessError`` after the in-flight writes are
recorded; a 4xx on one row is recorded as ``failed`` with Stripe's message.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from stripe_customer_assets.export.age import age_problem, check_plan_age, while_fresh
from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.errors import ExportAccessError, ExportError, ExportPlanAgeError
from stripe_customer_assets.export.guards import check_guards
from stripe_customer_assets.export.history import (
    append_history,
    ensure_history_table,
    prune_history,
    unwritten_rows,
    write_row,
)
from stripe_customer_assets.export.plan import Plan
from stripe_customer_assets.export.plan_table import load_plan
from stripe_customer_assets.export.reconcile import final_state
from stripe_customer_assets.export.state_table import (
    last_pushed,
    pushed_after,
    read_state,
    record_results,
    replace_state,
    sent_keys,
)
from stripe_customer_assets.export.writes import WriteResult, interleave, send_writes
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse

DEFAULT_BATCH_SIZE = 100


@dataclass
class ApplyResult:
    sync: str
    plan_id: str
    planned_at: dt.datetime
    run_id: str = ""
    planned_writes: int = 0
    already_sent: int = 0  # writes an earlier run made (not repeated)
    created: int = 0
    updated: int = 0
    failed: int = 0
    replayed: int = 0  # failures Stripe replayed from an idempotency key (then settled)
    api_calls: int = 0
    api: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    row_count: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (key, message), first few
    written: list[tuple[str, str, str]] = field(default_factory=list)  # (key, stripe id, status)

    @property
    def writes(self) -> int:
        return self.created + self.updated + self.failed

    @property
    def goodput(self) -> float:
        """Successful writes per second."""
        return (self.created + self.updated) / self.duration_s if self.duration_s > 0 else 0.0


class _Recorder:
    """Collects results and upserts them every ``batch_size``."""

    def __init__(
        self,
        warehouse: Warehouse,
        config: ExportConfig,
        plan: Plan,
        result: ApplyResult,
        batch_size: int,
    ):
        self.warehouse, self.config, self.plan, self.result = warehouse, config, plan, result
        self.batch_size = max(1, batch_size)
        self.batch: list[dict[str, Any]] = []
        self.pushed: dict[tuple[str, str], Any] | None = None  # read at the first result
        self.history: list[dict[str, Any]] = []

    def __call__(self, outcome: WriteResult) -> None:
        r = self.result
        r.replayed += outcome.replayed
        if outcome.status == "failed":
            r.failed += 1
            if len(r.errors) < 20:
                r.errors.append((outcome.entry.key or "", outcome.error or ""))
        elif outcome.status == "created":
            r.created += 1
        else:
            r.updated += 1
        if outcome.status != "failed" and len(r.written) < 20:
            r.written.append((outcome.entry.key or "", outcome.stripe_id, outcome.status))
        row = outcome.state_row(self.plan.plan_id)
        if self.pushed is None:
            self.pushed = last_pushed(self.warehouse, self.config)
        last = self.pushed.get((row["key"], row["stripe_id"]))
        if outcome.status == "failed":
            row["pushed_values"] = pushed_after(last, {}) if last else None
        else:  # a created customer starts with nothing pushed
            row["pushed_values"] = pushed_after(last, outcome.entry.changes)
        self.batch.append(row)
        self.history.append(write_row(r.run_id, self.plan.plan_id, outcome))
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        history, self.history = self.history, []
        record_results(
            self.warehouse,
            self.config,
            batch,
            also=lambda conn: append_history(conn, self.config, history),
        )


def apply_plan(
    config: ExportConfig,
    api: StripeApi,
    warehouse: Warehouse,
    *,
    concurrency: int = 8,
    batch_size: int = DEFAULT_BATCH_SIZE,
    plan: Plan | None = None,
    run_id: str | None = None,
) -> ApplyResult:
    """Apply the stored plan (or ``plan``) to Stripe; see the module docstring.

    ``run_id`` names this run in the history (the Dagster run's id; default: a new uuid)."""
    started = time.monotonic()
    calls_before = api.stats.snapshot()["calls"]
    plan = plan or load_plan(warehouse, config)
    if plan is None:
        raise ExportError(
            f"sync '{config.name}' has no plan yet: materialize {config.name}_plan first "
            "(it previews the changes; the sync then applies them)"
        )
    check_plan_age(config, api, plan)
    check_guards(config, plan.summary)
    done = sent_keys(warehouse, config)
    with warehouse.begin() as conn:
        ensure_history_table(conn, config)
    writes = plan.writes()
    todo = [e for e in writes if e.idempotency_key not in done]
    result = ApplyResult(
        config.name,
        plan.plan_id,
        plan.planned_at,
        planned_writes=len(writes),
        already_sent=len(writes) - len(todo),
        run_id=run_id or uuid.uuid4().hex,
    )
    recorder = _Recorder(warehouse, config, plan, result, batch_size)
    expired = [False]
    try:
        fatal = send_writes(
            api,
            while_fresh(interleave(todo), api, plan, expired),
            concurrency=concurrency,
            on_result=recorder,
        )
    finally:
        recorder.flush()
    if expired[0] and fatal is None:
        sent = result.writes
        raise ExportPlanAgeError(
            f"sync '{config.name}' stopped after {sent} of {len(todo)} writes (recorded in "
            f"{config.state_schema}.{config.name}): "
            + (age_problem(config, plan, api.now() - plan.planned_at) or "the plan expired")
        )
    if fatal is not None:
        sent = result.created + result.updated
        raise ExportAccessError(
            f"sync '{config.name}' stopped after {sent} of {len(todo)} writes "
            f"(recorded in {config.state_schema}.{config.name}): {fatal.error}"
        )
    now = dt.datetime.now(dt.UTC)
    final = final_state(plan, read_state(warehouse, config), now)
    unwritten = unwritten_rows(result.run_id, plan, now)

    def history(conn: Any) -> None:
        append_history(conn, config, unwritten)
        prune_history(conn, config)

    replace_state(warehouse, config, final, also=history)
    snapshot = api.stats.snapshot()
    result.api = snapshot
    result.api_calls = snapshot["calls"] - calls_before
    result.row_count = len(final)
    result.duration_s = time.monotonic() - started
    return result

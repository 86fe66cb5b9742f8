"""The apply step: send the stored plan's writes and record every outcome.

1. Load the stored plan; it must be younger than ``age.MAX_PLAN_AGE`` on Stripe's clock
   (Stripe forgets idempotency keys after 24 h) and its guards must pass (else nothing is
   sent); a plan that ages past the limit while it is applied stops sending.
2. Skip writes an earlier run already made (their idempotency key is recorded as sent).
3. Send the rest concurrently (``writes.send_writes``), recording results in batches: each
   target account through its own client (``client_for(account)``, with its own rate
   limiter), several accounts at once (``account_parallelism``), each account at
   ``concurrency`` requests as a single account always was.
4. Rewrite the state table to exactly the plan's keys (``reconcile.final_state``).

Every outcome, and the plan's rejected and skipped rows, is appended to the sync's history
in the transaction that records it (``history.py``), which is pruned at the end.

A 401 / 403 stops the sending to that account (other accounts go on), then the sync fails
with ``ExportAccessError`` once the in-flight writes are recorded; a 4xx on one row is
recorded as ``failed`` with Stripe's message.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stripe_customer_assets.export.accounts import names_accounts
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
from stripe_customer_assets.export.plan import Plan, PlanEntry
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
from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi
from stripe_customer_assets.warehouse import Warehouse

DEFAULT_BATCH_SIZE = 100
DEFAULT_ACCOUNT_PARALLELISM = 4
ClientFor = Callable[[str], StripeApi]


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
    by_account: dict[str, dict[str, int]] = field(default_factory=dict)  # account -> status -> n

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
        self.pushed: dict[tuple[str, str, str], Any] | None = None  # read at the first result
        self.history: list[dict[str, Any]] = []
        self.lock = threading.Lock()  # accounts send in parallel: one result at a time
        self.accounts = names_accounts(config)  # count each account's outcomes

    def __call__(self, outcome: WriteResult) -> None:
        with self.lock:
            self._record(outcome)

    def _record(self, outcome: WriteResult) -> None:
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
        if self.accounts:
            counts = r.by_account.setdefault(outcome.entry.account or "", {})
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status != "failed" and len(r.written) < 20:
            r.written.append((outcome.entry.key or "", outcome.stripe_id, outcome.status))
        row = outcome.state_row(self.plan.plan_id)
        if self.pushed is None:
            self.pushed = last_pushed(self.warehouse, self.config)
        last = self.pushed.get((row["account"], row["key"], row["stripe_id"]))
        if outcome.status == "failed":
            row["pushed_values"] = pushed_after(last, {}) if last else None
        else:  # a created customer starts with nothing pushed
            row["pushed_values"] = pushed_after(last, outcome.entry.changes)
        self.batch.append(row)
        self.history.append(write_row(r.run_id, self.plan.plan_id, outcome))
        if len(self.batch) >= self.batch_size:
            self._flush()

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
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
    client_for: ClientFor | None = None,
    account_parallelism: int = DEFAULT_ACCOUNT_PARALLELISM,
) -> ApplyResult:
    """Apply the stored plan (or ``plan``) to Stripe; see the module docstring.

    ``api``: the deployment's client (Stripe's clock for the plan's age; every write when
    ``client_for`` is None). ``client_for(account)``: the client writing to a target account.
    ``run_id`` names this run in the history (the Dagster run's id; default: a new uuid)."""
    started = time.monotonic()
    clients = _Clients(api, client_for)
    plan = plan or load_plan(warehouse, config)
    if plan is None:
        raise ExportError(
            f"sync '{config.name}' has no plan yet: materialize {config.name}_plan first "
            "(it previews the changes; the sync then applies them)"
        )
    check_plan_age(config, api, plan)
    check_guards(config, plan)
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
        fatal = _send_by_account(
            clients, todo, plan, expired, recorder, concurrency, account_parallelism
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
            f"(recorded in {config.state_schema}.{config.name}): {fatal}"
        )
    now = dt.datetime.now(dt.UTC)
    final = final_state(plan, read_state(warehouse, config), now)
    unwritten = unwritten_rows(result.run_id, plan, now)

    def history(conn: Any) -> None:
        append_history(conn, config, unwritten)
        prune_history(conn, config)

    replace_state(warehouse, config, final, also=history)
    result.api = clients.snapshot()
    result.api_calls = clients.calls()
    result.row_count = len(final)
    result.duration_s = time.monotonic() - started
    return result


class _Clients:
    """The client of each target account, made once per run, and the calls they made."""

    def __init__(self, api: StripeApi, client_for: ClientFor | None):
        self.api, self.client_for = api, client_for
        self.made: dict[str, StripeApi] = {}
        self.lock = threading.Lock()
        self.stats: dict[int, tuple[Any, int]] = {}  # id(stats) -> (stats, calls before)
        self._watch(api)

    def _watch(self, client: StripeApi) -> None:
        if id(client.stats) not in self.stats:
            self.stats[id(client.stats)] = (client.stats, client.stats.snapshot()["calls"])

    def __call__(self, account: str) -> StripeApi:
        if self.client_for is None:
            return self.api
        with self.lock:
            if account not in self.made:
                self.made[account] = client = self.client_for(account)
                self._watch(client)
            return self.made[account]

    def calls(self) -> int:
        return sum(stats.snapshot()["calls"] - before for stats, before in self.stats.values())

    def snapshot(self) -> dict[str, Any]:
        """The clients' figures added up (one set when they share their stats)."""
        total: dict[str, Any] = {}
        for stats, _ in self.stats.values():
            for name, value in stats.snapshot().items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    total[name] = total.get(name, 0) + value
                elif name not in total:
                    total[name] = value
        return total


def _send_by_account(
    clients: _Clients,
    todo: list[PlanEntry],
    plan: Plan,
    expired: list[bool],
    recorder: _Recorder,
    concurrency: int,
    parallelism: int,
) -> str | None:
    """Send each account's writes through its client, several accounts at once; returns
    what stopped the sending (an account's refused key or permission), if anything did."""
    by_account: dict[str, list[PlanEntry]] = {}
    for entry in todo:
        by_account.setdefault(entry.account or "", []).append(entry)

    def send(account: str) -> str | None:
        try:
            client = clients(account)
        except (ValueError, KeyError, LookupError, StripeAccessError) as err:
            # No client for the account (no longer configured, its key missing): nothing
            # is sent to it; the others go on.
            return f"no Stripe client for the account: {err}"
        fatal = send_writes(
            client,
            while_fresh(interleave(by_account[account]), client, plan, expired),
            concurrency=concurrency,
            on_result=recorder,
        )
        return None if fatal is None else fatal.error

    accounts = sorted(by_account)
    if len(accounts) <= 1:
        stops = [send(a) for a in accounts]
    else:
        workers = max(1, min(parallelism, len(accounts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export-account") as pool:
            stops = list(pool.map(send, accounts))
    stopped = [(a, why) for a, why in zip(accounts, stops, strict=True) if why is not None]
    if not stopped:
        return None
    if not plan.accounts:  # the single account: its message as it is
        return "; ".join(why for _, why in stopped)
    return "; ".join(f"account {a!r}: {why}" for a, why in stopped)

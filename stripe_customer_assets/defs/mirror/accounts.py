"""Many accounts (``STRIPE_ACCOUNTS_FILE``): the sweep sensor ``stripe_accounts_sweep``.

Each tick it
1. discovers the accounts (``accounts/discovery.py``): the plain accounts of the file and each
   platform's connected accounts (``GET /v1/accounts``, one call per hundred accounts), records
   them in ``<schema>.stripe_accounts``, and adds/removes the mirror's partitions
   (``stripe_accounts``) in the same tick: a new connected account is mirrored on the next
   sweep, without a restart or a redeploy; one no longer listed keeps its rows and is no longer
   refreshed;
2. asks each account for its newest customer event (``GET /v1/events?limit=1``), one call per
   account, on threads, each in its account's rate budget;
3. requests mirror runs for the accounts that are due: new ones, ones whose newest event
   changed, and per account the settle and keep-alive runs of the single-account sensor
   (``sensor.py``), its state per account in the cursor (JSON). The accounts are walked in
   partition order in runs of at most ``STRIPE_MIRROR_ACCOUNTS_PER_RUN`` (the mirror's backfill
   policy); a run is requested for each such range holding a due account (the others of the
   range cost one events call each in that run). 200 changed accounts are 8 runs, not 200.

An idle sweep costs one call per account plus the discovery pages.

Concurrency (the pool ``stripe_accounts``): every run of the partitioned mirror takes one slot
of that pool, and the sweep sets its limit (``accounts_pool_limit``) to the smallest
``max_parallel_runs`` of the platforms whose connected accounts share the platform's budget
(``rate_budget: platform``), else the largest ``max_parallel_runs`` (at least one). Any run may
cover accounts of any platform, so capping all mirror runs at that number is what keeps "at
most ``max_parallel_runs`` runs spend one platform's budget" true; each of those runs paces the
platform at its rate / ``max_parallel_runs`` (``StripeResource.connected_api``). One account is
never refreshed by two runs at once: the mirror's per-account lock serializes them.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from stripe_customer_assets.accounts.discovery import discover_accounts
from stripe_customer_assets.defs.mirror.assets import accounts_per_run, multi_account_deployment
from stripe_customer_assets.defs.mirror.sensor import KEEPALIVE_S, SENSOR_INTERVAL_S
from stripe_customer_assets.lib.keys import ACCOUNTS_PARTITIONS_NAME, ACCOUNTS_POOL, MIRROR_KEY
from stripe_customer_assets.mirror.events import newest_event
from stripe_customer_assets.mirror.sync import events_overlap_s
from stripe_customer_assets.resources import StripeResource, WarehouseResource
from stripe_customer_assets.stripe_api import ApiStats

CHECK_THREADS = 16
# A tick stops asking accounts after this long and leaves the rest (the longest unchecked
# first) to the next tick: Dagster gives a sensor evaluation 60 s, and a platform's budget
# paced for its parallel runs answers a few hundred accounts in that time.
CHECK_SECONDS = 30.0
# Runs that may still read an account's events: the sweep does not ask those accounts.
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def accounts_pool_limit(stripe: StripeResource) -> int:
    """The slot limit of the pool ``stripe_accounts`` (see the module's docstring)."""
    platforms = stripe.platforms()
    shared = [p.max_parallel_runs for p in platforms if p.rate_budget == "platform"]
    if shared:
        return max(1, min(shared))
    return max([1, *(p.max_parallel_runs for p in platforms)])


def account_due(
    seen: dict[str, Any], event: dict[str, Any] | None, now: int
) -> tuple[dict[str, Any], str | None]:
    """One account's next sensor state and why it is due now (None: not due): the rules of
    ``sensor.py``. ``seen`` is empty for an account never checked (a new one: due)."""
    newest = event["id"] if event else "none"
    if not seen:
        created = event.get("created") if event else None
        return {
            "newest": newest,
            "created": created,
            "settled": event is None,
            "requested": now,
        }, "new"
    if newest != seen.get("newest"):
        created = event.get("created") if event else None
        return {
            "newest": newest,
            "created": created,
            "settled": event is None,
            "requested": now,
        }, "changed"
    created = seen.get("created")
    if not seen.get("settled") and isinstance(created, int) and now >= created + events_overlap_s():
        return {**seen, "settled": True, "requested": now}, "settle"
    requested = seen.get("requested")
    if not isinstance(requested, int):
        return {**seen, "requested": now}, None
    if now - requested >= KEEPALIVE_S:
        return {**seen, "requested": now}, "keepalive"
    return seen, None


def _parse(cursor: str | None) -> dict[str, dict[str, Any]]:
    try:
        value = json.loads(cursor) if cursor else {}
    except ValueError:
        value = {}
    accounts = value.get("accounts") if isinstance(value, dict) else None
    return accounts if isinstance(accounts, dict) else {}


def check_accounts(
    stripe: StripeResource,
    keys: list[str],
    stats: ApiStats,
    seconds: float | None = None,
    *,
    whole_budget: bool = False,
) -> dict[str, tuple[dict[str, Any] | None, int] | Exception]:
    """Each account's newest customer event and Stripe's time, one call each, on threads, in
    the order of ``keys``; accounts not reached within ``seconds`` are left out.
    ``whole_budget``: no mirror run is spending a platform's budget, so the checks may."""
    deadline = time.monotonic() + (CHECK_SECONDS if seconds is None else seconds)

    def one(key: str):
        if time.monotonic() > deadline:
            return key, None
        try:
            api = stripe.api(stats, account=key, whole_budget=whole_budget)
            event = newest_event(api)
            return key, (event, int(api.now().timestamp()))
        except Exception as err:  # noqa: BLE001 - one account's refusal must not stop the sweep
            return key, err

    if not keys:
        return {}
    with ThreadPoolExecutor(min(CHECK_THREADS, len(keys)), thread_name_prefix="sweep") as pool:
        return {key: answer for key, answer in pool.map(one, keys) if answer is not None}


def mirror_runs_in_flight(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """The queued and running runs that refresh the mirror (one query a tick)."""
    return [
        run
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT))
        if run.asset_selection is None or MIRROR_KEY in run.asset_selection
    ]


def accounts_in_flight(runs: list[dg.DagsterRun], order: list[str]) -> set[str]:
    """Accounts these mirror runs cover (their partition or range): a run reads their events,
    so asking them now would spend the budget the run needs."""
    position = {key: i for i, key in enumerate(order)}
    covered: set[str] = set()
    for run in runs:
        tags = run.tags
        first, last = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
        if first in position and last in position:
            covered.update(order[position[first] : position[last] + 1])
        elif tags.get(PARTITION_NAME_TAG) in position:
            covered.add(tags[PARTITION_NAME_TAG])
    return covered


def plan_runs(
    order: list[str], due: dict[str, str], per_run: int
) -> list[tuple[str, str, list[str]]]:
    """(first, last, due keys) of each range of ``per_run`` accounts (in partition order) that
    holds a due account."""
    runs = []
    for start in range(0, len(order), per_run):
        chunk = order[start : start + per_run]
        due_here = [key for key in chunk if key in due]
        if due_here:
            runs.append((chunk[0], chunk[-1], due_here))
    return runs


def sweep(
    context: dg.SensorEvaluationContext, stripe: StripeResource, warehouse: WarehouseResource
) -> dg.SensorResult:
    stats = ApiStats()
    wh = warehouse.warehouse()
    schema = warehouse.mirror_schema
    instance = context.instance
    existing = list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
    found = discover_accounts(stripe, wh, schema, existing, stats=stats)
    for problem in found.problems:
        context.log.warning(problem)
    removed = set(found.to_remove)
    order = [key for key in existing if key not in removed] + found.to_add

    seen_before = _parse(context.cursor)
    in_flight = mirror_runs_in_flight(instance)
    busy = accounts_in_flight(in_flight, order)
    # The longest unchecked first (never checked: first of all), so a tick cut short by
    # CHECK_SECONDS leaves the others to the next one.
    wanted = sorted((k for k in order if k not in busy), key=lambda k: seen_before.get(k, {}).get("checked", 0))
    checked = check_accounts(stripe, wanted, stats, whole_budget=not in_flight)
    state: dict[str, dict[str, Any]] = {}
    due: dict[str, str] = {}
    for key in order:
        answer = checked.get(key)
        if answer is None or isinstance(answer, Exception):
            if answer is not None:
                context.log.warning(f"account {key}: {answer}")
            if key in seen_before:
                state[key] = seen_before[key]
            continue
        event, now = answer
        state[key], reason = account_due(seen_before.get(key, {}), event, now)
        state[key] = {**state[key], "checked": now}
        if reason:
            due[key] = reason
    for key in found.to_add:  # a new partition is mirrored at once, even when its check failed
        due.setdefault(key, "new")

    _set_pool_limit(instance, accounts_pool_limit(stripe))
    requests = []
    for first, last, keys in plan_runs(order, due, accounts_per_run()):
        digest = hashlib.sha256(
            json.dumps(
                [
                    [k, due[k], state.get(k, {}).get("newest"), state.get(k, {}).get("requested")]
                    for k in keys
                ]
            ).encode()
        ).hexdigest()[:16]
        reasons = sorted({due[k] for k in keys})
        requests.append(
            dg.RunRequest(
                run_key=f"accounts-{digest}",
                asset_selection=[MIRROR_KEY],
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: first,
                    ASSET_PARTITION_RANGE_END_TAG: last,
                    "stripe/accounts_due": str(len(keys)),
                    "stripe/reasons": ",".join(reasons),
                },
            )
        )
    dynamic: list[Any] = []
    if found.to_add:
        dynamic.append(dg.AddDynamicPartitionsRequest(ACCOUNTS_PARTITIONS_NAME, found.to_add))
    if found.to_remove:
        dynamic.append(dg.DeleteDynamicPartitionsRequest(ACCOUNTS_PARTITIONS_NAME, found.to_remove))
    cursor = json.dumps({"accounts": state}, sort_keys=True)
    left = len(wanted) - len(checked)
    summary = (
        f"{len(order)} accounts ({len(found.to_add)} new, {len(found.to_remove)} removed), "
        f"{len(busy)} in a run, {len(checked)} checked"
        + (f" ({left} left for the next tick)" if left else "")
        + f", {len(due)} due, {stats.calls} Stripe calls"
    )
    context.log.info(summary)
    if not requests:
        return dg.SensorResult(
            skip_reason=f"no account changed: {summary}",
            cursor=cursor,
            dynamic_partitions_requests=dynamic,
        )
    return dg.SensorResult(
        run_requests=requests, cursor=cursor, dynamic_partitions_requests=dynamic
    )


def _set_pool_limit(instance: dg.DagsterInstance, limit: int) -> None:
    storage = instance.event_log_storage
    if storage.get_concurrency_info(ACCOUNTS_POOL).slot_count != limit:
        storage.set_concurrency_slots(ACCOUNTS_POOL, limit)


if multi_account_deployment():

    @dg.sensor(
        name="stripe_accounts_sweep",
        asset_selection=[MIRROR_KEY],
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Every account of STRIPE_ACCOUNTS_FILE: discovers each platform's connected accounts "
            "(new ones become partitions and are mirrored at once), asks each account for its "
            "newest customer event (one call each) and requests mirror runs only for the "
            "accounts that changed, in runs of STRIPE_MIRROR_ACCOUNTS_PER_RUN accounts. "
            "Interval: STRIPE_SENSOR_INTERVAL_SECONDS (default 60)."
        ),
    )
    def stripe_accounts_sweep(
        context: dg.SensorEvaluationContext, stripe: StripeResource, warehouse: WarehouseResource
    ):
        return sweep(context, stripe, warehouse)

"""Work that the crash and concurrency tests run in child processes (and kill with SIGKILL).

Children are forked from a fork server that imported this module (and so the project and
Dagster) once, so a child starts in milliseconds yet shares nothing with the test process: its own
interpreter state, connections, rate limiter and warehouse locks. Each function reports
through ``results`` (a queue) and, at a hold point, sets ``reached`` and sleeps until killed.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import time
from typing import Any

import dagster as dg
import stripe

from stripe_customer_assets.defs.mirror.assets import stripe_customers
from stripe_customer_assets.export import (
    ExportPlanAgeError,
    apply_plan,
    make_plan,
    parse_config,
    sent_keys,
    store_plan,
)
from stripe_customer_assets.export import apply as apply_module
from stripe_customer_assets.export.age import mirror_stripe_time
from stripe_customer_assets.mirror import result as result_module
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.resources import StripeResource, WarehouseResource
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_standin.app import STANDIN_API_KEY

stripe.enable_telemetry = False

HOLD_SECONDS = 600.0  # a held child sleeps this long: the test kills it well before


def context() -> multiprocessing.context.ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def _api(base_url: str) -> StripeApi:
    return StripeApi(STANDIN_API_KEY, api_base=base_url, rate_limit=5000, endpoint_rate_limit=5000, backoff_base_s=0.01)


def _hold(reached: Any) -> None:
    reached.set()
    time.sleep(HOLD_SECONDS)


def mirror(
    base_url: str,
    warehouse_url: str,
    schema: str,
    results: Any,
    *,
    full_refresh: bool = False,
    concurrency: int = 4,
    reached: Any = None,
    hold_in_commit: bool = False,
) -> None:
    """Refresh the mirror; with ``reached``, hold after fetching, before the commit (or with
    ``hold_in_commit``, inside the commit transaction, its rows written, the cursor next)."""
    before_commit = None
    if reached is not None and hold_in_commit:
        real_write_cursor = result_module.write_cursor

        def write_cursor_then_hold(*args: Any, **kwargs: Any) -> None:
            real_write_cursor(*args, **kwargs)
            _hold(reached)

        result_module.write_cursor = write_cursor_then_hold
    elif reached is not None:
        before_commit = lambda: _hold(reached)
    result = refresh_mirror(
        _api(base_url),
        Warehouse(warehouse_url),
        schema,
        full_refresh=full_refresh,
        concurrency=concurrency,
        before_commit=before_commit,
    )
    results.put(
        {
            "mode": result.mode,
            "inserted": result.inserted,
            "updated": result.updated,
            "deleted": result.deleted,
            "cursor": result.cursor_event_id,
        }
    )


def export(
    base_url: str,
    warehouse_url: str,
    schema: str,
    attributes: dict[str, Any],
    results: Any,
    *,
    replan: bool = False,
    batch_size: int = 10,
    hold_at_flush: int | None = None,
    reached: Any = None,
) -> None:
    """Apply the stored plan (``replan``: refresh the mirror and plan first, as the job does).

    With ``hold_at_flush=n`` the n-th batch of results is held before it is recorded: the
    writes were sent (and the in-flight ones finish), their results are not in the warehouse.
    """
    api, wh, config = _api(base_url), Warehouse(warehouse_url), parse_config(attributes)
    if replan:
        refresh_mirror(api, wh, schema, concurrency=4)
        planned_at = mirror_stripe_time(wh, schema, config)  # as the plan asset times it
        plan = make_plan(wh, config, schema, sent_keys=sent_keys(wh, config), planned_at=planned_at)
        store_plan(wh, config, plan)
    if hold_at_flush is not None:
        real_record = apply_module.record_results
        flushes = 0

        def record_then_hold(*args: Any, **kwargs: Any) -> None:
            nonlocal flushes
            flushes += 1
            if flushes == hold_at_flush:
                _hold(reached)
            real_record(*args, **kwargs)

        apply_module.record_results = record_then_hold
    try:
        result = apply_plan(config, api, wh, concurrency=4, batch_size=batch_size)
    except ExportPlanAgeError as err:
        results.put({"refused": str(err)})
        return
    results.put(
        {
            "planned": result.planned_writes,
            "already_sent": result.already_sent,
            "created": result.created,
            "updated": result.updated,
            "failed": result.failed,
        }
    )


def warehouse_writer(
    warehouse_url: str, table: str, worker: int, rows: int, hold_s: float, results: Any
) -> None:
    """Insert ``rows`` rows, one transaction each, each held open ``hold_s`` seconds; report
    when each transaction was inside the warehouse (wall clock, shared by processes)."""
    wh = Warehouse(warehouse_url, lock_timeout=60)
    inside = []
    for i in range(rows):
        with wh.begin() as conn:
            entered = time.time()
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES ({worker}, {i})")
            time.sleep(hold_s)
            inside.append((entered, time.time()))
    results.put({"worker": worker, "inside": inside})


def materialize_mirror(
    environment: dict[str, str],
    base_url: str,
    warehouse_url: str,
    schema: str,
    results: Any,
) -> None:
    """One Dagster run of ``stripe/customers`` (a full refresh) on the instance that
    ``environment`` (DAGSTER_HOME, DAGSTER_PG_*) selects; reports when its step ran, from
    the instance's event log."""
    os.environ.update(environment)
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [stripe_customers],
            instance=instance,
            resources={
                "stripe": StripeResource(api_key=STANDIN_API_KEY, api_base=base_url),
                "warehouse": WarehouseResource(url=warehouse_url, mirror_schema=schema),
            },
            run_config={"ops": {"stripe__customers": {"config": {"full_refresh": True}}}},
        )
        times = {
            e.dagster_event.event_type_value: e.timestamp
            for e in instance.all_logs(result.run_id)
            if e.dagster_event is not None
        }
    results.put(
        {"success": result.success, "start": times["STEP_START"], "end": times["STEP_SUCCESS"]}
    )

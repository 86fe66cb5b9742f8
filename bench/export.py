"""Scenario 3: an export (reverse ETL) of k changed rows, and of creates plus updates.

The mirror already holds the account. A model table is derived from it in the warehouse,
then the export's own plain-Python API runs as the Dagster assets run it: plan (model joined
with the mirror, no Stripe calls), store the plan, apply it (one write per changed row).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.naive import NaiveExport
from bench.report import Row
from bench.standin import StandinProcess
from stripe_customer_assets.export import apply_plan, make_plan, parse_config, sent_keys, store_plan
from stripe_customer_assets.mirror.table import customers_table
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse

MODEL_SCHEMA = "bench_model"
WRITE_ENDPOINTS = ("customers.create", "customers.update")
STATE_SCHEMA = "bench_exports"
TARGET_RATIO = 0.90


@dataclass
class ExportRun:
    name: str
    model_rows: int
    writes: int
    creates: int
    updates: int
    calls: int  # Stripe calls the apply step made
    reads: int
    plan_s: float
    apply_s: float
    rate_limited: int
    by_endpoint: dict[str, int]
    writes_s: float  # from the start of the apply step to the last write answered
    first_write_s: float  # from the start of the apply step to the first write answered
    throughput: float  # writes answered per second, first to last
    endpoint_rates: dict[str, float]  # the same, for each write endpoint on its own


def _model(warehouse: Warehouse, table: str, select: str) -> None:
    with warehouse.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{MODEL_SCHEMA}"')
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{MODEL_SCHEMA}"."{table}"')
        conn.exec_driver_sql(f'CREATE TABLE "{MODEL_SCHEMA}"."{table}" AS {select}')


def changed_rows_model(warehouse: Warehouse, mirror_schema: str, changed: int) -> str:
    """Every live customer keyed by id, ``changed`` of them with a new name.

    Customers whose Stripe name has surrounding spaces are left out: the export trims model
    values, so those rows would be changes too.
    """
    _model(
        warehouse,
        "accounts",
        f"SELECT id AS customer_id, CASE WHEN rank <= {int(changed)} THEN 'Renamed ' || id ELSE name END AS full_name "
        f"FROM (SELECT id, name, ROW_NUMBER() OVER (ORDER BY id) AS rank FROM {customers_table(mirror_schema)} "
        f"WHERE NOT deleted AND (name IS NULL OR name = trim(name))) AS live",
    )
    return "accounts"


def creates_updates_model(warehouse: Warehouse, mirror_schema: str, creates: int, updates: int) -> str:
    """``updates`` customers found by their (unique) email with a new name, and ``creates``
    rows whose email no customer has."""
    _model(
        warehouse,
        "crm",
        f"SELECT * FROM (SELECT email, 'Updated ' || id AS full_name FROM ("
        f"SELECT MIN(id) AS id, MIN(email) AS email FROM {customers_table(mirror_schema)} "
        f"WHERE NOT deleted AND email IS NOT NULL GROUP BY lower(email) HAVING COUNT(*) = 1"
        f") AS unique_emails ORDER BY id LIMIT {int(updates)}) AS existing "
        f"UNION ALL SELECT 'bench.new.' || CAST(i AS VARCHAR) || '@example.com' AS email, "
        f"'New customer ' || CAST(i AS VARCHAR) AS full_name FROM range({int(creates)}) AS t(i)",
    )
    return "crm"


def run_export(
    standin: StandinProcess,
    warehouse: Warehouse,
    mirror_schema: str,
    rate: float,
    name: str,
    table: str,
    key: dict[str, str],
    *,
    concurrency: int,
    api: StripeApi | None = None,
) -> ExportRun:
    config = parse_config(
        {
            "name": name,
            "model": f'SELECT * FROM "{MODEL_SCHEMA}"."{table}"',
            "key": key,
            "fields": {"name": "full_name"},
            "state_schema": STATE_SCHEMA,
            # A Stripe id cannot be chosen on create: rows keyed by id only update.
            "behavior": "update_only" if key["stripe_field"] == "id" else "update_or_create",
        }
    )
    started = time.perf_counter()
    plan = make_plan(warehouse, config, mirror_schema, sent_keys=sent_keys(warehouse, config))
    store_plan(warehouse, config, plan)
    planned = time.perf_counter()
    api = api or standin.api(rate)
    standin.admin.reset_stats()
    applying = time.time()
    result = apply_plan(config, api, warehouse, concurrency=concurrency)
    served = standin.stats()
    # When writes were answered (the stand-in's request log, on this machine's clock): the
    # sending rate, and how much of the apply step was the export's own warehouse work.
    log = [r for r in standin.admin.requests() if r.get("endpoint") in WRITE_ENDPOINTS]
    written = sorted(r["time"] for r in log)
    writes_s = written[-1] - applying if written else 0.0
    first_write_s = written[0] - applying if written else 0.0
    throughput = _rate(written)
    endpoint_rates = {e: _rate(sorted(r["time"] for r in log if r["endpoint"] == e)) for e in WRITE_ENDPOINTS}
    by_endpoint: dict[str, Any] = served.get("requests_by_endpoint", {})
    reads = sum(v for k, v in by_endpoint.items() if k.endswith((".list", ".retrieve")))
    if result.failed:
        raise AssertionError(f"export {name}: {result.failed} writes failed: {result.errors[:3]}")
    return ExportRun(
        name,
        plan.summary.rows,
        result.writes,
        result.created,
        result.updated,
        result.api_calls,
        reads,
        planned - started,
        result.duration_s,
        int(served.get("rate_limited", 0)),
        dict(by_endpoint),
        writes_s,
        first_write_s,
        throughput,
        endpoint_rates,
    )


def _rate(times: list[float]) -> float:
    """Requests per second from the first answer to the last."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def export_rows(run: ExportRun, rate: float, naive: NaiveExport, naive_rows: int) -> list[Row]:
    """Sending rate against R, the apply step against k / R (with the per-row loop over the
    whole model as baseline), and calls against k."""
    ideal_s = run.writes / rate
    label = (
        f"k={run.writes:,} changed of {run.model_rows:,} rows, R={rate:g}/s"
        if not run.creates
        else f"{run.creates:,} creates + {run.updates:,} updates, R={rate:g}/s"
    )
    details = {
        "apply_s": run.apply_s,
        "first_write_s": run.first_write_s,
        "writes_s": run.writes_s,
        "after_last_write_s": run.apply_s - run.writes_s,
        "plan_s": run.plan_s,
        "reads": run.reads,
        "rate_limited": run.rate_limited,
        "by_endpoint": run.by_endpoint,
        "writes_per_s_by_endpoint": run.endpoint_rates,
        "naive_sample_rows": naive.rows,
        "naive_s_per_row": naive.seconds / max(1, naive.rows),
    }
    naive_rate = naive.rows / naive.seconds if naive.seconds else 0.0
    return [
        Row(
            "export throughput",
            label,
            "writes/s",
            run.throughput,
            ideal=rate,
            baseline=naive_rate,
            baseline_note="per-row lookup + write, one after the other",
            target=f">= {TARGET_RATIO:.2f} of R",
            met=run.throughput >= TARGET_RATIO * rate,
            higher_is_better=True,
            details=details,
        ),
        Row(
            "export apply step",
            label,
            "s",
            run.apply_s,
            ideal=ideal_s,
            baseline=naive.seconds_for(naive_rows),
            baseline_note=f"per-row loop over all {naive_rows:,} model rows, {naive.rows} measured",
            target="-",
            details=details,
        ),
        Row(
            "export calls",
            label,
            "calls",
            run.calls,
            ideal=run.writes,
            baseline=naive.calls_for(naive_rows),
            baseline_note="a lookup and a write per row",
            # One read: the apply reads Stripe's clock (the plan's age) before any write.
            target="exactly k writes, 1 read",
            met=run.calls == run.writes + 1 and run.reads == 1,
            details={"reads": run.reads, "writes": run.writes},
        ),
    ]

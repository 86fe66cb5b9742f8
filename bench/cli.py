"""``python -m bench``: run the scenarios, print the table (see bench/__init__.py)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from bench.accounts import AccountsSizes, run_accounts
from bench.ceiling import ceiling_rows
from bench.defaults import ACCOUNT_RATE, defaults_rows
from bench.export import changed_rows_model, creates_updates_model, export_rows, run_export
from bench.incremental import incremental_rows
from bench.launch import launch_rows, run_launch
from bench.memory import memory_rows, scan_in_child
from bench.naive import naive_export, naive_import
from bench.policy import policy_rows
from bench.profile import profile_rows
from bench.report import Row, table, to_json
from bench.scan import SCHEMA, scan_once, scan_rows
from bench.standin import StandinProcess, StandinSettings
from bench.upsert import mirror_frame, upsert_once, upsert_rows
from bench.warehouses import POSTGRES_URL, duckdb_warehouse, postgres_reachable, postgres_schema
from stripe_customer_assets.warehouse import Warehouse

SCENARIOS = ("ceiling", "profile", "schedule", "scan", "incremental", "export", "defaults", "upsert", "memory", "launch", "accounts")


@dataclass(frozen=True)
class Sizes:
    customers: int = 100_000
    rates: tuple[float, ...] = (25.0, 100.0)
    latency_read: float = 0.3
    latency_write: float = 0.4
    concurrency: int = 64
    runs: int = 3
    naive_customers: int = 3_000
    events: int = 1_000
    export_changed: int = 1_000
    export_creates: int = 5_000
    export_updates: int = 5_000
    naive_export_rows: int = 20
    upsert_rows: int = 1_000_000
    upsert_runs: int = 3
    large_customers: int = 1_000_000
    large_rate: float = 100.0
    profile_pages: int = 100
    ceiling_seconds: float = 5.0
    defaults_customers: int = 30_000
    defaults_creates: int = 1_000
    defaults_updates: int = 1_000
    launch_customers: int = 20_000
    launch_rounds: int = 5
    connected_accounts: int = 200
    customers_per_account: int = 500
    accounts_rate: float = 25.0  # Stripe's test-mode limit, on each rate-limit account
    accounts_parallel: int = 4
    accounts_sample: int = 20
    accounts_modes: tuple[str, ...] = ("platform",)
    accounts_sensor_interval_s: int = 0  # 0: the project's default (60 s)


FULL = Sizes()
SMOKE = Sizes(
    customers=3_000,
    runs=1,
    naive_customers=300,
    events=150,
    export_changed=100,
    export_creates=50,
    export_updates=50,
    naive_export_rows=4,
    upsert_rows=20_000,
    large_customers=5_000,
    profile_pages=10,
    ceiling_seconds=1.0,
    defaults_customers=2_000,
    defaults_creates=50,
    defaults_updates=50,
    launch_customers=1_000,
    launch_rounds=1,
    connected_accounts=10,
    customers_per_account=50,
    accounts_parallel=2,
    accounts_sample=2,
    accounts_sensor_interval_s=5,
)


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


@contextlib.contextmanager
def _standin(sizes: Sizes, customers: int, rate: float | None) -> Iterator[StandinProcess]:
    settings = StandinSettings(
        customers=customers, latency_read=sizes.latency_read, latency_write=sizes.latency_write, rate_limit=rate
    )
    with StandinProcess(settings) as standin:
        _say(f"stand-in at {standin.url}: {customers:,} customers, R={rate}, up in {standin.seeded_in_s:.1f}s")
        yield standin


def run_ceiling_and_profile(sizes: Sizes, wanted: set[str]) -> list[Row]:
    rows: list[Row] = []
    settings = StandinSettings(customers=max(20_000, sizes.profile_pages * 100), latency_read=0.0, latency_write=0.0)
    with StandinProcess(settings) as standin:
        if "ceiling" in wanted:
            _say("stand-in ceiling")
            rows += ceiling_rows(standin, sizes.ceiling_seconds, max(sizes.rates))
        if "profile" in wanted:
            _say("client CPU profile")
            rows += profile_rows(standin, sizes.profile_pages)
    return rows


def run_api_scenarios(sizes: Sizes, wanted: set[str], work: str) -> list[Row]:
    """Full scans at each rate; at the highest, also the incremental and export scenarios."""
    rows: list[Row] = []
    top = max(sizes.rates)
    for rate in sorted(sizes.rates):
        with _standin(sizes, sizes.customers, rate) as standin, contextlib.ExitStack() as keep:
            warehouse: Warehouse | None = None
            # A mirror is needed for the scan rows, for the export at every rate, and for the
            # incremental run at the highest rate.
            if "scan" in wanted or "export" in wanted or ("incremental" in wanted and rate == top):
                runs = []
                count = sizes.runs if "scan" in wanted else 1
                for i in range(count):
                    if i == count - 1:  # the last run's mirror serves the next scenarios
                        warehouse = keep.enter_context(duckdb_warehouse(work))
                        run, _ = scan_once(standin, warehouse, rate, sizes.concurrency)
                    else:
                        with duckdb_warehouse(work) as scratch:
                            run, _ = scan_once(standin, scratch, rate, sizes.concurrency)
                    runs.append(run)
                    _say(f"full scan N={sizes.customers:,} R={rate:g}: {run.seconds:.2f}s, {run.calls} calls")
                if "scan" in wanted:
                    with tempfile.TemporaryDirectory(dir=work) as tmp:
                        naive = naive_import(
                            standin.api_key, standin.url, f"duckdb:///{tmp}/naive.duckdb", sizes.naive_customers
                        )
                    _say(f"naive import of {naive.customers:,}: {naive.list_s:.1f}s listing, {naive.to_sql_s:.1f}s to_sql")
                    rows += scan_rows(sizes.customers, rate, runs, naive, check_naive=rate == top)
            if warehouse is None:
                continue
            if "incremental" in wanted and rate == top:
                _say(f"incremental after {sizes.events:,} events")
                rows += incremental_rows(standin, warehouse, SCHEMA, rate, sizes.events)
            if "export" in wanted:
                rows += _export_scenarios(sizes, standin, warehouse, rate, last=rate == top)
    return rows


def _export_scenarios(sizes: Sizes, standin: StandinProcess, warehouse: Warehouse, rate: float, *, last: bool) -> list[Row]:
    rows: list[Row] = []
    concurrency = max(8, math.ceil(rate * sizes.latency_write * 1.5))
    table = changed_rows_model(warehouse, SCHEMA, sizes.export_changed)
    _say(f"export of {sizes.export_changed:,} changed rows at R={rate:g}")
    changed = run_export(
        standin, warehouse, SCHEMA, rate, "bench_changed", table,
        {"column": "customer_id", "stripe_field": "id"}, concurrency=concurrency,
    )
    mixed = None
    if last:
        table = creates_updates_model(warehouse, SCHEMA, sizes.export_creates, sizes.export_updates)
        _say(f"export of {sizes.export_creates:,} creates + {sizes.export_updates:,} updates at R={rate:g}")
        mixed = run_export(
            standin, warehouse, SCHEMA, rate, "bench_mixed", table,
            {"column": "email", "stripe_field": "email"}, concurrency=concurrency,
        )
    sample = [
        {"email": f"bench.naive.{i}@example.com" if i % 2 else f"bench.new.{i}@example.com", "name": f"Naive {i}", "plan": "pro"}
        for i in range(sizes.naive_export_rows)
    ]
    naive = naive_export(standin.api_key, standin.url, sample)
    rows += export_rows(changed, rate, naive, changed.model_rows)
    if mixed is not None:
        rows += export_rows(mixed, rate, naive, mixed.model_rows)
    return rows


def run_defaults(sizes: Sizes, work: str) -> list[Row]:
    settings = StandinSettings(
        customers=sizes.defaults_customers,
        latency_read=sizes.latency_read,
        latency_write=sizes.latency_write,
        rate_limit=ACCOUNT_RATE,
        endpoint_rate_limit=25.0,
    )
    with StandinProcess(settings) as standin, duckdb_warehouse(work) as warehouse:
        _say(f"Stripe's default limits: scan of {sizes.defaults_customers:,}, then an export")
        return defaults_rows(standin, warehouse, sizes.defaults_creates, sizes.defaults_updates)


def run_upserts(sizes: Sizes) -> list[Row]:
    _say(f"building {sizes.upsert_rows:,} mirror rows twice")
    first = mirror_frame(sizes.upsert_rows)
    second = mirror_frame(sizes.upsert_rows, changed_every=10)
    rows: list[Row] = []
    runs = []
    for _ in range(sizes.upsert_runs):
        with duckdb_warehouse() as warehouse:
            runs.append(upsert_once(warehouse, "bench_upsert", first, second))
        _say(f"DuckDB upsert: {runs[-1].insert_s:.2f}s new, {runs[-1].update_s:.2f}s again")
    rows += upsert_rows("duckdb", runs)
    if postgres_reachable():
        runs = []
        for _ in range(sizes.upsert_runs):
            with postgres_schema() as (warehouse, schema):
                runs.append(upsert_once(warehouse, schema, first, second))
            _say(f"PostgreSQL upsert: {runs[-1].insert_s:.2f}s new, {runs[-1].update_s:.2f}s again")
        rows += upsert_rows("postgresql", runs)
    else:
        _say(f"PostgreSQL not reachable at {POSTGRES_URL}: its upsert is not measured")
    return rows


def run_large_scan(sizes: Sizes) -> list[Row]:
    with _standin(sizes, sizes.large_customers, sizes.large_rate) as standin:
        _say(f"full scan of {sizes.large_customers:,} in a child process")
        child = scan_in_child(standin, sizes.large_rate, sizes.concurrency)
    if int(child["rows"]) != sizes.large_customers:
        raise AssertionError(f"the large scan mirrored {child['rows']} of {sizes.large_customers} customers")
    return memory_rows(sizes.large_customers, sizes.large_rate, child)


def run_launches(sizes: Sizes, work: str, compare_with: Path | None) -> list[Row]:
    settings = StandinSettings(customers=sizes.launch_customers, latency_read=0.0, latency_write=0.0)
    with StandinProcess(settings) as standin:
        _say(f"dg launch end to end: {sizes.launch_rounds} rounds, {sizes.launch_customers:,} customers, no latency")
        results = run_launch(
            standin, Path(tempfile.mkdtemp(dir=work)), sizes.launch_customers, sizes.launch_rounds, _say, compare_with
        )
    return launch_rows(sizes.launch_customers, results)


def run_many_accounts(sizes: Sizes, work: str) -> list[Row]:
    accounts = AccountsSizes(
        accounts=sizes.connected_accounts, customers=sizes.customers_per_account, rate=sizes.accounts_rate,
        latency_read=sizes.latency_read, parallel=sizes.accounts_parallel, sample=sizes.accounts_sample,
        modes=sizes.accounts_modes, sensor_interval_s=sizes.accounts_sensor_interval_s or None,
    )
    url = POSTGRES_URL if postgres_reachable() else None
    if url is None:
        _say(f"PostgreSQL not reachable at {POSTGRES_URL}: the backfill writes one DuckDB file")
    return run_accounts(accounts, Path(tempfile.mkdtemp(dir=work)), _say, postgres_url=url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a check that every scenario runs")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    parser.add_argument("--runs", type=int, help="full scans per rate (the median is reported)")
    parser.add_argument("--customers", type=int, help="N for the scan, incremental and export scenarios")
    parser.add_argument("--rounds", type=int, help="rounds of the launch scenario (the median is reported)")
    parser.add_argument(
        "--compare-with", metavar="CHECKOUT",
        help="launch scenario: also measure the mirror runs of another checkout (with its own .venv) in the same rounds",
    )
    parser.add_argument(
        "--connect-budget", default="", metavar="MODES",
        help="accounts scenario: comma-separated rate budgets of the platform, platform and/or account (default platform)",
    )
    parser.add_argument("--accounts", type=int, help="accounts scenario: connected accounts N")
    parser.add_argument("--customers-per-account", type=int, help="accounts scenario: customers M per account")
    parser.add_argument("--json", metavar="PATH", help="also write every row and its details as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = wanted - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    sizes = SMOKE if args.smoke else FULL
    if args.runs:
        sizes = dataclasses.replace(sizes, runs=args.runs)
    if args.rounds:
        sizes = dataclasses.replace(sizes, launch_rounds=args.rounds)
    if args.customers:
        sizes = dataclasses.replace(sizes, customers=args.customers)
    if args.accounts:
        sizes = dataclasses.replace(sizes, connected_accounts=args.accounts)
    if args.customers_per_account:
        sizes = dataclasses.replace(sizes, customers_per_account=args.customers_per_account)
    modes = tuple(m.strip() for m in args.connect_budget.split(",") if m.strip()) or sizes.accounts_modes
    if set(modes) - {"platform", "account"}:
        parser.error(f"--connect-budget: platform and/or account, not {args.connect_budget!r}")
    sizes = dataclasses.replace(sizes, accounts_modes=modes)
    context = {"machine": machine(), "sizes": dataclasses.asdict(sizes), "command": " ".join(["python -m bench", *(argv or sys.argv[1:])])}
    started = time.perf_counter()
    rows: list[Row] = []
    # (ignore_cleanup_errors: a process of a scenario still writing must not lose the results)
    with tempfile.TemporaryDirectory(prefix="bench-", ignore_cleanup_errors=True) as work:
        if {"ceiling", "profile"} & wanted:
            rows += run_ceiling_and_profile(sizes, wanted)
        if "schedule" in wanted:
            _say("the scan schedule alone, against an in-memory list")
            rows += policy_rows(sizes.customers, sizes.rates, sizes.latency_read, sizes.concurrency)
        if {"scan", "incremental", "export"} & wanted:
            rows += run_api_scenarios(sizes, wanted, work)
        if "defaults" in wanted:
            rows += run_defaults(sizes, work)
        if "upsert" in wanted:
            rows += run_upserts(sizes)
        if "memory" in wanted:
            rows += run_large_scan(sizes)
        if "launch" in wanted:
            rows += run_launches(sizes, work, Path(args.compare_with).resolve() if args.compare_with else None)
        if "accounts" in wanted:
            rows += run_many_accounts(sizes, work)
    context["seconds"] = time.perf_counter() - started
    context["load_average_at_end"] = os.getloadavg()
    print(table(rows, markdown=args.markdown))
    for row in rows:
        if row.scenario in ("full scan", "large scan CPU", "dg launch") or "backfill through" in row.label:
            print(f"  {row.scenario} {row.label}: {_brief(row.details)}")
    print(f"machine: {context['machine']['cpus']} CPUs ({context['machine']['cpu_model']}), "
          f"{context['machine']['memory']}, load {context['machine']['load_average_at_start']} -> {context['load_average_at_end']}; "
          f"{context['seconds']:.0f}s in all")
    if args.json:
        Path(args.json).write_text(to_json(rows, context))
    return 0


def _brief(details: dict[str, Any]) -> str:
    keys = ("list_s", "commit_s", "cpu_ms_per_1000", "rate_limited", "slices", "empty_pages", "cores_busy", "ms_per_1000",
            "vs_floor", "cpu_s", "cpu_vs_floor", "peak_rss_mb", "naive_vs_full_scan", "naive_cpu_s", "naive_peak_rss_mb", "runs", "failed_runs", "max_concurrent_runs",
            "median_run_s", "first_tick_s", "from_first_tick_s", "sensor_ticks", "calls", "ideal_calls",
            "calls_by_endpoint_of_one_account")
    parts = []
    for key in keys:
        if key in details:
            value = details[key]
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v:.1f}" for k, v in value.items())
            elif isinstance(value, float):
                value = f"{value:.2f}"
            parts.append(f"{key}={value}")
    return "; ".join(parts)

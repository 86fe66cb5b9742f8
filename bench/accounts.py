"""Scenario 8: many connected accounts of one Connect platform (``python -m bench --only accounts``).

A stand-in child process holds a platform with N connected accounts x M customers (Stripe's
limits modelled per account: R requests/s on each rate-limit account, overall and on each
endpoint; which account a request for a connected account counts against is the platform's
``connect_rate_limit_on``: "platform", one budget R for all of them, or "account", R each).
Reads take ``latency_read`` seconds (as in scenarios 1-3).

- ideal: the minimal calls of a first mirror run, per account ``ceil(M / 100)`` customer
  list pages plus the other calls a first run makes (counted from one account's request log
  and named by endpoint), divided by the budget: ``N x calls / R`` with one platform budget;
  with a budget per account ``calls / R`` for the slowest account (the machine, not Stripe,
  is then the bound: the row says so);
- baseline: one single-account deployment per account, as a user without multi-account
  support would run it: for each account of a sample, ``dg launch --assets stripe/customers``
  with a DAGSTER_HOME, a DuckDB file and the connected account's own key of its own,
  ``parallel`` deployments at a time; the sample's wall time scaled to N;
- backfill: one deployment for all accounts (the accounts file naming the platform),
  ``dagster-daemon run`` as a child process with the project's dagster.yaml, the sweep sensor
  turned on as a user would (``dagster sensor start``): its first tick discovers the
  accounts, adds the partitions and requests their runs; wall time until every partition is
  materialized, runs and their peak concurrency, Stripe calls, mirror rows per account;
- idle sweep: the sensor's next tick with nothing changed: Stripe calls per account and the
  tick's duration.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from bench.launch import BIN, ROOT, timed
from bench.report import Row, median
from bench.standin import StandinProcess, StandinSettings

PAGE = 100  # customers per list page
SWEEP_SENSOR = "stripe_accounts_sweep"
MIRROR_ASSET = ("stripe", "customers")
PLATFORM_NAME = "market"
PLATFORM_KEY_ENV = "STRIPE_PLATFORM_KEY"


@dataclass(frozen=True)
class AccountsSizes:
    accounts: int
    customers: int  # per account
    rate: float  # requests/s on each rate-limit account (overall and each endpoint)
    latency_read: float
    parallel: int  # deployments (baseline) and partition runs (backfill) at a time
    sample: int  # accounts of the baseline sample
    modes: tuple[str, ...] = ("platform",)
    sensor_interval_s: int | None = (
        None  # None: the project's default (STRIPE_SENSOR_INTERVAL_SECONDS)
    )


class ConnectStandin(StandinProcess):
    """A stand-in whose account is a Connect platform with N seeded connected accounts."""

    def __init__(self, settings: StandinSettings, accounts: int, customers: int, mode: str):
        super().__init__(settings)
        self.accounts = accounts
        self.customers_per_account = customers
        self.mode = mode

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--connected-accounts",
            str(self.accounts),
            "--customers-per-account",
            str(self.customers_per_account),
            "--connect-rate-limit-on",
            self.mode,
        ]

    def account_ids(self) -> list[str]:
        """Connected accounts, oldest first."""
        return [a["id"] for a in reversed(self.admin.connected_accounts())]

    def add_account_key(self, key: str, account: str) -> None:
        self.admin._call("POST", "keys", {"key": key, "account_id": account})

    def requests_of(self, account: str) -> list[dict[str, Any]]:
        return self.admin.requests(account=account)


def _env(home: Path, work: Path) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "WAREHOUSE_", "DAGSTER_"))
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    return base | {
        "DAGSTER_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPYCACHEPREFIX": str(work / "pycache"),
    }


def _home(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", folder / "dagster.yaml")
    return folder


def _rows_in(database: Path, schema: str = "stripe") -> int:
    with duckdb.connect(str(database), read_only=True) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {schema}.customers").fetchone()[0])


# --- calls of a first mirror run -------------------------------------------------------------


def first_run_calls(log: list[dict[str, Any]]) -> Counter[str]:
    """Calls by endpoint in one account's request log (429s not counted: they are retries)."""
    return Counter(
        entry.get("endpoint") or entry.get("route") or "?"
        for entry in log
        if entry.get("status") != 429
    )


# Why a first mirror run makes each call besides the customer pages (the project's mirror).
CALL_REASONS = {
    "account.retrieve": "GET /v1/account: the key's account and mode, checked against the mirror's (a key of "
    "another account stops the run before it writes)",
    "events.list": "GET /v1/events?limit=1: the newest event, the cursor the next run's incremental refresh starts from",
    "test_clocks.list": "GET /v1/test_helpers/test_clocks: customers on a test clock are not in the customer list "
    "(test mode), so a full scan lists the clocks (none here: one call)",
}


def minimal_calls(customers: int, measured: Counter[str]) -> tuple[int, dict[str, str]]:
    """The calls a first mirror run of one account cannot do without, and why each.

    Customer list pages: ``ceil(M / 100)`` (the page size is at most 100). Every other endpoint
    the measured run used is counted at what it used (see ``CALL_REASONS``), but not list
    pages beyond the minimum: the extra pages of a scan cut into parallel time slices (each
    slice ends in a partly filled page) are the client's cost, not Stripe's.
    """
    pages = math.ceil(customers / PAGE)
    why = {"customers.list": f"{pages} = ceil({customers} / {PAGE}) pages of GET /v1/customers"}
    total = pages
    for endpoint, count in sorted(measured.items()):
        if endpoint == "customers.list":
            continue
        why[endpoint] = f"{count}: {CALL_REASONS.get(endpoint, 'as measured')}"
        total += count
    return total, why


def discovery_pages(accounts: int) -> int:
    """``GET /v1/accounts`` pages to discover the connected accounts (100 a page)."""
    return math.ceil(accounts / PAGE)


def ideal_seconds(accounts: int, calls_per_account: int, rate: float, mode: str) -> float:
    """Discovery (on the platform's budget), then every account's first run."""
    if mode == "platform":
        return (discovery_pages(accounts) + accounts * calls_per_account) / rate
    # Every account has its own budget: the slowest one, after the platform's discovery.
    return (discovery_pages(accounts) + calls_per_account) / rate


# --- baseline: one single-account deployment per account -------------------------------------


@dataclass
class Baseline:
    sample: int
    parallel: int
    wall_s: float
    per_run_s: list[float]
    cpu_s: list[float]
    calls: int
    rate_limited: int
    calls_by_endpoint: dict[str, int]  # of the first sampled account
    scaled_s: float = 0.0


def run_baseline(
    standin: ConnectStandin,
    accounts: list[str],
    work: Path,
    *,
    sample: int,
    parallel: int,
    total: int,
    say: Callable[[str], None],
) -> Baseline:
    chosen = accounts[:: max(1, len(accounts) // sample)][:sample]
    dg = str(BIN / "dg")
    homes = work / "baseline"
    homes.mkdir()

    def deployment(i: int, acct: str, *, check: bool = True) -> tuple[float, float, float]:
        key = f"sk_test_bench_{i}_{acct[-8:]}"
        standin.add_account_key(key, acct)
        folder = homes / f"{i}"
        home = _home(folder / "dagster_home")
        database = folder / "warehouse.duckdb"
        env = _env(home, work) | {
            "STRIPE_API_KEY": key,
            "STRIPE_API_BASE": standin.url,
            "WAREHOUSE_URL": f"duckdb:///{database}",
        }
        seconds, rss, cpu = timed(
            [dg, "launch", "--assets", "stripe/customers"], ROOT, env, expect=r"full refresh"
        )
        if check and _rows_in(database) != standin.customers_per_account:
            raise AssertionError(
                f"{acct}: mirrored {_rows_in(database)} of {standin.customers_per_account} customers"
            )
        return seconds, rss, cpu

    # Once unmeasured: the bytecode cache, as on a user's machine.
    deployment(-1, chosen[0], check=False)
    standin.admin.reset_stats()
    say(f"baseline: {len(chosen)} single-account deployments, {parallel} at a time")
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        done = list(pool.map(lambda pair: deployment(*pair), enumerate(chosen)))
    wall = time.perf_counter() - started
    stats = standin.stats()
    by_account = stats.get("by_account", {})
    calls = sum(int(by_account.get(a, {}).get("requests", 0)) for a in chosen)
    limited = sum(int(by_account.get(a, {}).get("rate_limited", 0)) for a in chosen)
    measured = first_run_calls(standin.requests_of(chosen[0]))
    result = Baseline(
        sample=len(chosen),
        parallel=parallel,
        wall_s=wall,
        per_run_s=[d[0] for d in done],
        cpu_s=[d[2] for d in done],
        calls=calls,
        rate_limited=limited,
        calls_by_endpoint=dict(measured),
    )
    result.scaled_s = wall * total / len(chosen)
    say(
        f"baseline: {len(chosen)} deployments in {wall:.1f}s (median run {median(result.per_run_s):.1f}s), "
        f"{calls} calls, {limited} answered 429; scaled to {total}: {result.scaled_s:.0f}s"
    )
    return result


# --- the multi-account deployment through the daemon -----------------------------------------


@dataclass
class Backfill:
    wall_s: float
    from_first_tick_s: float | None
    runs: int
    failed_runs: int
    max_concurrent_runs: int
    calls: int
    rate_limited: int
    calls_by_account: dict[str, int]
    rows_by_account: dict[str, int]
    run_s: list[float] = field(default_factory=list)
    how: str = ""
    calls_by_endpoint: dict[str, int] = field(default_factory=dict)  # of the first account
    first_tick_s: float | None = None  # the sensor's first tick, from its start to its end
    ticks: int = 0  # sensor ticks until every partition was materialized


@dataclass
class Sweep:
    seconds: float
    calls: int
    calls_per_account: float
    discovery_calls: int
    runs_requested: int


def product_has_accounts(work: Path) -> str | None:
    """None when the project has the multi-account pieces the backfill needs, else what is missing."""
    probe = accounts_file(work / "probe_accounts.yaml", "platform", 25.0, 1)
    done = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            (
                "from stripe_customer_assets.definitions import defs\n"
                "loaded = defs.load_fn() if hasattr(defs, 'load_fn') else defs\n"
                f"names = [s.name for s in (loaded.sensors or [])]\nprint('{SWEEP_SENSOR}' in names)"
            ),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "WAREHOUSE_"))}
        | {"STRIPE_ACCOUNTS_FILE": str(probe), PLATFORM_KEY_ENV: "sk_test_probe"},
    )
    if done.stdout.strip() != "True":
        return f"the definitions have no sensor {SWEEP_SENSOR} with STRIPE_ACCOUNTS_FILE set"
    return None


def accounts_file(path: Path, mode: str, rate: float, parallel: int) -> Path:
    path.write_text(
        "platforms:\n"
        f"  - name: {PLATFORM_NAME}\n"
        f"    api_key_env: {PLATFORM_KEY_ENV}\n"
        "    discover: true\n"
        f"    rate_budget: {mode}\n"
        f"    rate_limit: {rate:g}\n"
        f"    max_parallel_runs: {parallel}\n"
    )
    return path


@contextlib.contextmanager
def daemon(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``dagster-daemon run`` in a process group of its own: on exit the daemon is asked to stop,
    then whatever it started (code servers, run workers) is ended with it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(2.0)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)


def _instance(home: Path):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(home))


def _peak_concurrency(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def _sensor_ticks(instance, name: str) -> list[Any]:

    found = []
    for state in instance.all_instigator_state(instigator_type=None):
        if state.instigator_name == name:
            found += instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1000)
    return sorted(found, key=lambda t: t.timestamp)


def run_backfill(
    standin: ConnectStandin,
    accounts: list[str],
    work: Path,
    *,
    mode: str,
    rate: float,
    parallel: int,
    warehouse_url: str,
    schema: str,
    rows_of: Callable[[], dict[str, int]],
    say: Callable[[str], None],
    timeout_s: float = 3600.0,
    sensor_interval_s: int | None = None,
) -> tuple[Backfill, Sweep | None]:
    from dagster import AssetKey, DagsterRunStatus, RunsFilter

    home = _home(work / f"daemon_{mode}" / "dagster_home")
    env = _env(home, work) | {
        "STRIPE_ACCOUNTS_FILE": str(
            accounts_file(home.parent / "accounts.yaml", mode, rate, parallel)
        ),
        PLATFORM_KEY_ENV: standin.api_key,
        "STRIPE_API_BASE": standin.url,
        "WAREHOUSE_URL": warehouse_url,
        "STRIPE_MIRROR_SCHEMA": schema,
    }
    if sensor_interval_s:
        env["STRIPE_SENSOR_INTERVAL_SECONDS"] = str(sensor_interval_s)
    instance = _instance(home)
    key = AssetKey(list(MIRROR_ASSET))
    standin.admin.reset_stats()
    with daemon(env, home.parent / "daemon.log") as proc:
        say(f"backfill ({mode} budget): daemon pid {proc.pid}; turning on {SWEEP_SENSOR}")
        started = time.perf_counter()
        started_at = time.time()
        subprocess.run(
            [
                str(BIN / "dagster"),
                "sensor",
                "start",
                SWEEP_SENSOR,
                "-w",
                str(ROOT / "workspace.yaml"),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        done_at = None
        while time.perf_counter() - started < timeout_s:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"dagster-daemon exited ({proc.returncode}); see {home.parent / 'daemon.log'}"
                )
            materialized = instance.get_materialized_partitions(key)
            if len(materialized) >= len(accounts):
                done_at = time.perf_counter()
                break
            _stop_on_failed_runs(
                instance, started_at, len(materialized), len(accounts), home.parent / "daemon.log"
            )
            time.sleep(1.0)
        if done_at is None:
            raise RuntimeError(
                f"backfill: {len(instance.get_materialized_partitions(key))} of {len(accounts)} partitions after {timeout_s:.0f}s"
            )
        wall = done_at - started
        served = standin.stats()
        records = instance.get_run_records(RunsFilter(created_after=None))
        records = [r for r in records if r.create_timestamp.timestamp() >= started_at - 1]
        intervals = [(r.start_time, r.end_time) for r in records if r.start_time and r.end_time]
        ticks = _sensor_ticks(instance, SWEEP_SENSOR)
        first_tick = ticks[0].timestamp if ticks else None
        by_account = served.get("by_account", {})
        backfill = Backfill(
            wall_s=wall,
            from_first_tick_s=(started_at + wall - first_tick) if first_tick else None,
            runs=len(records),
            failed_runs=sum(1 for r in records if r.dagster_run.status == DagsterRunStatus.FAILURE),
            max_concurrent_runs=_peak_concurrency(intervals),
            calls=int(served.get("requests_total", 0)),
            rate_limited=sum(int(v.get("rate_limited", 0)) for v in by_account.values()),
            calls_by_account={a: int(by_account.get(a, {}).get("requests", 0)) for a in accounts},
            rows_by_account=rows_of(),
            run_s=[e - s for s, e in intervals],
            calls_by_endpoint=dict(first_run_calls(standin.requests_of(accounts[0]))),
            first_tick_s=(ticks[0].end_timestamp - ticks[0].timestamp)
            if ticks and ticks[0].end_timestamp
            else None,
            ticks=len(ticks),
            how=f"{SWEEP_SENSOR} turned on (dagster sensor start) on a fresh deployment; its first tick requests the runs",
        )
        say(
            f"backfill: {len(accounts)} partitions in {wall:.1f}s, {backfill.runs} runs (peak {backfill.max_concurrent_runs} "
            f"at once), {backfill.calls} calls, {backfill.rate_limited} answered 429"
        )
        sweep = idle_sweep(standin, instance, accounts, len(ticks), say)
    return backfill, sweep


def _stop_on_failed_runs(instance, since: float, done: int, total: int, log: Path) -> None:
    """Raise when every run so far has ended, some failed, and partitions are still missing: the
    backfill will not finish by itself (a user would have to look at the failures)."""
    from dagster import DagsterRunStatus, RunsFilter

    records = [
        r
        for r in instance.get_run_records(RunsFilter())
        if r.create_timestamp.timestamp() >= since - 1
    ]
    ended = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    failed = [r for r in records if r.dagster_run.status == DagsterRunStatus.FAILURE]
    if records and failed and all(r.dagster_run.status in ended for r in records):
        raise RuntimeError(
            f"backfill: {len(failed)} of {len(records)} runs failed, {done} of {total} partitions materialized "
            f"(first failed run {failed[0].dagster_run.run_id}; see {log})"
        )


def idle_sweep(
    standin: ConnectStandin,
    instance,
    accounts: list[str],
    ticks_before: int,
    say,
    timeout_s: float = 900.0,
) -> Sweep | None:
    """The sensor's next complete tick after the backfill, nothing changed in Stripe."""

    # Wait for the tick in progress (if any) to end, then count from a clean slate.
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        ticks = _sensor_ticks(instance, SWEEP_SENSOR)
        if ticks and all(t.status.value != "STARTED" for t in ticks):
            break
        time.sleep(0.5)
    standin.admin.reset_stats()
    count = len(_sensor_ticks(instance, SWEEP_SENSOR))
    while time.perf_counter() < deadline:
        ticks = _sensor_ticks(instance, SWEEP_SENSOR)
        fresh = [t for t in ticks[count:] if t.status.value != "STARTED"]
        if fresh:
            tick = fresh[0]
            served = standin.stats()
            end = getattr(tick, "end_timestamp", None) or time.time()
            sweep = Sweep(
                seconds=end - tick.timestamp,
                calls=int(served.get("requests_total", 0)),
                # every call of the tick (the discovery pages too) per account: the ideal is 1 + pages / N
                calls_per_account=int(served.get("requests_total", 0)) / len(accounts),
                discovery_calls=int(served.get("requests_by_endpoint", {}).get("accounts.list", 0)),
                runs_requested=len(tick.run_ids),
            )
            say(
                f"idle sweep: {sweep.calls} calls ({sweep.calls_per_account:.2f} per account, {sweep.discovery_calls} "
                f"listing accounts) in {sweep.seconds:.1f}s, {sweep.runs_requested} runs requested"
            )
            return sweep
        time.sleep(0.5)
    say("idle sweep: no further sensor tick within the time allowed")
    return None


# --- rows -------------------------------------------------------------------------------------


def accounts_rows(
    sizes: AccountsSizes,
    mode: str,
    calls_per_account: int,
    why: dict[str, str],
    baseline: Baseline,
    backfill: Backfill | None,
    sweep: Sweep | None,
    missing: str | None,
) -> list[Row]:
    n, m = sizes.accounts, sizes.customers
    ideal = ideal_seconds(n, calls_per_account, sizes.rate, mode)
    budget = (
        f"{sizes.rate:g}/s for the platform"
        if mode == "platform"
        else f"{sizes.rate:g}/s per account"
    )
    note = (
        f"one dg launch per account, own DAGSTER_HOME + DuckDB + key, {baseline.parallel} at a time; "
        f"{baseline.sample} accounts measured ({baseline.wall_s:.1f}s), scaled to {n}"
    )
    bound = "" if mode == "platform" else " (ideal from Stripe only: the machine is the bound)"
    common = {
        "mode": mode,
        "calls_per_account_ideal": calls_per_account,
        "ideal_calls_why": why,
        "latency_read_s": sizes.latency_read,
        "rate": sizes.rate,
        "baseline": {
            "sample": baseline.sample,
            "parallel": baseline.parallel,
            "wall_s": baseline.wall_s,
            "runs_s": baseline.per_run_s,
            "cpu_s": baseline.cpu_s,
            "calls": baseline.calls,
            "rate_limited": baseline.rate_limited,
            "calls_by_endpoint": baseline.calls_by_endpoint,
        },
    }
    scenario = f"{n} accounts x {m:,}"
    rows: list[Row] = []
    if backfill is not None:
        rows.append(
            Row(
                scenario,
                f"backfill through the daemon, {budget}{bound}",
                "s",
                backfill.wall_s,
                ideal=ideal,
                baseline=baseline.scaled_s,
                baseline_note=note,
                target="every partition materialized, M rows each",
                met=all(v == m for v in backfill.rows_by_account.values())
                and len(backfill.rows_by_account) == n,
                details=common
                | {
                    "runs": backfill.runs,
                    "failed_runs": backfill.failed_runs,
                    "max_concurrent_runs": backfill.max_concurrent_runs,
                    "calls": backfill.calls,
                    "ideal_calls": n * calls_per_account + discovery_pages(n),
                    "rate_limited": backfill.rate_limited,
                    "from_first_tick_s": backfill.from_first_tick_s,
                    "median_run_s": median(backfill.run_s),
                    "started_by": backfill.how,
                    "calls_by_endpoint_of_one_account": backfill.calls_by_endpoint,
                    "first_tick_s": backfill.first_tick_s,
                    "sensor_ticks": backfill.ticks,
                    "rows_wrong": {a: r for a, r in backfill.rows_by_account.items() if r != m},
                },
            )
        )
        rows.append(
            Row(
                scenario,
                f"backfill Stripe calls, {budget}",
                "calls",
                backfill.calls,
                ideal=n * calls_per_account + discovery_pages(n),
                baseline=baseline.calls * n / baseline.sample,
                baseline_note=f"{baseline.sample} deployments' calls scaled to {n}",
                details=common,
            )
        )
    else:
        rows.append(
            Row(
                scenario,
                f"baseline alone (backfill not measured: {missing}), {budget}{bound}",
                "s",
                baseline.scaled_s,
                ideal=ideal,
                baseline=baseline.scaled_s,
                baseline_note=note,
                details=common,
            )
        )
    rows.append(
        Row(
            scenario,
            "first mirror run's Stripe calls per account (single-account deployment)",
            "calls",
            baseline.calls / baseline.sample,
            ideal=calls_per_account,
            details={"calls_by_endpoint": baseline.calls_by_endpoint, "ideal_calls_why": why},
        )
    )
    if sweep is not None:
        rows.append(
            Row(
                scenario,
                "idle sweep: Stripe calls per account",
                "calls",
                sweep.calls_per_account,
                ideal=1.0 + sweep.discovery_calls / n,
                target="about 1 per account",
                met=sweep.calls_per_account <= 1.0 + discovery_pages(n) / n + 0.05,
                details={
                    "calls": sweep.calls,
                    "discovery_calls": sweep.discovery_calls,
                    "runs_requested": sweep.runs_requested,
                },
            )
        )
        rows.append(
            Row(
                scenario,
                "idle sweep: duration of the tick",
                "s",
                sweep.seconds,
                ideal=(n + math.ceil(n / PAGE)) / sizes.rate if mode == "platform" else None,
                details={"calls": sweep.calls},
            )
        )
    return rows


def run_accounts(
    sizes: AccountsSizes, work: Path, say: Callable[[str], None], *, postgres_url: str | None = None
) -> list[Row]:
    rows: list[Row] = []
    missing = product_has_accounts(work)
    for mode in sizes.modes:
        settings = StandinSettings(
            latency_read=sizes.latency_read, latency_write=0.4, rate_limit=sizes.rate
        )
        with ConnectStandin(settings, sizes.accounts, sizes.customers, mode) as standin:
            accounts = standin.account_ids()
            say(
                f"stand-in at {standin.url}: a platform with {len(accounts)} connected accounts x {sizes.customers:,} "
                f"customers, {sizes.rate:g}/s on each rate-limit account ({mode}), reads {sizes.latency_read}s; "
                f"up in {standin.seeded_in_s:.1f}s"
            )
            folder = work / f"accounts_{mode}"
            folder.mkdir()
            baseline = run_baseline(
                standin,
                accounts,
                folder,
                sample=min(sizes.sample, len(accounts)),
                parallel=sizes.parallel,
                total=len(accounts),
                say=say,
            )
            calls_per_account, why = minimal_calls(
                sizes.customers, Counter(baseline.calls_by_endpoint)
            )
            say(
                f"ideal calls per account: {calls_per_account} ({'; '.join(f'{k} {v}' for k, v in why.items())})"
            )
            backfill = sweep = None
            if missing is None:
                url, schema, rows_of, cleanup = _warehouse_for_backfill(
                    folder, postgres_url, accounts
                )
                try:
                    backfill, sweep = run_backfill(
                        standin,
                        accounts,
                        folder,
                        mode=mode,
                        rate=sizes.rate,
                        parallel=sizes.parallel,
                        warehouse_url=url,
                        schema=schema,
                        rows_of=rows_of,
                        say=say,
                        sensor_interval_s=sizes.sensor_interval_s,
                    )
                finally:
                    cleanup()
            else:
                say(f"backfill not measured: {missing}")
            rows += accounts_rows(
                sizes, mode, calls_per_account, why, baseline, backfill, sweep, missing
            )
    return rows


def _warehouse_for_backfill(
    folder: Path, postgres_url: str | None, accounts: list[str]
) -> tuple[str, str, Callable[[], dict[str, int]], Callable[[], None]]:
    """PostgreSQL when reachable (parallel runs write at once), else one DuckDB file."""
    schema = f"bench_accts_{os.getpid()}_{threading.get_ident() % 10_000}"

    def counts(rows: list[tuple[str, int]]) -> dict[str, int]:
        found = dict(rows)
        return {a: int(found.get(a, 0)) for a in accounts}

    if postgres_url:
        from stripe_customer_assets.warehouse import Warehouse

        def rows_of() -> dict[str, int]:
            warehouse = Warehouse(postgres_url)
            try:
                with warehouse.begin() as conn:
                    got = conn.exec_driver_sql(
                        f'SELECT account, COUNT(*) FROM "{schema}".customers GROUP BY account'
                    ).fetchall()
            finally:
                warehouse.dispose()
            return counts([(a, c) for a, c in got])

        def drop() -> None:
            warehouse = Warehouse(postgres_url)
            try:
                with warehouse.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                warehouse.dispose()

        return postgres_url, schema, rows_of, drop
    database = folder / "warehouse.duckdb"

    def rows_of_duckdb() -> dict[str, int]:
        with duckdb.connect(str(database), read_only=True) as conn:
            return counts(
                conn.execute(
                    f"SELECT account, COUNT(*) FROM {schema}.customers GROUP BY account"
                ).fetchall()
            )

    return f"duckdb:///{database}", schema, rows_of_duckdb, lambda: None

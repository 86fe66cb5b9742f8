"""Scenario 1: a full scan of N customers at a rate limit R, against the naive script."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from bench.naive import NaiveImport
from bench.report import Row, median
from bench.standin import StandinProcess
from stripe_customer_assets.mirror.sync import MirrorResult, refresh_mirror
from stripe_customer_assets.warehouse import Warehouse

SCHEMA = "stripe"
# Rate ratio a full scan must reach, and how many times faster than the naive script.
TARGET_RATIO = 0.90
TARGET_VS_NAIVE = 5.0


@dataclass
class ScanRun:
    seconds: float  # refresh_mirror, first call to committed mirror
    list_s: float  # until the last page was written to the scan table
    commit_s: float
    calls: int  # requests the stand-in answered (list pages and the cursor event)
    list_calls: int
    rate_limited: int  # 429s the stand-in sent
    cpu_s: float  # this process (the client and the embedded warehouse)
    slices: int
    empty_pages: int
    rows: int


def scan_once(standin: StandinProcess, warehouse: Warehouse, rate: float, concurrency: int) -> tuple[ScanRun, MirrorResult]:
    api = standin.api(rate)
    standin.admin.reset_stats()
    cpu = time.process_time()
    result = refresh_mirror(api, warehouse, SCHEMA, concurrency=concurrency)
    cpu = time.process_time() - cpu
    served = standin.stats()
    by_endpoint = served.get("requests_by_endpoint", {})
    run = ScanRun(
        seconds=result.duration_s,
        list_s=result.timings.get("list_s", 0.0),
        commit_s=result.timings.get("commit_s", 0.0),
        calls=int(sum(by_endpoint.values())),
        list_calls=int(by_endpoint.get("customers.list", 0)),
        rate_limited=int(served.get("rate_limited", 0)),
        cpu_s=cpu,
        slices=result.scan.slices if result.scan else 0,
        empty_pages=result.scan.empty_pages if result.scan else 0,
        rows=result.row_count,
    )
    if result.mode != "full" or result.row_count != standin.settings.customers:
        raise AssertionError(f"the scan mirrored {result.row_count} of {standin.settings.customers} customers")
    return run, result


def scan_rows(n: int, rate: float, runs: list[ScanRun], naive: NaiveImport, *, check_naive: bool) -> list[Row]:
    """The table lines for one rate: time (with the naive script) and calls."""
    ideal_s = n / (100 * rate)
    seconds = median([r.seconds for r in runs])
    baseline = naive.seconds_for(n)
    ratio_met = ideal_s / seconds >= TARGET_RATIO
    vs_naive_met = baseline / seconds >= TARGET_VS_NAIVE
    details: dict[str, Any] = {
        "list_s": median([r.list_s for r in runs]),
        "commit_s": median([r.commit_s for r in runs]),
        "cpu_s": median([r.cpu_s for r in runs]),
        "cpu_ms_per_1000": 1000 * median([r.cpu_s for r in runs]) / n * 1000,
        "rate_limited": max(r.rate_limited for r in runs),
        "slices": median([r.slices for r in runs]),
        "empty_pages": median([r.empty_pages for r in runs]),
        "naive_sample": naive.customers,
        "naive_list_s": naive.list_s,
        "naive_to_sql_s": naive.to_sql_s,
        "runs_s": [round(r.seconds, 2) for r in runs],
    }
    target = f">= {TARGET_RATIO:.2f} of ideal" + (f", >= {TARGET_VS_NAIVE:g}x naive" if check_naive else "")
    time_row = Row(
        "full scan",
        f"N={n:,}, R={rate:g}/s",
        "s",
        seconds,
        ideal=ideal_s,
        baseline=baseline,
        baseline_note=f"auto_paging_iter + to_sql, {naive.customers:,} measured",
        target=target,
        met=ratio_met and (vs_naive_met or not check_naive),
        runs=[r.seconds for r in runs],
        details=details,
    )
    calls_row = Row(
        "full scan calls",
        f"N={n:,}, R={rate:g}/s",
        "calls",
        median([r.calls for r in runs]),
        ideal=math.ceil(n / 100) + 1,
        baseline=math.ceil(n / 100),
        baseline_note="one list page after the other",
        target="few beyond ideal (partly filled last page per slice)",
        runs=[r.calls for r in runs],
        details={"list_calls": median([r.list_calls for r in runs]), "rate_limited": details["rate_limited"]},
    )
    return [time_row, calls_row]

"""Scenario 5: a full scan of a large account, in a process of its own (``bench.child``).

Peak resident memory must stay flat (pages are streamed to the warehouse in batches) and
the client's CPU well under one core at the rate limit.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.report import Row
from bench.standin import StandinProcess

RSS_LIMIT_MB = 1024.0
# "Well under one core": half of one, the client and its embedded DuckDB together.
CORES_TARGET = 0.5


def scan_in_child(standin: StandinProcess, rate: float, concurrency: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.child", standin.url, str(rate), str(concurrency)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_rows(n: int, rate: float, child: dict[str, float]) -> list[Row]:
    cpu = child["user_s"] + child["system_s"]
    per_1000 = 1000 * cpu / n * 1000  # ms of CPU per 1,000 customers
    scan = 1000 * child["scan_cpu_s"] / n * 1000
    writer = 1000 * child["write_cpu_s"] / n * 1000
    details = {
        **child,
        "cpu_s": cpu,
        "cores_busy": cpu / child["seconds"] if child["seconds"] else 0.0,
        "ms_per_1000": {
            "scan threads (HTTP, JSON, scheduling)": scan,
            "writer thread (staging, DuckDB statements)": writer,
            "rest (DuckDB's own threads, main thread)": per_1000 - scan - writer,
        },
    }
    return [
        Row(
            "large scan memory",
            f"N={n:,}, R={rate:g}/s, peak RSS of the client process",
            "MB",
            child["peak_rss_mb"],
            target=f"< {RSS_LIMIT_MB:,.0f} MB",
            met=child["peak_rss_mb"] < RSS_LIMIT_MB,
            details=details,
        ),
        Row(
            "large scan CPU",
            f"N={n:,}, R={rate:g}/s, CPU per 1,000 customers ({cpu / child['seconds']:.2f} cores busy)",
            "ms",
            per_1000,
            target=f"< {CORES_TARGET:g} core busy (well under one)",
            met=cpu / child["seconds"] < CORES_TARGET if child["seconds"] else None,
            details=details,
        ),
    ]

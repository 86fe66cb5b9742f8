"""``python -m bench.child URL RATE CONCURRENCY``: one full scan in a process of its own.

Prints one JSON line: peak resident memory of this process (the client and its embedded
DuckDB warehouse, nothing else), its CPU seconds, and where they went.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_standin import STANDIN_API_KEY


def _peak_rss_mb() -> float:
    """This process's peak resident memory since it started (``VmHWM``; ``ru_maxrss`` would
    also count the parent's memory that the fork carried until ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    url, rate, concurrency = argv[0], float(argv[1]), int(argv[2])
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        warehouse = Warehouse(f"duckdb:///{Path(tmp) / 'warehouse.duckdb'}")
        api = StripeApi(STANDIN_API_KEY, api_base=url, rate_limit=rate, endpoint_rate_limit=rate)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        result = refresh_mirror(api, warehouse, "stripe", concurrency=concurrency)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        size = sum(p.stat().st_size for p in Path(tmp).glob("warehouse.duckdb*"))
    print(
        json.dumps(
            {
                "rows": result.row_count,
                "seconds": wall,
                "calls": result.api_calls,
                "peak_rss_mb": _peak_rss_mb(),
                "user_s": after.ru_utime - before.ru_utime,
                "system_s": after.ru_stime - before.ru_stime,
                "scan_cpu_s": result.timings.get("scan_cpu_s", 0.0),
                "write_cpu_s": result.timings.get("write_cpu_s", 0.0),
                "list_s": result.timings.get("list_s", 0.0),
                "commit_s": result.timings.get("commit_s", 0.0),
                "warehouse_mb": size / 1e6,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

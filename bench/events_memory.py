"""Peak memory of one incremental run against a backlog of e customer events.

``python -m bench.events_memory [--events 1000,100000]``: for each e, a stand-in process
(no latency) and a DuckDB file; a full scan of the (empty) account; then e new customers,
each with its ``customer.created`` event, half a day later; then the incremental refresh
alone in a process of its own, under ``/usr/bin/time -v``. Prints one line per e: the
child's peak RSS ("Maximum resident set size"), its calls and seconds.

``python -m bench.events_memory child URL DATABASE`` is that child: one refresh, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.standin import StandinProcess, StandinSettings
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_standin import STANDIN_API_KEY

RATE = 10_000.0  # no client-side pacing: the stand-in has no latency either


def child(url: str, database: str) -> int:
    api = StripeApi(STANDIN_API_KEY, api_base=url, rate_limit=RATE, endpoint_rate_limit=RATE)
    started = time.perf_counter()
    result = refresh_mirror(api, Warehouse(f"duckdb:///{database}"), "stripe")
    print(
        json.dumps(
            {
                "mode": result.mode,
                "events": result.events,
                "inserted": result.inserted,
                "calls": result.api_calls,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    )
    return 0


def measure(events: int) -> dict[str, object]:
    settings = StandinSettings(customers=0, latency_read=0.0, latency_write=0.0)
    with StandinProcess(settings) as standin, tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        database = str(Path(tmp) / "warehouse.duckdb")
        api = standin.api(RATE)
        first = refresh_mirror(api, Warehouse(f"duckdb:///{database}"), "stripe")
        assert first.mode == "full", first
        standin.admin.advance_clock(days=1)
        standin.admin.seed_customers(events, seed=3, record_events=True, span_days=0.5)
        command = ["/usr/bin/time", "-v", sys.executable, "-m", "bench.events_memory", "child", standin.url, database]
        out = subprocess.run(command, check=False, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"the incremental run failed:\n{out.stdout}\n{out.stderr[-4000:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    run = json.loads(out.stdout.strip().splitlines()[-1])
    if run["mode"] != "incremental" or run["inserted"] != events:
        raise AssertionError(f"expected {events} new customers from events, got {run}")
    return {"events": events, "peak_rss_mb": int(found.group(1)) / 1024 if found else None, **run}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        return child(argv[1], argv[2])
    parser = argparse.ArgumentParser(prog="python -m bench.events_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="1000,100000", help="comma-separated backlog sizes")
    args = parser.parse_args(argv)
    rows = [measure(int(n)) for n in args.events.split(",") if n.strip()]
    for row in rows:
        print(json.dumps(row))
    if len(rows) > 1 and all(r["peak_rss_mb"] for r in rows):
        print(f"ratio largest/smallest peak RSS: {rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The stand-in's own ceiling: list pages per second with no latency and no rate limit.

Uses the stand-in's load generator (``stripe_standin.bench``): client
threads in client processes, keep-alive connections, so neither side's GIL is shared.
"""

from __future__ import annotations

from bench.report import Row
from bench.standin import StandinProcess
from stripe_standin.bench import run as load


def ceiling_rows(standin: StandinProcess, seconds: float, highest_rate: float) -> list[Row]:
    measured = load(standin.url, standin.api_key, threads=16, procs=2, seconds=seconds, limit=100)
    rate = float(measured["req_per_s"])
    return [
        Row(
            "stand-in ceiling",
            "GET /v1/customers?limit=100, no latency, no rate limit",
            "req/s",
            rate,
            target=f">> {highest_rate:g} req/s (never the bottleneck)",
            met=rate >= 5 * highest_rate,
            higher_is_better=True,
            details=measured,
        )
    ]

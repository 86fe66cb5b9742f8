"""The full-scan schedule alone: ``scan_customers`` against an in-memory Stripe list.

No HTTP, no JSON, no warehouse: each call sleeps the list latency and answers from a sorted
array, under the same rate limiter the client uses. What is left is the schedule (how many
calls, how much of the rate it keeps busy), so a loss here is the algorithm's and a loss in
the full benchmark beyond it is the system's (CPU, the stand-in, the warehouse).
"""

from __future__ import annotations

import bisect
import random
import time
from dataclasses import dataclass
from typing import Any

from bench.report import Row
from stripe_customer_assets.mirror.scan import scan_customers
from stripe_customer_assets.stripe_api import ApiStats, RateLimiter
from stripe_customer_assets.stripe_api.client import Reply

DAY = 86_400


@dataclass
class PolicyResult:
    customers: int
    rate: float
    seconds: float
    calls: int
    slices: int
    splits: int
    empty_pages: int

    @property
    def ideal_s(self) -> float:
        return self.customers / (100 * self.rate)

    @property
    def ideal_calls(self) -> int:
        return -(-self.customers // 100)


class MemoryList:
    """``GET /v1/customers`` over generated ``created`` times: newest first, cursors, filters."""

    def __init__(self, n: int, *, now: int, span_days: float, seed: int, latency_s: float, rate: float):
        rng = random.Random(seed)
        start = now - int(span_days * DAY)
        # (created, id) ascending; the list answers newest first.
        self.keys = sorted((start + int(rng.random() * span_days * DAY), f"cus_{i:012d}") for i in range(n))
        self.position = {key[1]: i for i, key in enumerate(self.keys)}
        self.latency_s = latency_s
        self.limiter = RateLimiter(rate)
        self.stats = ApiStats()

    @property
    def endpoint_rate(self) -> float:
        return self.limiter.rate

    def fetch(self, method: str, path: str, params: dict[str, Any] | None = None, **_: Any) -> Reply:
        params = params or {}
        self.stats.record_call("GET /v1/customers", self.limiter.acquire())
        sent = time.monotonic()
        time.sleep(self.latency_s)
        created = params.get("created") or {}
        lo = bisect.bisect_left(self.keys, (created.get("gte", 0), ""))
        hi = bisect.bisect_left(self.keys, (created.get("lt", 2**62), ""))
        after = params.get("starting_after")
        end = min(hi, self.position[after]) if after else hi
        start = max(lo, end - int(params.get("limit", 10)))
        page = [{"id": cid, "created": at} for at, cid in reversed(self.keys[start:end])]
        data = {"object": "list", "data": page, "has_more": start > lo}
        return Reply(data, "", None, time.monotonic() - sent)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.fetch("get", path, params).data


def run_policy(n: int, rate: float, *, latency_s: float = 0.3, concurrency: int = 64, seed: int = 1) -> PolicyResult:
    now = int(time.time())
    server = MemoryList(n, now=now, span_days=730, seed=seed, latency_s=latency_s, rate=rate)
    started = time.monotonic()
    stats = scan_customers(server, lambda page: None, concurrency=concurrency, now=now)  # type: ignore[arg-type]
    seconds = time.monotonic() - started
    if stats.customers != n:
        raise AssertionError(f"the scan listed {stats.customers} of {n} customers")
    return PolicyResult(n, rate, seconds, server.stats.calls, stats.slices, stats.splits, stats.empty_pages)


def policy_rows(n: int, rates: tuple[float, ...], latency_s: float, concurrency: int) -> list[Row]:
    """Table lines: the schedule alone at each rate (no HTTP, CPU or warehouse in the way)."""
    rows = []
    for rate in sorted(rates):
        result = run_policy(n, rate, latency_s=latency_s, concurrency=concurrency)
        rows.append(
            Row(
                "scan schedule alone",
                f"N={n:,}, R={rate:g}/s, in-memory list",
                "s",
                result.seconds,
                ideal=result.ideal_s,
                target="the bound the full scan can reach",
                details={
                    "calls": result.calls,
                    "ideal_calls": result.ideal_calls,
                    "slices": result.slices,
                    "splits": result.splits,
                    "empty_pages": result.empty_pages,
                },
            )
        )
    return rows

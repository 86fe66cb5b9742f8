"""The full scan's schedule: slices that cover all time once, and a first round that fills
the rate from the start."""

from __future__ import annotations

import itertools
import threading

import pytest

from bench.policy import MemoryList
from stripe_customer_assets.mirror.scan import ScanPage, scan_customers
from stripe_customer_assets.mirror.slices import (
    MAX_SLICE_GROWTH,
    MIN_SLICE_GROWTH,
    STRIPE_BEGAN,
    first_round,
    initial_slices,
)

NOW = 1_790_000_000  # 2026-09


def _covers_all_time_once(slices) -> None:
    assert slices[0].hi is None, "the newest slice is open-ended"
    for newer, older in itertools.pairwise(slices):
        assert older.hi == newer.lo, "no gap and no overlap"
        assert older.lo < older.hi
        assert newer.below is older
    assert slices[-1].lo == 0


@pytest.mark.parametrize("growth", [1.1, 1.3, MAX_SLICE_GROWTH])
def test_the_first_round_covers_all_time_once(growth):
    slices = initial_slices(NOW, growth=growth)
    _covers_all_time_once(slices)
    assert (slices[-1].lo, slices[-1].hi) == (0, STRIPE_BEGAN), "one slice for before Stripe"


@pytest.mark.parametrize("wanted", [4, 12, 40, 64])
def test_the_first_round_is_as_many_slices_as_the_rate_keeps_busy(wanted):
    doubling = len(initial_slices(NOW, growth=MAX_SLICE_GROWTH))  # the fewest it lays out
    densest = len(initial_slices(NOW, growth=MIN_SLICE_GROWTH))  # the most
    slices = first_round(NOW, wanted)
    _covers_all_time_once(slices)
    # The count moves in steps as the growth changes: within two of the target.
    assert min(wanted, densest) - 2 <= len(slices) <= max(wanted, doubling)


@pytest.mark.parametrize("span_days", [3, 730, 365 * 30])
def test_a_scan_lists_every_customer_once_whatever_the_accounts_age(span_days):
    """Thirty years back reaches before 2010: those customers are listed too."""
    server = MemoryList(3_000, now=NOW, span_days=span_days, seed=5, latency_s=0.0, rate=100_000)
    seen: list[str] = []
    lock = threading.Lock()

    def sink(page: ScanPage) -> None:
        with lock:
            seen.extend(c["id"] for c in page.customers)

    stats = scan_customers(server, sink, concurrency=16, now=NOW)  # type: ignore[arg-type]

    assert len(seen) == len(set(seen)) == 3_000
    assert stats.customers == 3_000
    if span_days == 365 * 30:
        assert min(created for created, _ in server.keys) < STRIPE_BEGAN


@pytest.mark.parametrize("customers", [0, 40, 500, 1_234])
def test_one_slice_one_worker_costs_exactly_the_pages(customers):
    """In a budget shared with other accounts (``fill_rate=False``, one worker) a scan spends
    ceil(n / 100) list calls (one for an empty account) and lists every customer once."""
    server = MemoryList(customers, now=NOW, span_days=730, seed=9, latency_s=0.0, rate=100_000)
    seen: list[str] = []

    stats = scan_customers(  # type: ignore[arg-type]
        server,
        lambda page: seen.extend(c["id"] for c in page.customers),
        concurrency=1,
        now=NOW,
        fill_rate=False,
    )

    assert len(seen) == len(set(seen)) == customers
    assert stats.pages == max(1, -(-customers // 100))

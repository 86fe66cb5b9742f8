"""Customers on test clocks, for the full scan.

``GET /v1/customers`` leaves out customers on test clocks unless ``test_clock`` names their
clock (Stripe's API reference, parameter ``test_clock``). The full scan therefore also lists
the account's test clocks (``GET /v1/test_helpers/test_clocks``) and each clock's customers:
one call for the clocks, one per clock with up to 100 customers. Test clocks exist in test
mode only, so a live key makes no call here.

When the clocks cannot be listed (a restricted key without the test clock permission), the
scan goes on without them and says so: the anti-join then leaves every row on a test clock
alone (``complete`` is False), so nothing is marked deleted for want of a listing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stripe_customer_assets.mirror.scan import PAGE_SIZE, ScanPage
from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi, StripeRequestError

log = logging.getLogger(__name__)

TEST_CLOCKS_PATH = "/v1/test_helpers/test_clocks"
MAX_CLOCK_WORKERS = 8


@dataclass
class TestClockScan:
    """What the scan learnt about test clocks."""

    __test__ = False  # not a pytest test class

    complete: bool  # every clock was listed (so every customer on a clock was seen)
    clocks: list[str] = field(default_factory=list)
    customers: int = 0
    problem: str | None = None  # why the clocks could not be listed


def list_test_clocks(api: StripeApi) -> list[str]:
    """Ids of the account's test clocks (100 a page)."""
    ids: list[str] = []
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    while True:
        page = api.get(TEST_CLOCKS_PATH, **params)
        data = page.get("data") or []
        ids += [clock["id"] for clock in data if isinstance(clock, dict) and clock.get("id")]
        if not page.get("has_more") or not data:
            return ids
        params["starting_after"] = data[-1]["id"]


def _clock_customers(api: StripeApi, clock_id: str, sink: Callable[[ScanPage], None]) -> int:
    """Page through one clock's customers into ``sink``; how many were listed."""
    listed = 0
    params: dict[str, Any] = {"limit": PAGE_SIZE, "test_clock": clock_id}
    while True:
        try:
            reply = api.fetch("get", "/v1/customers", params)
        except StripeRequestError as err:
            if err.code == "resource_missing" and err.param == "test_clock":
                return listed  # the clock was deleted meanwhile, with its customers
            raise
        data = reply.data.get("data") or []
        if data:
            sink(ScanPage(reply.text, data, keep=len(data)))
            listed += len(data)
        if not reply.data.get("has_more") or not data:
            return listed
        params["starting_after"] = data[-1]["id"]


def scan_test_clocks(
    api: StripeApi, sink: Callable[[ScanPage], None], concurrency: int = MAX_CLOCK_WORKERS
) -> TestClockScan:
    """List every customer on a test clock into ``sink`` (pages, as the full scan's)."""
    if api.livemode:
        return TestClockScan(complete=True)  # no test clocks in live mode
    try:
        clocks = list_test_clocks(api)
    except (StripeAccessError, StripeRequestError) as err:
        problem = (
            f"customers on test clocks were not listed ({err}); rows on test clocks are kept "
            "as they are. Grant the key read access to test clocks to mirror them."
        )
        log.warning(problem)
        return TestClockScan(complete=False, problem=problem)
    result = TestClockScan(complete=True, clocks=clocks)
    if not clocks:
        return result
    workers = max(1, min(concurrency, MAX_CLOCK_WORKERS, len(clocks)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mirror-test-clocks") as pool:
        for listed in pool.map(lambda clock: _clock_customers(api, clock, sink), clocks):
            result.customers += listed
    return result

"""Full scan: list every customer, in parallel ``created`` time slices.

Stripe lists customers newest first, at most 100 a page, and filters only by ``created``
and ``email``. Pagination inside one slice is sequential (``starting_after``), so speed
comes from running enough slices at once to keep the account's rate limit busy:
``rate x page latency`` requests in flight (30 at 100/s and 0.3 s a page), a little more
for slack. More slices than that only add calls: every slice ends in a partly filled page.

How the slices are laid out and cut is ``slices.py``; this module runs the workers: each
pages through a slice (``starting_after``) until it is done, then takes a new one.
Slices are half-open ``[lo, hi)`` in unix seconds and never overlap, so each customer is
listed once. ``sink`` receives every page (from worker threads; it must be thread-safe).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stripe_customer_assets.mirror.slices import (
    PAGE_SIZE,
    ScanStats,
    Scheduler,
    Slice,
    created_of,
    density,
    first_round,
    one_slice,
)
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.stripe_api.client import Reply

__all__ = ["PAGE_SIZE", "ScanPage", "ScanStats", "scan_customers"]


@dataclass
class ScanPage:
    """One page of a slice: the body as Stripe sent it and how much of it is the scan's."""

    text: str
    data: list[dict[str, Any]]
    keep: int  # the first ``keep`` customers (newest first) belong to the scan
    seconds_left: float = math.inf  # the scan's estimate of the listing still to come

    @property
    def customers(self) -> list[dict[str, Any]]:
        return self.data[: self.keep]


def _params(piece: Slice) -> dict[str, Any]:
    created: dict[str, int] = {"gte": piece.lo}
    if piece.hi is not None:
        created["lt"] = piece.hi
    params: dict[str, Any] = {"limit": PAGE_SIZE, "created": created}
    if piece.starting_after:
        params["starting_after"] = piece.starting_after
    return params


def scan_customers(
    api: StripeApi,
    sink: Callable[[ScanPage], None],
    concurrency: int = 16,
    *,
    on_first_reply: Callable[[Reply, float], None] | None = None,
    now: float | None = None,
    fill_rate: bool = True,
) -> ScanStats:
    """List every (non-deleted) customer into ``sink``; return what it took.

    ``on_first_reply(reply, seconds)`` runs once, with the first answer and the seconds since
    the first request was sent, before any page reaches ``sink``; if it raises, the scan
    stops with that error and ``sink`` has received nothing. ``now``: unix time the first
    round is laid out from (default this machine's clock; the newest slice is open-ended,
    so a skewed clock costs calls, never customers). ``fill_rate=False``: the first round is one
    slice (``one_slice``), for an account whose rate budget other accounts' scans share: an
    account of a few hundred customers then costs its pages and little more.
    """
    sched = Scheduler(api, concurrency)
    stats = sched.stats
    cond = sched.cond
    if fill_rate:
        sched.queue.extend(first_round(int(time.time() if now is None else now), sched.wanted()))
    else:
        sched.queue.extend(one_slice())
    gate = threading.Lock()
    gate_state: dict[str, Any] = {"open": on_first_reply is None}
    started = time.monotonic()

    def first_reply(reply: Reply) -> None:
        with gate:
            if gate_state["open"]:
                return
            if "error" in gate_state:
                raise gate_state["error"]
            try:
                assert on_first_reply is not None
                on_first_reply(reply, time.monotonic() - started)
            except BaseException as err:
                gate_state["error"] = err
                raise
            gate_state["open"] = True

    def fetch(piece: Slice) -> None:
        reply = api.fetch("get", "/v1/customers", _params(piece))
        if not gate_state["open"]:
            first_reply(reply)
        rows = reply.data.get("data") or []
        with cond:
            sched.observe_latency(reply.elapsed_s)
            piece.in_flight = False
            piece.answered = True
            stats.pages += 1
            # The range may have shrunk while the request was out: keep what is still ours.
            keep = len(rows)
            while keep and created_of(rows[keep - 1], piece.lo) < piece.lo:
                keep -= 1
            stats.cut += len(rows) - keep
            stats.customers += keep
            piece.listed += keep
            if not rows:
                stats.empty_pages += 1
            if keep < len(rows) or not reply.data.get("has_more") or not rows:
                piece.done = True
                sched.running.remove(piece)
                if sched.finished():
                    cond.notify_all()  # idle workers can go home
            else:
                last = rows[-1]
                upper = piece.upper()
                created = created_of(last, piece.lo)
                piece.starting_after = last["id"]
                piece.top = created + 1 if upper is None else min(upper, created + 1)
                if len(rows) == PAGE_SIZE:
                    piece.density = density(rows)
            if sched.may_have_work():
                # A first density, an answered probe or a slice that came back empty can
                # each make a cut possible: one idle worker looks (and wakes the next).
                cond.notify()
            left = sched.seconds_left()
        if keep:
            sink(ScanPage(reply.text, rows, keep, left))

    def worker() -> None:
        cpu = time.thread_time()
        try:
            work()
        finally:
            with cond:
                stats.cpu_s += time.thread_time() - cpu

    def work() -> None:
        # A worker pages through its slice until the slice is done, then takes a new one
        # (queued, or stolen); idle workers sleep until there may be work for them.
        piece: Slice | None = None
        while True:
            with cond:
                if piece is None or piece.done:
                    piece = None if sched.error is not None else sched.next_piece()
                    while piece is None and not sched.finished():
                        cond.wait()
                        piece = None if sched.error is not None else sched.next_piece()
                    if piece is None:
                        cond.notify_all()
                        return
                    if sched.may_have_work():
                        cond.notify()  # pass it on: a refill takes several workers
                piece.in_flight = True
            try:
                fetch(piece)
            except BaseException as err:  # noqa: BLE001 - stop every worker; re-raised below
                with cond:
                    if sched.error is None:
                        sched.error = err
                    cond.notify_all()
                return

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="stripe-scan") as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    if sched.error is not None:
        raise sched.error
    return stats

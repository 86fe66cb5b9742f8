"""How a full scan cuts time into ``created`` slices, and when it cuts them again.

The account's time range and density are unknown up front, so slices are made as the scan
learns:

1. The first round covers all time at once, in slices that grow in width going back from
   now (a day, then each wider by a factor, back to 1970): as many slices as the rate keeps
   busy (about forty at 100/s, never fewer than the fifteen that doubling gives), so the
   first requests fill the rate from the start; the slices before the account began come
   back empty in one call each, while the rate would otherwise idle.
2. Each page read gives its slice a density (customers per second of ``created``), so the
   pages a slice has left can be estimated.
3. Work stealing: once every first-round slice has answered, and whenever fewer slices run
   than the rate needs, an idle worker takes the older end of the slice with the most pages
   left, an equal share of what is left overall, so slices tend to end together. The owner's
   range shrinks at once, even while its next request is in flight; customers that request
   returns from the stolen part are cut off (the thief lists them). Where nothing was found
   right under a slice (the account's start, or a gap), its own older end may be empty too:
   it is halved instead, one cut at a time, which finds where the data begins in a few calls.

Slices are half-open ``[lo, hi)`` in unix seconds and never overlap, so each customer is
listed once. ``scan.py`` runs the workers that page through the slices laid out here.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from stripe_customer_assets.stripe_api import StripeApi

PAGE_SIZE = 100
DAY = 86_400
# Width of the newest first-round slice; each older one is wider by a growth factor, the
# smallest (down to MIN_SLICE_GROWTH) that still lays out no more slices than the rate
# keeps busy, and at most MAX_SLICE_GROWTH (about fifteen slices back to 1970).
FIRST_SLICE_SECONDS = DAY
# No Stripe object was created before Stripe opened (2011): the first round lays its growing
# slices out back to 2010 and leaves everything older to one slice.
STRIPE_BEGAN = 1_262_304_000  # 2010-01-01
MAX_SLICE_GROWTH = 2.0
MIN_SLICE_GROWTH = 1.1
SLICE_GROWTH = MAX_SLICE_GROWTH
# A slice is cut only when it has at least this many pages to spare (the page in flight
# stays with its owner): smaller pieces cost a partly filled page each and save no time.
MIN_SPLIT_PAGES = 2.0
# Running slices per request the rate limit allows in flight (``rate x page latency``):
# a new slice is started when fewer than the minimum run, then up to the target.
SLICES_PER_INFLIGHT = 1.25
MIN_SLICES_PER_INFLIGHT = 1.05
SPARE_SLICES = 2


@dataclass
class Slice:
    lo: int  # inclusive; rises when another worker takes the older part
    hi: int | None  # exclusive; None: no upper bound (the newest slice)
    starting_after: str | None = None
    top: int | None = None  # exclusive upper bound of what is left (after the cursor's second)
    density: float | None = None  # customers per second of ``created``, from the last full page
    in_flight: bool = False
    done: bool = False
    answered: bool = False  # a page of it came back
    listed: int = 0
    below: Slice | None = field(default=None, repr=False)  # the slice right under this one

    probe: Slice | None = field(default=None, repr=False)  # the cut of it not answered yet

    def floor_unknown(self) -> bool:
        """Whether its data may begin well above its older end: nothing is known right under
        it (the start of time), or what is right under it turned out empty (where the
        account begins, or a gap)."""
        below = self.below
        return below is None or (below.done and below.listed == 0)

    def probing(self) -> bool:
        return self.probe is not None and not self.probe.answered

    def upper(self) -> int | None:
        return self.hi if self.top is None else self.top

    def pages_left(self) -> float:
        upper = self.upper()
        if self.density is None or upper is None:
            return math.inf
        return max(0, upper - self.lo) * self.density / PAGE_SIZE


@dataclass
class ScanStats:
    pages: int = 0
    slices: int = 0
    splits: int = 0
    empty_pages: int = 0
    cut: int = 0  # customers read twice because a slice was cut under an in-flight request
    customers: int = 0
    cpu_s: float = 0.0  # CPU of the scan's worker threads (requests, parsing, scheduling)


def created_of(customer: dict[str, Any], default: int) -> int:
    value = customer.get("created")
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def density(page: list[dict[str, Any]]) -> float:
    newest = created_of(page[0], 0)
    oldest = created_of(page[-1], newest)
    return len(page) / max(1, newest - oldest)


def initial_slices(
    now: int,
    first_width: int = FIRST_SLICE_SECONDS,
    growth: float = SLICE_GROWTH,
    floor: int = STRIPE_BEGAN,
) -> list[Slice]:
    """Slices covering all time: ``[now - w, open)``, then widths growing by ``growth`` back to
    ``floor``, then one slice ``[0, floor)`` (one call, empty unless a clock was wrong)."""
    slices = [Slice(lo=max(0, now - first_width), hi=None)]
    hi, width = slices[0].lo, first_width * growth
    while hi > 0:
        lo = max(0, hi - math.ceil(width)) if hi > floor else 0
        if lo < floor < hi:
            lo = floor
        slices.append(Slice(lo, hi))
        slices[-2].below = slices[-1]
        hi, width = lo, width * growth
    return slices


def first_round(now: int, wanted: int) -> list[Slice]:
    """The first round: as many slices as the rate keeps busy (``wanted``), fewer when even
    the widest growth makes more, so the account's first ``rate x latency`` requests all go
    out at once instead of waiting for the first answers to be split."""
    lo, hi = MIN_SLICE_GROWTH, MAX_SLICE_GROWTH
    if len(initial_slices(now, growth=lo)) <= wanted:
        return initial_slices(now, growth=lo)
    for _ in range(20):  # the slice count falls as the growth rises: bisect for ``wanted``
        mid = (lo + hi) / 2
        if len(initial_slices(now, growth=mid)) <= wanted:
            hi = mid
        else:
            lo = mid
    return initial_slices(now, growth=hi)


def one_slice() -> list[Slice]:
    """All time in one slice: the fewest calls when other accounts share the rate budget (no
    idle rate to fill with empty slices). Work stealing still cuts it once its first page
    shows more pages left than one worker lists in time."""
    return [Slice(lo=0, hi=None)]


def split_point(piece: Slice, share: float) -> int | None:
    """Where to cut ``piece`` so a thief gets about ``share`` pages of it, or None.

    The owner keeps the page it is fetching; a piece with less than ``2 * share`` pages to
    spare is cut in half, and one with less than ``MIN_SPLIT_PAGES`` is not cut. Only a
    piece that has answered is cut (a thief's density is its victim's until then). A piece
    whose data may begin well above its older end (``Slice.floor_unknown``: the account's
    start, or a gap) is cut in half, one cut at a time: the cut probes where the data begins,
    a few calls at most, instead of one empty call per share.
    """
    pages = piece.pages_left()
    upper = piece.upper()
    if not piece.answered or math.isinf(pages) or piece.density is None or upper is None:
        return None
    if piece.probing():
        return None
    spare = pages - (1.0 if piece.in_flight else 0.0)
    if spare < MIN_SPLIT_PAGES:
        return None
    taken = spare / 2.0 if piece.floor_unknown() else min(max(share, 1.0), spare / 2.0)
    mid = piece.lo + math.floor(taken * PAGE_SIZE / piece.density)
    # Whole seconds: the owner keeps at least its cursor's second, the thief at least one.
    mid = min(max(mid, piece.lo + 1), upper - 1)
    if mid <= piece.lo:
        return None
    return mid


class Scheduler:
    """Shared state of one scan: running slices, queued slices, and when to steal.

    Enough slices run to keep ``rate x latency`` requests in flight with some slack
    (``wanted``). A slice that ends is replaced only once fewer than ``needed`` run (no
    slack left), which keeps the number of slices, and so of partly filled pages, low;
    refilling then goes back up to ``wanted``.
    """

    def __init__(self, api: StripeApi, concurrency: int):
        self.api = api
        self.concurrency = concurrency
        self.cond = threading.Condition()
        self.queue: deque[Slice] = deque()
        self.running: list[Slice] = []
        self.error: BaseException | None = None
        self.latency = 0.3  # seconds a page takes; replaced by measurements
        self.refilling = True
        self.stats = ScanStats()

    def _inflight(self) -> float:
        return self.api.endpoint_rate * self.latency

    def wanted(self) -> int:
        """Slices that keep the rate limit busy at the measured page latency, with slack."""
        return max(1, min(self.concurrency, math.ceil(self._inflight() * SLICES_PER_INFLIGHT) + SPARE_SLICES))

    def needed(self) -> int:
        """Fewer running slices than this would leave the rate limit idle."""
        return max(1, min(self.concurrency, math.ceil(self._inflight() * MIN_SLICES_PER_INFLIGHT) + 1))

    def observe_latency(self, seconds: float) -> None:
        self.latency = 0.8 * self.latency + 0.2 * seconds

    def next_piece(self) -> Slice | None:
        """Under ``cond``: a new slice for an idle worker, or None to wait."""
        if self.queue:
            if len(self.running) >= self.wanted():
                return None
            piece = self.queue.popleft()
            self.running.append(piece)
            self.stats.slices += 1
            return piece
        running = len(self.running)
        if running < self.needed():
            self.refilling = True
        if running >= self.wanted():
            self.refilling = False
        if not self.refilling or any(p.density is None for p in self.running):
            return None  # a first-round slice has not answered: shares would be guesses
        share = sum(p.pages_left() for p in self.running) / self.wanted()
        victim, mid = None, None
        for piece in sorted(self.running, key=Slice.pages_left, reverse=True):
            mid = split_point(piece, share)
            if mid is not None:
                victim = piece
                break
        if victim is None or mid is None:
            return None
        thief = Slice(lo=victim.lo, hi=mid, density=victim.density, below=victim.below)
        if victim.floor_unknown():
            victim.probe = thief
        victim.lo = mid
        victim.below = thief
        self.running.append(thief)
        self.stats.slices += 1
        self.stats.splits += 1
        return thief

    def finished(self) -> bool:
        return self.error is not None or (not self.queue and not self.running)

    def seconds_left(self) -> float:
        """Listing time left at the rate limit, estimated from the running slices' densities."""
        if self.queue or any(p.density is None for p in self.running):
            return math.inf
        return sum(p.pages_left() for p in self.running) / self.api.endpoint_rate

    def may_have_work(self) -> bool:
        """Whether another idle worker could get a slice now (so it is worth waking one)."""
        if len(self.running) >= self.wanted():
            return False
        return bool(self.queue) or self.refilling

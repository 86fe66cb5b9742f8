"""A token bucket shared by every thread that calls one Stripe account."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Allows ``rate`` requests per second on average, bursts up to ``burst``.

    ``acquire`` blocks until the caller's turn. Turns are handed out as time slots
    (virtual scheduling, equivalent to a token bucket): each caller reserves the next free
    slot under the lock and sleeps once until it, so a hundred waiting threads cost a
    hundred wake-ups per second, not a hundred per token, and callers are served first
    come, first served. ``pause`` moves every slot back when Stripe answers 429, so all
    threads back off together instead of each one discovering the limit on its own.
    """

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate / 5))
        self._clock = clock
        self._sleep = sleep
        self._interval = 1.0 / self.rate
        # The time the next token is free; a bucket holding ``burst`` tokens is a
        # ``_next`` up to ``burst - 1`` intervals in the past.
        self._next = clock() - (self.burst - 1.0) * self._interval
        self._paused_until = 0.0
        self._pauses = 0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token; return the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                floor = now - (self.burst - 1.0) * self._interval
                slot = max(floor, self._next)
                self._next = slot + self._interval
                pauses = self._pauses
            delay = slot - now
            if delay <= 0:
                return waited
            self._sleep(delay)
            waited += delay
            with self._lock:
                # A pause that began while this caller slept and covers its slot sends it
                # to the back of the queue; otherwise the slot stands.
                if self._pauses == pauses or slot >= self._paused_until:
                    return waited

    def pause(self, seconds: float) -> None:
        """Hand out no token for ``seconds`` (after a 429), reserved turns included."""
        with self._lock:
            resume = self._clock() + seconds
            self._pauses += 1
            self._paused_until = max(self._paused_until, resume)
            self._next = max(self._next, resume)


class EndpointLimiters:
    """One ``RateLimiter`` per Stripe endpoint, made on first use.

    Stripe counts each named operation separately (``GET /v1/customers``,
    ``POST /v1/customers``, ``POST /v1/customers/{id}``, ...) against a per-endpoint limit,
    25 requests/s by default, on top of the account's global limit. A request takes a turn
    from its endpoint's bucket, then from the account's; so a sync that sends creates and
    updates can run each at its own endpoint's rate while the account bucket caps the sum.
    """

    def __init__(self, rate: float, burst: float | None = None):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self._burst = burst
        self._buckets: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: str) -> RateLimiter:
        bucket = self._buckets.get(endpoint)
        if bucket is None:
            with self._lock:
                bucket = self._buckets.setdefault(endpoint, RateLimiter(self.rate, self._burst))
        return bucket

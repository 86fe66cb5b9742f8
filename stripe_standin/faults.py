"""Rate limiting (token buckets, concurrency caps) and injected faults."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field


class Fault:
    """Names of the injectable faults (also accepted by the CLI and the admin API)."""

    RATE_GLOBAL = "429-global-rate"
    RATE_ENDPOINT = "429-endpoint-rate"
    CONCURRENCY_GLOBAL = "429-global-concurrency"
    CONCURRENCY_ENDPOINT = "429-endpoint-concurrency"
    LOCK_TIMEOUT = "429-lock-timeout"
    HTTP_500 = "500"
    # A POST that began executing, then failed with a 500 that Stripe saves under the
    # request's idempotency key and replays to every retry with that key (for 24 h):
    HTTP_500_SAVED = "500-saved"  # nothing was applied
    HTTP_500_SAVED_APPLIED = "500-saved-applied"  # the write was applied (events recorded)
    HTTP_502 = "502"
    HTTP_503 = "503"
    RESET_BEFORE = "reset-before"  # connection reset; the request is not applied
    RESET_AFTER = "reset-after"  # the request is applied, then the connection is reset
    SLOW = "slow"  # the answer is delayed by ``slow_seconds``
    BAD_JSON = "bad-json"  # a 200 whose body is truncated JSON (applied first)
    MALFORMED_OBJECT = "malformed-object"  # one returned customer is missing fields / mistyped


ALL_FAULTS: tuple[str, ...] = tuple(
    v for k, v in vars(Fault).items() if k.isupper() and isinstance(v, str)
)

RATE_LIMIT_REASONS = {
    Fault.RATE_GLOBAL: "global-rate",
    Fault.RATE_ENDPOINT: "endpoint-rate",
    Fault.CONCURRENCY_GLOBAL: "global-concurrency",
    Fault.CONCURRENCY_ENDPOINT: "endpoint-concurrency",
}
#: faults answered before the request is applied
PRE_APPLY = frozenset(
    [
        *RATE_LIMIT_REASONS,
        Fault.LOCK_TIMEOUT,
        Fault.HTTP_500,
        Fault.HTTP_502,
        Fault.HTTP_503,
        Fault.RESET_BEFORE,
    ]
)
#: 500s saved under the idempotency key (a request without a key just gets the 500)
SAVED_500 = frozenset([Fault.HTTP_500_SAVED, Fault.HTTP_500_SAVED_APPLIED])
#: endpoints whose answers contain customers (for MALFORMED_OBJECT)
OBJECT_ENDPOINTS = frozenset(
    [
        "customers.list",
        "customers.retrieve",
        "customers.create",
        "customers.update",
        "events.list",
        "events.retrieve",
    ]
)


def check_fault(kind: str) -> str:
    if kind not in ALL_FAULTS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(ALL_FAULTS)}")
    return kind


@dataclass
class FaultRule:
    kind: str
    rate: float = 0.0
    burst: int = 1
    endpoints: frozenset[str] | None = None
    methods: frozenset[str] | None = None
    remaining: int = 0  # for explicit bursts: how many more requests get this fault
    accounts: frozenset[str] | None = None  # the accounts whose requests it hits (None: all)

    def matches(self, endpoint: str, method: str, account: str | None = None) -> bool:
        if self.endpoints is not None and endpoint not in self.endpoints:
            return False
        if self.accounts is not None and account not in self.accounts:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return self.kind != Fault.MALFORMED_OBJECT or endpoint in OBJECT_ENDPOINTS


def _frozen(values: Iterable[str] | str | None, upper: bool = False) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    return frozenset(v.upper() if upper else v for v in values)


class FaultInjector:
    """Decides, per request, which fault (if any) to inject.

    Rules fire at a rate (a seeded RNG draw per matching rule, in rule order); a rule with
    ``burst > 1`` then hits the next ``burst - 1`` matching requests too. Explicit bursts queued
    with ``inject`` take precedence over rates. With a fixed seed and a sequential client the
    sequence of faults is reproducible.
    """

    def __init__(self, seed: int | None = None):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules: dict[str, FaultRule] = {}
        self._pending: list[FaultRule] = []

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def set_rate(
        self,
        kind: str,
        rate: float,
        *,
        burst: int = 1,
        endpoints: Iterable[str] | str | None = None,
        methods: Iterable[str] | str | None = None,
        accounts: Iterable[str] | str | None = None,
    ) -> None:
        check_fault(kind)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        with self._lock:
            if rate == 0:
                self._rules.pop(kind, None)
            else:
                self._rules[kind] = FaultRule(
                    kind, rate, max(1, int(burst)), _frozen(endpoints), _frozen(methods, True),
                    accounts=_frozen(accounts),
                )

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        endpoints: Iterable[str] | str | None = None,
        methods: Iterable[str] | str | None = None,
        accounts: Iterable[str] | str | None = None,
    ) -> None:
        check_fault(kind)
        with self._lock:
            self._pending.append(
                FaultRule(
                    kind, 1.0, 1, _frozen(endpoints), _frozen(methods, True), int(count),
                    _frozen(accounts),
                )
            )

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._pending.clear()

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "rates": {
                    k: {
                        "rate": r.rate,
                        "burst": r.burst,
                        "endpoints": sorted(r.endpoints) if r.endpoints else None,
                        "methods": sorted(r.methods) if r.methods else None,
                        "accounts": sorted(r.accounts) if r.accounts else None,
                    }
                    for k, r in self._rules.items()
                },
                "pending": [{"kind": p.kind, "remaining": p.remaining} for p in self._pending],
            }

    def decide(self, endpoint: str, method: str, account: str | None = None) -> str | None:
        with self._lock:
            if not self._rules and not self._pending:
                return None
            for i, p in enumerate(self._pending):
                if p.matches(endpoint, method, account):
                    p.remaining -= 1
                    if p.remaining <= 0:
                        del self._pending[i]
                    return p.kind
            for rule in self._rules.values():
                if not rule.matches(endpoint, method, account):
                    continue
                if self._rng.random() < rule.rate:
                    if rule.burst > 1:
                        self._pending.append(
                            FaultRule(
                                rule.kind, 1.0, 1, rule.endpoints, rule.methods, rule.burst - 1,
                                rule.accounts,
                            )
                        )
                    return rule.kind
            return None


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; monotonic wall time."""

    def __init__(self, rate: float, burst: float | None = None):
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(1.0, rate))
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Limits:
    rate_limit: float | None = None
    rate_limit_burst: float | None = None
    endpoint_rate_limit: float | None = None
    endpoint_rate_limits: dict[str, float] = field(default_factory=dict)
    concurrency_limit: int | None = None
    endpoint_concurrency_limit: int | None = None


class Limiter:
    """Global and per-endpoint token buckets plus in-flight caps.

    ``acquire`` answers None (admitted; call ``release`` when done) or the
    ``Stripe-Rate-Limited-Reason`` of the refusal.
    """

    def __init__(self, limits: Limits):
        self._lock = threading.Lock()
        self.configure(limits)
        self.in_flight = 0
        self.in_flight_max = 0
        self._in_flight_by_endpoint: dict[str, int] = {}

    def configure(self, limits: Limits) -> None:
        with self._lock:
            self.limits = limits
            self._global = (
                TokenBucket(limits.rate_limit, limits.rate_limit_burst)
                if limits.rate_limit
                else None
            )
            self._endpoint_buckets: dict[str, TokenBucket] = {}

    def _endpoint_bucket(self, endpoint: str) -> TokenBucket | None:
        b = self._endpoint_buckets.get(endpoint)
        if b is None:
            rate = self.limits.endpoint_rate_limits.get(endpoint, self.limits.endpoint_rate_limit)
            if not rate:
                return None
            b = TokenBucket(rate, max(1.0, rate))
            self._endpoint_buckets[endpoint] = b
        return b

    def acquire(self, endpoint: str) -> str | None:
        with self._lock:
            lim = self.limits
            if lim.concurrency_limit is not None and self.in_flight >= lim.concurrency_limit:
                return "global-concurrency"
            ep_in = self._in_flight_by_endpoint.get(endpoint, 0)
            if (
                lim.endpoint_concurrency_limit is not None
                and ep_in >= lim.endpoint_concurrency_limit
            ):
                return "endpoint-concurrency"
            eb = self._endpoint_bucket(endpoint)
            if self._global is not None and not self._global.take():
                return "global-rate"
            if eb is not None and not eb.take():
                return "endpoint-rate"
            self.in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self.in_flight)
            self._in_flight_by_endpoint[endpoint] = ep_in + 1
            return None

    def release(self, endpoint: str) -> None:
        with self._lock:
            self.in_flight -= 1
            self._in_flight_by_endpoint[endpoint] = self._in_flight_by_endpoint.get(endpoint, 1) - 1

"""Rate limits per account, as at Stripe ("rate limits are measured in API requests per
second, per Stripe account", https://docs.stripe.com/rate-limits; live and test mode apart).

Every (account, mode) has its own ``Limiter`` (the global token bucket, the per-endpoint
buckets and the in-flight caps), made on first use with the stand-in's limits, or with the
account's own (``set_account_limits``). Which account a request made for a connected account
counts against is the platform's choice (``connect.AccountRegistry.rate_account``).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from .faults import Limiter, Limits

LIMIT_KNOBS = tuple(f.name for f in dataclasses.fields(Limits))


class AccountLimiters:
    def __init__(self, limits: Limits):
        self._lock = threading.Lock()
        self.limits = limits
        self.overrides: dict[str, dict[str, Any]] = {}
        self._by: dict[tuple[str, bool], Limiter] = {}
        self.in_flight = 0
        self.in_flight_max = 0  # over every account

    def _limits_for(self, account: str) -> Limits:
        own = self.overrides.get(account)
        if not own:
            return self.limits
        return dataclasses.replace(self.limits, **own)

    def configure(self, limits: Limits) -> None:
        """New limits for every account (the buckets start full again)."""
        with self._lock:
            self.limits = limits
            for (account, _), lim in self._by.items():
                lim.configure(self._limits_for(account))

    def set_account_limits(self, account: str, **knobs: Any) -> None:
        """Limits of one account (both modes) that differ from the stand-in's; knobs as
        ``Limits`` (``rate_limit``, ``endpoint_rate_limits``, ...). No knobs: back to the
        stand-in's limits."""
        for k in knobs:
            if k not in LIMIT_KNOBS:
                raise TypeError(f"unknown limit {k!r}; known: {', '.join(LIMIT_KNOBS)}")
        if "endpoint_rate_limits" in knobs:
            knobs["endpoint_rate_limits"] = dict(knobs["endpoint_rate_limits"] or {})
        with self._lock:
            if knobs:
                self.overrides[account] = dict(knobs)
            else:
                self.overrides.pop(account, None)
            for (acct, _), lim in self._by.items():
                if acct == account:
                    lim.configure(self._limits_for(account))

    def account_limits(self, account: str) -> dict[str, Any]:
        return dataclasses.asdict(self._limits_for(account))

    def limiter(self, account: str, livemode: bool = False) -> Limiter:
        with self._lock:
            lim = self._by.get((account, livemode))
            if lim is None:
                lim = self._by[(account, livemode)] = Limiter(self._limits_for(account))
            return lim

    def acquire(self, endpoint: str, account: str = "", livemode: bool = False) -> str | None:
        """None when admitted (call ``release``), else the ``Stripe-Rate-Limited-Reason``."""
        reason = self.limiter(account, livemode).acquire(endpoint)
        if reason is None:
            with self._lock:
                self.in_flight += 1
                self.in_flight_max = max(self.in_flight_max, self.in_flight)
        return reason

    def release(self, endpoint: str, account: str = "", livemode: bool = False) -> None:
        self.limiter(account, livemode).release(endpoint)
        with self._lock:
            self.in_flight -= 1

"""Counters and the request log, over the whole stand-in and per account."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any


class AccountCounters:
    __slots__ = ("by_endpoint", "rate_limited", "requests", "status", "writes")

    def __init__(self) -> None:
        self.requests = 0
        self.by_endpoint: Counter[str] = Counter()
        self.status: Counter[int] = Counter()
        self.writes: Counter[str] = Counter()
        self.rate_limited = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "requests_by_endpoint": dict(self.by_endpoint),
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "writes_applied": sum(self.writes.values()),
            "writes_by_endpoint": dict(self.writes),
            "rate_limited": self.rate_limited,
        }


class Stats:
    def __init__(self, log_size: int):
        self.lock = threading.Lock()
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests_total = 0
            self.by_route: Counter[str] = Counter()
            self.by_endpoint: Counter[str] = Counter()
            self.status: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()
            self.rate_limited: Counter[str] = Counter()
            self.writes: Counter[str] = Counter()
            # The account each request acted on (its data set): requests, writes, 429s.
            self.by_account: dict[str, AccountCounters] = {}
            self.replays = 0
            self.errors = 0
            self.log.clear()

    def account(self, account: str) -> AccountCounters:
        """The counters of one account (call with ``lock`` held)."""
        found = self.by_account.get(account)
        if found is None:
            found = self.by_account[account] = AccountCounters()
        return found

    def count_write(self, endpoint: str, account: str | None) -> None:
        with self.lock:
            self.writes[endpoint] += 1
            if account is not None:
                self.account(account).writes[endpoint] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests_total": self.requests_total,
                "requests": dict(self.by_route),
                "requests_by_endpoint": dict(self.by_endpoint),
                "status": {str(k): v for k, v in sorted(self.status.items())},
                "faults": dict(self.faults),
                "faults_total": sum(self.faults.values()),
                "rate_limited": sum(self.rate_limited.values()),
                "rate_limited_by_reason": dict(self.rate_limited),
                "writes_applied": sum(self.writes.values()),
                "writes_by_endpoint": dict(self.writes),
                "by_account": {a: c.snapshot() for a, c in sorted(self.by_account.items())},
                "idempotent_replays": self.replays,
                "internal_errors": self.errors,
            }

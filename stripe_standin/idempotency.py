"""Idempotency keys on POST, as Stripe keeps them.

- Same key, same method/path/parameters: the stored answer is replayed (same status and body,
  header ``Idempotent-Replayed: true``).
- Same key, different request: 400, error type ``idempotency_error``.
- Same key while the first request is still running: 409 ``idempotency_key_in_use``.
- Only answers of requests that ran are stored (Stripe saves nothing when parameters fail
  validation or the request conflicted with another); keys expire after a TTL measured on the
  stand-in's clock (24 h by default).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .clock import Clock


@dataclass
class Entry:
    fingerprint: str
    expires_at: float
    done: bool = False
    status: int = 0
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    original_request: str = ""


class IdempotencyStore:
    NEW, REPLAY, MISMATCH, IN_USE = "new", "replay", "mismatch", "in_use"

    def __init__(self, clock: Clock, ttl_seconds: float = 24 * 3600):
        self._lock = threading.Lock()
        self._clock = clock
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, Entry] = {}
        self._ops = 0

    def _sweep(self, now: float) -> None:
        dead = [k for k, e in self._entries.items() if e.done and e.expires_at <= now]
        for k in dead:
            del self._entries[k]

    def begin(self, key: str, fingerprint: str, request_id: str) -> tuple[str, Entry | None]:
        with self._lock:
            now = self._clock.now()
            self._ops += 1
            if self._ops % 1024 == 0:
                self._sweep(now)
            e = self._entries.get(key)
            if e is not None and e.done and e.expires_at <= now:
                del self._entries[key]
                e = None
            if e is None:
                self._entries[key] = Entry(
                    fingerprint, now + self.ttl_seconds, original_request=request_id
                )
                return self.NEW, None
            if not e.done:
                return self.IN_USE, e
            if e.fingerprint != fingerprint:
                return self.MISMATCH, e
            return self.REPLAY, e

    def finish(
        self,
        key: str,
        *,
        store: bool,
        status: int = 0,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        with self._lock:
            e = self._entries.get(key)
            if e is None or e.done:
                return
            if not store:
                del self._entries[key]
                return
            e.done = True
            e.status = status
            e.body = body
            e.headers = list(headers or [])
            e.expires_at = self._clock.now() + self.ttl_seconds

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

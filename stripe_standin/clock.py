"""The stand-in's notion of "now": wall time plus an offset, or a frozen instant."""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, start: float | None = None, *, frozen: bool = False):
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = None
        if start is not None:
            self.set(start, frozen=frozen)
        elif frozen:
            self._frozen = time.time()

    def now(self) -> float:
        f = self._frozen
        if f is not None:
            return f
        return time.time() + self._offset

    def now_int(self) -> int:
        return int(self.now())

    def advance(self, seconds: float) -> float:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds
            return self.now()

    def set(self, ts: float, *, frozen: bool = False) -> float:
        with self._lock:
            if frozen:
                self._frozen = float(ts)
            else:
                self._frozen = None
                self._offset = float(ts) - time.time()
            return self.now()

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

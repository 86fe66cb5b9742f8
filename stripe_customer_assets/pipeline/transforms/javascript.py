"""JavaScript transforms in an embedded V8 isolate (mini-racer): time and memory limits, no I/O.

The source defines ``function transform(customer)`` returning an object of model properties,
or null to leave the customer out. The isolate has ECMAScript only: no network, files,
modules or process access.

Customers run in batches (one call into V8 per batch, about 10 µs per customer). When a
batch is stopped (time or memory limit) or fails as a whole, it runs again one customer
at a time, so only the customer that loops or allocates without bound is rejected, with
the reason; the others land. V8 terminates the stopped script and collects its garbage,
so the same isolate serves the rest of the run (a transform must not rely on global
state between customers).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any, Self

from py_mini_racer import (
    JSEvalException,
    JSOOMException,
    JSParseException,
    JSTimeoutException,
    MiniRacer,
)

BATCH_SIZE = 100
# A whole batch may take this many single-customer time limits before it is split up.
BATCH_TIME_FACTOR = 4

_RUNNER = r"""
globalThis.__pipeline_run = (function (transform) {
  return function (items) {
    const out = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      try {
        const value = transform(items[i]);
        out[i] = value === undefined
          ? [false, "transform(customer) returned undefined; return an object, or null to leave the customer out"]
          : [true, value];
      } catch (e) {
        out[i] = [false, (e && e.stack) ? String(e.stack).split("\n").slice(0, 2).join(" ") : String(e)];
      }
    }
    return out;
  };
})(transform);
"""


@dataclass(frozen=True)
class JsOutcome:
    ok: bool
    value: Any = None
    reason: str | None = None


def check_javascript(source: str, timeout_ms: int) -> None:
    """Compile the source in a fresh isolate; raises ValueError saying what is wrong."""
    with MiniRacer() as isolate:
        _load(isolate, source, timeout_ms)


def _load(isolate: MiniRacer, source: str, timeout_ms: int) -> None:
    try:
        isolate.eval(source, timeout_sec=max(timeout_ms, 1000) / 1000)
    except JSParseException as err:
        raise ValueError(f"does not compile: {_first_line(err)}") from None
    except JSTimeoutException:
        _settle(isolate)
        raise ValueError(
            "its top-level code did not finish (an endless loop outside transform?)"
        ) from None
    except JSEvalException as err:
        raise ValueError(f"failed while loading: {_first_line(err)}") from None
    if isolate.eval("typeof transform") != "function":
        raise ValueError("must define a function transform(customer)")
    isolate.eval(_RUNNER)


def _settle(isolate: MiniRacer) -> None:
    """Wait until V8 has reported the stopped script, so that closing the isolate later
    cannot race with that report."""
    with contextlib.suppress(Exception):  # an unusable isolate is closed anyway
        isolate.eval("0")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    match = re.match(r"<anonymous>:(\d+):\s*(.*)", first)
    return f"line {match.group(1)}: {match.group(2)}" if match else first


class JavaScriptTransform:
    """Runs ``transform(customer)`` for batches of customers under the configured limits."""

    def __init__(self, source: str, timeout_ms: int, max_memory_mb: int):
        self.source = source
        self.timeout_ms = timeout_ms
        self.max_memory = max_memory_mb * 1024 * 1024
        self.max_memory_mb = max_memory_mb
        self._isolate: MiniRacer | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._isolate is not None:
            self._isolate.close()
            self._isolate = None

    def _fresh(self) -> MiniRacer:
        self.close()
        isolate = MiniRacer()
        try:
            _load(isolate, self.source, self.timeout_ms)
        except BaseException:
            isolate.close()
            raise
        self._isolate = isolate
        return isolate

    def run(self, customers: list[dict[str, Any]]) -> list[JsOutcome]:
        out: list[JsOutcome] = []
        for start in range(0, len(customers), BATCH_SIZE):
            batch = customers[start : start + BATCH_SIZE]
            try:
                out.extend(self._call(batch, self.timeout_ms * BATCH_TIME_FACTOR))
            except Exception:  # noqa: BLE001 - stopped or failed as a whole: find the customer
                _settle(self._isolate or self._fresh())
                out.extend(self._one(customer) for customer in batch)
        return out

    def _call(self, batch: list[dict[str, Any]], timeout_ms: int) -> list[JsOutcome]:
        isolate = self._isolate or self._fresh()
        results = isolate.call(
            "__pipeline_run", batch, timeout_sec=timeout_ms / 1000, max_memory=self.max_memory
        )
        return [
            JsOutcome(True, value) if ok else JsOutcome(False, reason=str(value))
            for ok, value in results
        ]

    def _one(self, customer: dict[str, Any]) -> JsOutcome:
        try:
            return self._call([customer], self.timeout_ms)[0]
        except JSTimeoutException:
            _settle(self._isolate or self._fresh())
            return JsOutcome(
                False,
                reason=f"transform(customer) was stopped after {self.timeout_ms} ms "
                "(transformation.javascript_timeout_ms)",
            )
        except JSOOMException:
            _settle(self._isolate or self._fresh())
            return JsOutcome(
                False,
                reason=f"transform(customer) was stopped at the {self.max_memory_mb} MB memory limit "
                "(transformation.javascript_max_memory_mb)",
            )
        except Exception as err:  # noqa: BLE001 - e.g. a result JSON cannot hold (BigInt)
            return JsOutcome(False, reason=_first_line(err))

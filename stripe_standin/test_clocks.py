"""Test clocks (``/v1/test_helpers/test_clocks``), as Stripe's API reference describes them.

- A clock is created at a ``frozen_time``; customers created with ``test_clock=<id>`` belong
  to it for good and are created at the clock's frozen time.
- ``GET /v1/customers`` leaves a clock's customers out unless ``test_clock=<id>`` is given
  (then it lists only that clock's customers). Their events are in ``GET /v1/events`` like any
  other customer's.
- Deleting a clock deletes its customers (each with a ``customer.deleted`` event).
- ``advance`` moves ``frozen_time`` forward (never back); the answer says ``advancing`` and the
  clock is ``ready`` at once (nothing here takes time to simulate).
- Test helpers exist in test mode only: a live key gets Stripe's answer for a URL it does
  not route (404).

The registry holds the clocks; ``Store`` asks it about clock ids (customer create, list
filter, delete cascade). List pagination is newest first, like every Stripe list.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .errors import StripeError, invalid, no_such

OBJECT = "test_helpers.test_clock"
# The API reference's example clock is set to delete itself 7 days after its creation;
# the stand-in shows the same ``deletes_after`` and does not delete clocks by itself.
DELETES_AFTER_SECONDS = 7 * 86_400
# Advancing may not go further than two years ahead when the clock has no subscriptions.
MAX_ADVANCE_SECONDS = 2 * 366 * 86_400


@dataclass
class TestClock:
    __test__ = False  # not a pytest test class

    id: str
    created: int
    frozen_time: int
    name: str | None
    seq: int
    status: str = "ready"

    def to_dict(self, *, status: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": OBJECT,
            "created": self.created,
            "deletes_after": self.created + DELETES_AFTER_SECONDS,
            "frozen_time": self.frozen_time,
            "livemode": False,
            "name": self.name,
            "status": status or self.status,
        }


def no_such_clock(ident: str, param: str = "test_clock", status: int = 400) -> StripeError:
    """Unknown clock: 400 when a parameter names it, 404 when the URL does."""
    err = no_such("test clock", ident, param)
    err.status = status
    return err


def live_mode_refusal(method: str, path: str) -> StripeError:
    """What a live key gets from a test helper: the route does not exist in live mode."""
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
        "we can help at https://support.stripe.com/.",
    )


class TestClockRegistry:
    """The account's test clocks; thread-safe (the store's lock is held for cascades)."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clocks: dict[str, TestClock] = {}
        self._seq = 0

    def create(self, clock_id: str, now: int, params: dict[str, Any]) -> TestClock:
        with self.lock:
            self._seq += 1
            clock = TestClock(
                clock_id, now, int(params["frozen_time"]), params.get("name") or None, self._seq
            )
            self.clocks[clock_id] = clock
            return clock

    def get(self, clock_id: str, param: str = "test_clock", status: int = 400) -> TestClock:
        clock = self.clocks.get(clock_id)
        if clock is None:
            raise no_such_clock(clock_id, param, status)
        return clock

    def remove(self, clock_id: str) -> None:
        with self.lock:
            self.clocks.pop(clock_id, None)

    def advance(self, clock_id: str, frozen_time: int) -> TestClock:
        with self.lock:
            clock = self.get(clock_id, "test_clock", 404)
            if frozen_time <= clock.frozen_time:
                raise invalid(
                    "The frozen_time must be after the test clock's current frozen_time "
                    f"({clock.frozen_time}).",
                    "frozen_time",
                )
            if frozen_time - clock.frozen_time > MAX_ADVANCE_SECONDS:
                raise invalid(
                    "Test clocks without subscriptions cannot be advanced more than two years "
                    "at a time.",
                    "frozen_time",
                )
            clock.frozen_time = frozen_time
            return clock

    def page(
        self, limit: int, starting_after: str | None, ending_before: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """A newest-first page of clocks and whether more follow."""
        with self.lock:
            ordered = sorted(self.clocks.values(), key=lambda c: (c.created, c.seq), reverse=True)
        if starting_after is not None:
            index = _index(ordered, starting_after, "starting_after")
            rest = ordered[index + 1 :]
            return [c.to_dict() for c in rest[:limit]], len(rest) > limit
        if ending_before is not None:
            index = _index(ordered, ending_before, "ending_before")
            newer = ordered[:index]
            page = newer[-limit:]
            return [c.to_dict() for c in page], len(newer) > limit
        return [c.to_dict() for c in ordered[:limit]], len(ordered) > limit


def _index(clocks: list[TestClock], clock_id: str, param: str) -> int:
    for i, clock in enumerate(clocks):
        if clock.id == clock_id:
            return i
    raise no_such_clock(clock_id, param)

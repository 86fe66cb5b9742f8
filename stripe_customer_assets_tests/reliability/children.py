"""Running ``workers`` functions in child processes, waiting for them, killing them."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

CHILD_TIMEOUT_S = 120


class Child:
    """One worker process: ``results`` carries its report, ``reached`` its hold point."""

    def __init__(
        self, ctx, target: Callable[..., None], *args: Any, hold: bool = False, **kwargs: Any
    ):
        self.results = ctx.Queue()
        self.reached = ctx.Event() if hold else None
        if hold:
            kwargs["reached"] = self.reached
        self.process = ctx.Process(target=target, args=(*args, self.results), kwargs=kwargs)
        self.process.start()

    def wait_for_hold(self) -> None:
        assert self.reached is not None
        if not self.reached.wait(CHILD_TIMEOUT_S):
            self.process.kill()
            pytest.fail("the child never reached its hold point")

    def kill(self) -> None:
        """SIGKILL, and make sure it was the signal that ended the process."""
        assert self.process.is_alive(), f"the child ended early ({self.process.exitcode})"
        self.process.kill()
        self.process.join(CHILD_TIMEOUT_S)
        assert self.process.exitcode == -signal.SIGKILL

    def result(self) -> dict[str, Any]:
        self.process.join(CHILD_TIMEOUT_S)
        assert self.process.exitcode == 0, f"the child failed ({self.process.exitcode})"
        return self.results.get(timeout=5)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)

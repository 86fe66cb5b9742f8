"""The Stripe stand-in as a child process, so its CPU and memory are not the client's.

The stand-in prints its base URL on its first line of output; the admin API
(``/_standin/...``) changes knobs, adds events and reads counters while it runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Self

from stripe_customer_assets.stripe_api import StripeApi
from stripe_standin import STANDIN_API_KEY, StandinAdmin


@dataclass(frozen=True)
class StandinSettings:
    customers: int = 0
    latency_read: float = 0.3
    latency_write: float = 0.4
    rate_limit: float | None = None  # the account's limit, and each endpoint's (see api())
    endpoint_rate_limit: float | None = None  # each endpoint's, when lower than the account's
    seed: int = 1
    record_events: bool = False


class StandinProcess:
    """``with StandinProcess(settings) as s:`` -> ``s.url``, ``s.admin``, ``s.api_key``."""

    api_key = STANDIN_API_KEY

    def __init__(self, settings: StandinSettings, *, start_timeout_s: float = 600.0):
        self.settings = settings
        self.start_timeout_s = start_timeout_s
        self.url = ""
        self.seeded_in_s = 0.0
        self._proc: subprocess.Popen[str] | None = None

    def command(self) -> list[str]:
        s = self.settings
        cmd = [
            sys.executable,
            "-m",
            "stripe_standin",
            "--port",
            "0",
            "--quiet",
            "--seed",
            str(s.seed),
            "--latency-read",
            str(s.latency_read),
            "--latency-write",
            str(s.latency_write),
        ]
        if s.customers:
            cmd += ["--scale", str(s.customers)]
        if s.record_events:
            cmd.append("--record-events")
        if s.rate_limit:
            cmd += ["--rate-limit", str(s.rate_limit)]
        if s.endpoint_rate_limit or s.rate_limit:
            cmd += ["--endpoint-rate-limit", str(s.endpoint_rate_limit or s.rate_limit)]
        return cmd

    def __enter__(self) -> Self:
        started = time.perf_counter()
        self._proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http"):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the stand-in did not start (exit code {self._proc.poll()}): {line!r}")
        self.url = line
        self.seeded_in_s = time.perf_counter() - started
        self.admin = StandinAdmin(self.url, timeout=120.0)
        self.admin.health()
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self._proc = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def api(self, rate: float) -> StripeApi:
        """The project's client for an account whose limit is ``rate`` requests/s, overall and
        on each endpoint (Stripe's default endpoint limit is 25/s: an account doing 100/s on
        one endpoint had its limits raised)."""
        return StripeApi(self.api_key, api_base=self.url, rate_limit=rate, endpoint_rate_limit=rate)

    def stats(self) -> dict[str, Any]:
        return self.admin.stats()

    def configure(self, **knobs: Any) -> None:
        self.admin.configure(**knobs)

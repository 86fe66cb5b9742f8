"""Reliability suite fixtures, and the fault table printed at the end of every session that ran
the fault suite (in CI output too: it goes through the terminal reporter, not stdout)."""

from __future__ import annotations

import pytest

from stripe_customer_assets_tests.ops.conftest import dagster_database  # noqa: F401 - a fixture
from stripe_customer_assets_tests.reliability.support import FaultRow, format_table

FAULT_ROWS = pytest.StashKey[list[FaultRow]]()


@pytest.fixture
def fault_report(request) -> list[FaultRow]:
    """Append a ``FaultRow`` to have it printed in the session's fault table."""
    return request.config.stash.setdefault(FAULT_ROWS, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = config.stash.get(FAULT_ROWS, [])
    if not rows:
        return
    terminalreporter.section("fault suite: every scenario under ~20% injected faults")
    for text in format_table(rows):
        terminalreporter.write_line(text)
    terminalreporter.write_line(
        "faults: 429g/429e/429gc/429ec = 429 global-rate/endpoint-rate/global-concurrency/"
        "endpoint-concurrency, lock = 429 lock_timeout, rst-b/rst-a = connection reset before/"
        "after the request was applied, slow = answer after 2 s (client timeout 1 s), "
        "badjson = 200 with a truncated body; diffs = warehouse vs stand-in (and stand-in vs "
        "model) differences; dups = duplicate customers by email"
    )


@pytest.fixture(scope="session")
def ctx():
    """Processes forked from a fork server that imported the project once (see ``workers``)."""
    from stripe_customer_assets_tests.reliability import workers

    return workers.context()

"""The benchmark runs end to end at tiny sizes (``python -m bench --smoke``), so it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.accounts import _peak_concurrency, ideal_seconds, minimal_calls
from bench.policy import run_policy
from bench.warehouses import postgres_reachable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_smoke_run_reports_every_scenario_with_its_ideal_and_baseline(smoke):
    rows = smoke["rows"]
    scenarios = {r["scenario"] for r in rows}
    assert {
        "stand-in ceiling",
        "client CPU profile",
        "full scan",
        "full scan calls",
        "incremental calls",
        "export throughput",
        "export apply step",
        "export calls",
        "warehouse upsert",
        "large scan memory",
        "large scan CPU",
        "default limits: full scan",
        "default limits: export",
        "dg launch",
    } <= scenarios
    for row in rows:
        if row["scenario"] in ("full scan", "export apply step", "export throughput"):
            assert row["ideal"] > 0 and row["baseline"] > 0 and row["ratio"] > 0, row
        if row["scenario"] in ("full scan", "export apply step"):
            assert row["ratio"] <= 1.0, row  # nothing beats the rate limit
    scans = [r for r in rows if r["scenario"] == "full scan"]
    assert {r["label"].split("R=")[1] for r in scans} == {"25/s", "100/s"}
    launches = {r["label"].split(" (")[0].split(",")[0]: r for r in rows if r["scenario"] == "dg launch"}
    assert {"trivial one-asset job", "stripe/customers"} <= set(launches), launches
    full = next(r for r in rows if r["scenario"] == "dg launch" and "full scan" in r["label"])
    assert full["baseline"] > 0 and full["details"]["peak_rss_mb"] > 0, full


@pytest.mark.slow
def test_smoke_run_meets_the_call_targets_that_hold_at_any_size(smoke):
    """Call counts do not depend on the machine: they must hold even at tiny sizes."""
    by_label = {(r["scenario"], r["label"]): r for r in smoke["rows"]}
    incremental = [r for (s, _), r in by_label.items() if s == "incremental calls"]
    assert incremental and all(r["met"] for r in incremental), incremental
    exports = [r for (s, _), r in by_label.items() if s == "export calls"]
    assert exports and all(r["met"] for r in exports), exports
    memory = next(r for (s, _), r in by_label.items() if s == "large scan memory")
    assert memory["met"], memory
    defaults = next(r for (s, _), r in by_label.items() if s == "default limits: export")
    assert defaults["details"]["rate_limited"] == 0, defaults
    assert all(rate > 0 for rate in defaults["details"]["writes_per_s_by_endpoint"].values()), defaults


@pytest.mark.slow
def test_smoke_run_measures_many_connected_accounts_against_the_ideal_and_one_deployment_each(smoke):
    rows = [r for r in smoke["rows"] if r["scenario"].startswith("10 accounts x 50")]
    assert rows, sorted({r["scenario"] for r in smoke["rows"]})
    timed = next(r for r in rows if r["unit"] == "s" and ("backfill" in r["label"] or "baseline" in r["label"]))
    # The baseline (one dg launch per account) and the ideal (calls / the platform's rate) are
    # both measured; nothing beats the rate limit.
    assert timed["ideal"] > 0 and timed["baseline"] > 0 and timed["ratio"] <= 1.0, timed
    why = timed["details"]["ideal_calls_why"]
    assert why["customers.list"].startswith("1 = ceil(50 / 100)"), why
    first = next(r for r in rows if r["label"].startswith("first mirror run's Stripe calls"))
    assert first["achieved"] >= first["ideal"] >= 2, first
    if "backfill" in timed["label"]:
        assert timed["met"], timed["details"].get("rows_wrong")
        assert timed["details"]["runs"] >= 1 and timed["details"]["failed_runs"] == 0, timed
        sweep = next(r for r in rows if r["label"] == "idle sweep: Stripe calls per account")
        assert sweep["met"], sweep


@pytest.mark.slow
def test_smoke_run_measures_postgresql_where_it_is_reachable(smoke):
    dialects = {r["label"].split(",")[0] for r in smoke["rows"] if r["scenario"] == "warehouse upsert"}
    assert "DuckDB" in dialects
    if os.environ.get("CI") or postgres_reachable():
        assert "PostgreSQL" in dialects


def test_scan_schedule_lists_every_customer_once_with_few_extra_calls():
    """The full-scan schedule alone, against an in-memory list: no HTTP, no warehouse."""
    result = run_policy(20_000, 2_000, latency_s=0.01, concurrency=32)
    assert result.calls <= result.ideal_calls * 1.3, result


def test_accounts_ideal_counts_full_pages_and_the_other_calls_once_on_the_shared_or_own_budget():
    measured = Counter({"customers.list": 17, "account.retrieve": 1, "events.list": 1, "test_clocks.list": 1})
    calls, why = minimal_calls(500, measured)
    assert calls == 5 + 3, why  # extra list pages of a sliced scan are not part of the ideal
    assert minimal_calls(501, measured)[0] == 6 + 3
    # One budget for the platform: discovery (2 pages) plus every account's calls; a budget
    # per account: discovery plus one account's calls.
    assert ideal_seconds(200, 8, 25.0, "platform") == (2 + 1600) / 25.0
    assert ideal_seconds(200, 8, 25.0, "account") == (2 + 8) / 25.0


def test_accounts_peak_concurrency_of_run_intervals():
    assert _peak_concurrency([(0, 10), (1, 5), (2, 3), (6, 9), (10, 12)]) == 3
    assert _peak_concurrency([]) == 0

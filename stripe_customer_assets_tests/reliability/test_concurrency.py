"""Concurrent work: runs on one Stripe account share its budget; writers of one DuckDB file
take turns instead of failing."""

from __future__ import annotations

import itertools
import random
import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from stripe_customer_assets.lib.keys import stripe_pool
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.resources import PROJECT_ROOT, StripeResource
from stripe_customer_assets_tests.reliability import workers
from stripe_customer_assets_tests.reliability.children import Child
from stripe_customer_assets_tests.reliability.support import (
    change_customers,
    cursor_not_ahead,
    faulty_api,
    mirror_differences,
)
from stripe_standin.app import STANDIN_API_KEY

STRIPE_LIMIT = 40  # requests/s the stand-in allows (it answers 429 beyond, like Stripe)
ACCOUNT_RATE = 30  # the project's budget for the account


def hammer(resources: list[StripeResource], calls: int) -> float:
    """Each resource (one per concurrent run) makes ``calls`` requests from its own thread;
    returns the seconds it took."""

    def run(resource: StripeResource) -> None:
        api = resource.api()
        for _ in range(calls):
            api.get("/v1/customers", limit=1)

    threads = [threading.Thread(target=run, args=(r,)) for r in resources]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


def test_two_runs_on_one_account_share_its_rate_limit_and_stay_under_stripes(standin):
    standin.configure(rate_limit=STRIPE_LIMIT, rate_limit_burst=10)
    standin.seed_customers(5, seed=61)

    def resource(account: str) -> StripeResource:
        return StripeResource(
            api_key=STANDIN_API_KEY,
            api_base=standin.base_url,
            account=account,
            rate_limit=ACCOUNT_RATE,
            endpoint_rate_limit=ACCOUNT_RATE,
        )

    first, second = resource("reliability_shared"), resource("reliability_shared")
    assert first.limiter() is second.limiter(), "one limiter per account in the process"
    assert resource("reliability_other").limiter() is not first.limiter()

    standin.reset_stats()
    seconds = hammer([first, second], calls=30)
    shared = standin.stats()

    assert shared["rate_limited"] == 0, "together they never went over Stripe's limit"
    assert 60 / seconds <= ACCOUNT_RATE * 1.2, f"{60 / seconds:.1f} requests/s"

    # The same two runs with a budget each (two accounts' worth) go over Stripe's limit.
    standin.reset_stats()
    hammer([resource("reliability_a"), resource("reliability_b")], calls=30)
    assert standin.stats()["rate_limited"] > 0


def test_every_asset_that_calls_stripe_runs_in_the_accounts_concurrency_pool():
    from stripe_customer_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    assets = [a for a in graph.assets_defs if "stripe" in a.required_resource_keys]
    names = {key.to_user_string() for a in assets for key in a.keys}
    assert {"stripe/customers", "crm_export"} <= names, "the mirror, and each export's sync"
    assert "crm_export_plan" not in names, "a plan reads the warehouse only"
    assert {a.node_def.pool for a in assets} == {stripe_pool()} == {"stripe_default"}
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1, "one step per account at a time"


@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_two_runs_of_the_mirror_take_turns_in_the_accounts_pool(
    standin, ctx, tmp_path, wh, warehouse_url, mirror_schema, dagster_database, monkeypatch
):
    """Two run processes on one instance configured as deployed (deploy/dagster.yaml,
    storage on PostgreSQL): the second mirror step starts once the first one has left the
    pool stripe_default. (With Dagster's local SQLite storage two processes can both take
    the slot now and then; the mirror's own lock keeps the data right either way.)"""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    environment = {"DAGSTER_HOME": str(home), **dagster_database.env()}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:  # its tables exist before two runs race
        assert instance.get_runs() == []
        # The pool's row too, as after any earlier run: Dagster creates it on first use, and
        # two processes creating it at the same moment on PostgreSQL can collide.
        instance.event_log_storage.initialize_concurrency_limit_to_default(stripe_pool())
        assert instance.event_log_storage.get_concurrency_info(stripe_pool()).slot_count == 1
    standin.seed_customers(1000, seed=63)
    standin.configure(latency_read=0.05)

    children = [
        Child(
            ctx,
            workers.materialize_mirror,
            environment,
            standin.base_url,
            warehouse_url,
            mirror_schema,
        )
        for _ in range(2)
    ]
    runs = sorted((child.result() for child in children), key=lambda r: r["start"])

    assert all(r["success"] for r in runs)
    assert runs[0]["end"] <= runs[1]["start"], "the steps did not overlap"
    assert mirror_differences(wh, mirror_schema, standin) == []


def test_the_pool_follows_the_account_name(monkeypatch):
    monkeypatch.setenv("STRIPE_ACCOUNT_NAME", "acme")
    assert stripe_pool() == "stripe_acme"


@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_two_processes_writing_one_duckdb_file_take_turns(ctx, wh, warehouse_url):
    with wh.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE turns (worker INTEGER, i INTEGER)")

    children = [
        Child(ctx, workers.warehouse_writer, warehouse_url, "turns", n, 4, 0.15) for n in (1, 2)
    ]
    reports = [child.result() for child in children]

    inside = sorted(span for r in reports for span in r["inside"])
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(inside)), (
        "never two writers inside the file at once"
    )
    assert {r["worker"] for r in reports} == {1, 2}
    assert wh.scalar("SELECT COUNT(*) FROM turns") == 8


@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_two_mirror_refreshes_on_one_duckdb_file_both_succeed(
    standin, ctx, wh, warehouse_url, mirror_schema
):
    standin.seed_customers(3000, seed=62)
    standin.configure(latency_read=0.02)  # the two scans overlap in time

    children = [
        Child(
            ctx, workers.mirror, standin.base_url, warehouse_url, mirror_schema, full_refresh=True
        )
        for _ in range(2)
    ]
    results = [child.result() for child in children]

    assert sorted(r["inserted"] for r in results) == [0, 3000]
    assert mirror_differences(wh, mirror_schema, standin) == []
    assert Path(warehouse_url.removeprefix("duckdb:///") + ".lock").exists()


def test_a_refresh_started_while_another_runs_waits_and_nothing_goes_stale(
    standin, wh, mirror_schema
):
    """Two refreshes of one mirror at once (the pool's limit raised, two deployments): the
    second waits for the first. Were they to overlap, the first, holding older events,
    could commit last and put older customer states back over newer ones."""
    standin.seed_customers(300, seed=64)
    api = faulty_api(standin)
    refresh_mirror(api, wh, mirror_schema, concurrency=4)
    rng = random.Random(64)
    change_customers(standin, rng, 50)
    fetched, release = threading.Event(), threading.Event()

    def first_holds_before_commit() -> None:
        fetched.set()
        release.wait(30)

    first = threading.Thread(
        target=refresh_mirror,
        args=(api, wh, mirror_schema),
        kwargs={"before_commit": first_holds_before_commit},
    )
    first.start()
    assert fetched.wait(30)
    change_customers(standin, rng, 50)  # newer states of some of the same customers
    second = threading.Thread(target=refresh_mirror, args=(faulty_api(standin), wh, mirror_schema))
    second.start()
    second.join(1.0)
    waited = second.is_alive()
    release.set()
    first.join(30)
    second.join(30)

    assert mirror_differences(wh, mirror_schema, standin) == []
    assert cursor_not_ahead(wh, mirror_schema, standin) == []
    assert waited, "the second refresh waited for the first"

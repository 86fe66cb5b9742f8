"""The Dagster layer when writes finally fail: rows recorded, the run failed, not green."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from stripe_customer_assets.components.stripe_export import (
    export_defs,
)
from stripe_customer_assets.export import Plan, PlanEntry, read_state
from stripe_customer_assets.export.age import while_fresh
from stripe_customer_assets.export.history import history_table
from stripe_customer_assets.lib.keys import MIRROR_KEY
from stripe_customer_assets.resources import StripeResource
from stripe_customer_assets.warehouse.engine import frame_from
from stripe_customer_assets_tests.components.test_stripe_export import resources, with_mirror
from stripe_customer_assets_tests.export.support import (
    account,
    export_config,
    seed_customer,
    write_accounts,
)
from stripe_standin import STANDIN_API_KEY, Fault


def test_writes_that_finally_fail_fail_the_run_after_recording_every_row(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 4)])
    failing = seed_customer(standin, 1)
    config = export_config("crm", accounts_table, schemas["state"])
    res = resources(standin, warehouse_url, mirror_schema)
    res["stripe"] = StripeResource(
        api_key=STANDIN_API_KEY, api_base=standin.base_url, rate_limit=2000, max_retries=1
    )
    defs = with_mirror(export_defs(config), res)
    # The update is answered 500 twice: its one retry fails too.
    standin.inject_fault(Fault.HTTP_500, count=2, endpoints="customers.update")

    result = defs.resolve_job_def("crm_job").execute_in_process(raise_on_error=False)

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "crm"
    message = failure.step_failure_data.error.message
    assert "sync 'crm': 1 of 3 writes failed after retries (2 created, 0 updated" in message
    assert f"{schemas['state']}.crm with status 'failed'" in message
    assert "user1@example.com" in message
    state = {r["key"]: r for r in read_state(wh, config)}
    assert state["user1@example.com"]["status"] == "failed"
    assert state["user1@example.com"]["stripe_id"] == failing["id"]
    assert {state[f"user{i}@example.com"]["status"] for i in (2, 3)} == {"created"}
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["failures"].value == 1 and metadata["creates"].value == 2
    assert "user1@example.com" in metadata["failed_rows"].value
    # The state table changed: the sync is materialized, and its check says what failed.
    [materialized] = result.asset_materializations_for_node("crm")
    assert materialized.metadata["failures"].value == 1
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "writes_succeeded"]
    assert not check.passed
    assert check.metadata["failures"].value == 1
    # The history holds the attempt under the Dagster run's id, with Stripe's request id.
    assert f"every attempt in {schemas['state']}.crm_history" in message
    with wh.begin() as conn:
        history = frame_from(conn, f"SELECT * FROM {history_table(config)}").to_dict("records")
    assert {h["run_id"] for h in history} == {result.run_id} and len(history) == 3
    [attempt] = [h for h in history if h["status"] == "failed"]
    assert attempt["key"] == "user1@example.com" and attempt["request_id"].startswith("req_")


@pytest.mark.parametrize(("hours", "applied"), [(22, True), (23.5, False)])
def test_the_sync_step_alone_applies_a_stored_plan_only_while_it_is_young(
    standin, wh, warehouse_url, mirror_schema, accounts_table, schemas, hours, applied
):
    write_accounts(wh, accounts_table, [account(1), account(2)])
    config = export_config("crm", accounts_table, schemas["state"])
    res = resources(standin, warehouse_url, mirror_schema)
    defs = with_mirror(export_defs(config), res)
    job = defs.resolve_job_def("crm_job")
    assert job.execute_in_process(asset_selection=[MIRROR_KEY, dg.AssetKey("crm_plan")]).success
    standin.advance_clock(hours=hours)

    # What "re-execute from failure" runs: the sync step alone in its job, with the stored plan.
    result = job.execute_in_process(asset_selection=[dg.AssetKey("crm")], raise_on_error=False)

    assert result.success is applied
    assert len(standin.customers()) == (2 if applied else 0)
    if not applied:
        [failure] = [e for e in result.all_events if e.is_step_failure]
        message = failure.step_failure_data.error.message
        assert "23.5 h ago on Stripe's clock; a plan older than 23 h is never applied" in message
        assert "materialize crm_plan" in message


def test_a_plan_that_ages_past_the_limit_while_applied_stops_sending():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    clock = [start + dt.timedelta(hours=22, minutes=59)]

    class Api:
        def now(self):
            return clock[0]

    plan = Plan("crm", "p1", start, [])
    entries = [PlanEntry(row=i, key=str(i), action="create") for i in range(5)]
    expired = [False]
    sent = []
    for entry in while_fresh(entries, Api(), plan, expired):
        sent.append(entry.row)
        if entry.row == 2:
            clock[0] += dt.timedelta(minutes=2)
    assert sent == [0, 1, 2] and expired == [True]

"""The Dagster layer when writes finally fail: rows recorded, the run failed, not green."""

from __future__ import annotations

import dagster as dg

from stripe_customer_assets.export import read_state
from stripe_customer_assets.lib.export_component import export_defs
from stripe_customer_assets.resources import StripeResource
from stripe_customer_assets.standin import STANDIN_API_KEY, Fault
from stripe_customer_assets_tests.export.support import (
    account,
    export_config,
    seed_customer,
    write_accounts,
)
from stripe_customer_assets_tests.export.test_component import resources


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
    defs = dg.Definitions.merge(export_defs(config), dg.Definitions(resources=res))
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

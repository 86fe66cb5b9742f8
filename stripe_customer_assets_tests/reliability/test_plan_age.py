"""A killed export whose apply is re-run 25 hours later (Stripe's clock): no duplicate.

The stored plan's idempotency keys are useless after Stripe's 24 h window, so the re-run of
the apply alone refuses the old plan; a fresh plan then finds what the killed run did.
"""

from __future__ import annotations

import time

import pytest

from stripe_customer_assets.export import parse_config, read_state
from stripe_customer_assets.export.age import MAX_PLAN_AGE
from stripe_customer_assets_tests.export.support import (
    FIELDS,
    account,
    seed_customer,
    write_accounts,
)
from stripe_customer_assets_tests.reliability import workers
from stripe_customer_assets_tests.reliability.children import Child
from stripe_customer_assets_tests.reliability.support import (
    duplicate_customers,
    model_differences,
)

pytestmark = pytest.mark.slow


def test_a_killed_export_applied_again_25_hours_later_creates_no_duplicate(
    standin, ctx, wh, warehouse_url, mirror_schema, unique_schema
):
    accounts = f'"{unique_schema("crm")}"."accounts"'
    rows = [account(i) for i in range(1, 101)]
    write_accounts(wh, accounts, rows)
    for i in range(1, 41):
        seed_customer(standin, i)  # 40 updates, 60 creates
    attributes = {
        "name": "aged_export",
        "model": f"SELECT * FROM {accounts}",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": dict(FIELDS),
        "partial_address": "keep_stripe",
        "state_schema": unique_schema("exports"),
    }
    config = parse_config(attributes)
    standin.configure(latency_write=0.02)
    # The job's first run: mirror refresh, plan, apply; killed with writes sent, not recorded.
    child = Child(
        ctx,
        workers.export,
        standin.base_url,
        warehouse_url,
        mirror_schema,
        attributes,
        replan=True,
        batch_size=10,
        hold_at_flush=3,
        hold=True,
    )
    child.wait_for_hold()
    time.sleep(0.5)  # the writes in flight reach Stripe too
    child.kill()
    standin.configure(latency_write=0)
    applied = standin.stats()["writes_by_endpoint"]
    recorded = len(read_state(wh, config))
    assert recorded == 20 and sum(applied.values()) >= 30, (recorded, applied)

    standin.advance_clock(hours=25)
    standin.reset_stats()

    # "Re-execute from failure": the apply step alone, with the 25-hour-old plan.
    refused = Child(
        ctx, workers.export, standin.base_url, warehouse_url, mirror_schema, attributes
    ).result()
    assert "refused" in refused, refused
    message = refused["refused"]
    assert "sync 'aged_export': the stored plan" in message
    assert "25.0 h ago on Stripe's clock" in message
    assert f"older than {MAX_PLAN_AGE.total_seconds() / 3600:g} h is never applied" in message
    assert "materialize aged_export_plan" in message
    assert standin.stats()["writes_applied"] == 0

    # The next run plans again: what the killed run did is found, nothing is created twice.
    rerun = Child(
        ctx, workers.export, standin.base_url, warehouse_url, mirror_schema, attributes, replan=True
    ).result()
    assert rerun["failed"] == 0
    assert duplicate_customers(standin) == 0 and len(standin.customers()) == 100
    assert model_differences(standin, rows) == []
    creates = standin.stats()["writes_by_endpoint"].get("customers.create", 0)
    assert creates + applied.get("customers.create", 0) == 60

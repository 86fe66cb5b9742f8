"""Every direction under ~20% injected faults of every kind, mixed: the end state is exact.

Each scenario turns on ``FAULT_MIX`` (429s of every reason and lock_timeout, 500 / 502 / 503,
resets before and after the request was applied, answers slower than the client's 1 s
timeout, truncated 200 bodies), runs, and asserts: warehouse == stand-in, stand-in == model,
no duplicate customer, no lost update. Each adds a line to the fault table printed at the
end of the session.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from stripe_customer_assets.export import apply_plan, make_plan, sent_keys, store_plan
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.pipeline import PipelineConfig, compile_pipeline, run_pipeline
from stripe_customer_assets.warehouse import Warehouse, quote_table
from stripe_customer_assets_tests.export.support import (
    account,
    export_config,
    seed_customer,
    write_accounts,
)
from stripe_customer_assets_tests.reliability.support import (
    FaultedStretches,
    FaultRow,
    change_customers,
    cursor_not_ahead,
    duplicate_customers,
    duplicate_mirror_rows,
    faulty_api,
    mirror_differences,
    model_differences,
)
from stripe_standin import StripeStandin

pytestmark = pytest.mark.slow

SCAN_CUSTOMERS = 20_000
INCREMENTAL_ROUNDS, INCREMENTAL_CHANGES = 5, 500  # changes made in Stripe before each run
PIPELINE_ROUNDS, PIPELINE_CHANGES = 4, 400
EXPORT_ROWS = 1000
EXPORT_MATCHED = 400  # rows whose customer exists (updates); the other 600 are creates


def test_full_scan_under_faults_equals_stripe(standin, wh, mirror_schema, fault_report):
    standin.seed_customers(SCAN_CUSTOMERS, seed=21)
    dups_before = duplicate_customers(standin)
    api = faulty_api(standin)
    stretches = FaultedStretches(standin, seed=100)

    with stretches.faults():
        result = refresh_mirror(api, wh, mirror_schema, concurrency=8)

    differences = mirror_differences(wh, mirror_schema, standin)
    duplicates = (
        duplicate_customers(standin) - dups_before + duplicate_mirror_rows(wh, mirror_schema)
    )
    fault_report.append(
        FaultRow(
            "mirror full scan",
            wh.dialect,
            stretches.stats,
            api.stats.snapshot()["retries"],
            result.listed,
            "customers",
            stretches.seconds,
            len(differences),
            duplicates,
        )
    )
    assert result.mode == "full" and result.inserted == SCAN_CUSTOMERS
    assert differences == [] and duplicates == 0
    assert cursor_not_ahead(wh, mirror_schema, standin) == []


def test_incremental_runs_under_faults_equal_stripe(standin, wh, mirror_schema, fault_report):
    standin.seed_customers(1000, seed=22)
    dups_before = duplicate_customers(standin)
    refresh_mirror(faulty_api(standin), wh, mirror_schema, concurrency=8)
    rng = random.Random(22)
    api = faulty_api(standin)
    stretches = FaultedStretches(standin, seed=200)
    events = 0
    for _ in range(INCREMENTAL_ROUNDS):
        change_customers(standin, rng, INCREMENTAL_CHANGES)
        with stretches.faults():
            result = refresh_mirror(api, wh, mirror_schema, concurrency=8)
        assert result.mode == "incremental"
        events += result.events
        assert mirror_differences(wh, mirror_schema, standin) == []
        assert cursor_not_ahead(wh, mirror_schema, standin) == []

    duplicates = (
        duplicate_customers(standin) - dups_before + duplicate_mirror_rows(wh, mirror_schema)
    )
    fault_report.append(
        FaultRow(
            f"mirror incremental x{INCREMENTAL_ROUNDS}",
            wh.dialect,
            stretches.stats,
            api.stats.snapshot()["retries"],
            events,
            "events",
            stretches.seconds,
            len(mirror_differences(wh, mirror_schema, standin)),
            duplicates,
        )
    )
    assert events == INCREMENTAL_ROUNDS * INCREMENTAL_CHANGES and duplicates == 0


PRO_PIPELINE = {
    "name": "fault_suite_pro",
    "filters": {
        "match": "all",
        "conditions": [{"property": "metadata.plan", "operator": "is", "value": "pro"}],
    },
    "transformation": {
        "mapping": {"email": "lower(email)", "name": "name", "country": "address.country"}
    },
    "schema": {"email": "string", "name": "string", "country": "string"},
}


def expected_pro_rows(standin: StripeStandin) -> dict[str, dict[str, Any]]:
    """What the pipeline's table must hold, computed from Stripe's state."""
    out = {}
    for c in standin.customers():
        if (c.get("metadata") or {}).get("plan") == "pro":
            email = c.get("email")
            out[c["id"]] = {
                "email": email.lower() if email else None,
                "name": c.get("name"),
                "country": (c.get("address") or {}).get("country"),
            }
    return out


def pipeline_rows(wh: Warehouse, table: str) -> dict[str, dict[str, Any]]:
    frame = wh.read_frame(
        f"SELECT stripe_customer_id, email, name, country FROM {quote_table(table)}"
    )
    return {
        r["stripe_customer_id"]: {k: r[k] for k in ("email", "name", "country")}
        for r in frame.astype(object).where(frame.notna(), None).to_dict("records")
    }


def test_import_pipeline_under_faults_equals_stripe(
    standin, wh, mirror_schema, unique_schema, fault_report
):
    standin.seed_customers(1000, seed=23)
    dups_before = duplicate_customers(standin)
    table = f"{unique_schema('analytics')}.pro_customers"
    pipeline = compile_pipeline(PipelineConfig.model_validate({**PRO_PIPELINE, "table": table}))
    refresh_mirror(faulty_api(standin), wh, mirror_schema, concurrency=8)
    run_pipeline(pipeline, wh, mirror_schema)
    assert pipeline_rows(wh, table) == expected_pro_rows(standin)
    rng = random.Random(23)
    api = faulty_api(standin)
    stretches = FaultedStretches(standin, seed=300)
    processed = 0
    for _ in range(PIPELINE_ROUNDS):
        change_customers(standin, rng, PIPELINE_CHANGES)
        with stretches.faults():
            refresh_mirror(api, wh, mirror_schema, concurrency=8)
            result = run_pipeline(pipeline, wh, mirror_schema)
        processed += result.processed
        assert result.mode == "incremental" and result.rejected == 0
        assert pipeline_rows(wh, table) == expected_pro_rows(standin)

    differences = mirror_differences(wh, mirror_schema, standin)
    duplicates = (
        duplicate_customers(standin) - dups_before + duplicate_mirror_rows(wh, mirror_schema)
    )
    fault_report.append(
        FaultRow(
            f"import pipeline x{PIPELINE_ROUNDS}",
            wh.dialect,
            stretches.stats,
            api.stats.snapshot()["retries"],
            processed,
            "customers",
            stretches.seconds,
            len(differences),
            duplicates,
        )
    )
    assert differences == [] and duplicates == 0


def test_export_of_1000_rows_under_faults_makes_stripe_equal_the_model(
    standin, wh, mirror_schema, unique_schema, fault_report
):
    accounts = f'"{unique_schema("crm")}"."accounts"'
    rows = [account(i) for i in range(1, EXPORT_ROWS + 1)]
    write_accounts(wh, accounts, rows)
    for i in range(1, EXPORT_MATCHED + 1):
        seed_customer(standin, i)
    config = export_config("fault_suite", accounts, unique_schema("exports"))
    api = faulty_api(standin)
    stretches = FaultedStretches(standin, seed=400)

    with stretches.faults():
        refresh_mirror(api, wh, mirror_schema, concurrency=8)
        plan = make_plan(wh, config, mirror_schema, sent_keys=sent_keys(wh, config))
        store_plan(wh, config, plan)
        result = apply_plan(config, api, wh, concurrency=8)
        refresh_mirror(api, wh, mirror_schema, concurrency=8)  # the export's echo events
    stats = stretches.stats

    differences = model_differences(standin, rows) + mirror_differences(wh, mirror_schema, standin)
    duplicates = duplicate_customers(standin) + duplicate_mirror_rows(wh, mirror_schema)
    fault_report.append(
        FaultRow(
            f"export {EXPORT_ROWS} rows",
            wh.dialect,
            stats,
            api.stats.snapshot()["retries"],
            result.created + result.updated,
            "writes",
            stretches.seconds,
            len(differences),
            duplicates,
        )
    )
    assert plan.summary.counts["create"] == EXPORT_ROWS - EXPORT_MATCHED
    assert plan.summary.counts["update"] == EXPORT_MATCHED
    assert (result.created, result.updated, result.failed) == (600, 400, 0), result.errors
    assert differences == [] and duplicates == 0
    assert stats["writes_by_endpoint"].get("customers.create") == EXPORT_ROWS - EXPORT_MATCHED, (
        "every create was applied exactly once (retries were replays)"
    )
    again = make_plan(wh, config, mirror_schema, sent_keys=sent_keys(wh, config))
    assert again.summary.writes == 0, "nothing lost: the next plan has nothing to send"


@pytest.fixture(autouse=True)
def _no_faults_left(standin):
    yield
    standin.clear_faults()

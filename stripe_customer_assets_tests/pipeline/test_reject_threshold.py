"""A failing transformation never empties a table: past max_reject_rate nothing is written.

A transform raising for 90% of customers (or a schema type that no longer matches) makes the
run fail before its commit, naming the first rejects; the table keeps every row it had, and
the rejects and the pipeline's state stay as they were, on the full rebuild and on the
incremental path alike.
"""

from __future__ import annotations

import pytest

from stripe_customer_assets.pipeline.reject_guard import RejectThresholdError
from stripe_customer_assets.pipeline.rejects import rejects_table
from stripe_customer_assets.pipeline.state import state_table
from stripe_customer_assets.warehouse import quote_table
from stripe_customer_assets_tests.pipeline.support import customer, pipeline, run
from stripe_customer_assets_tests.pipeline.transforms import samples as transforms

MODULE = "stripe_customer_assets_tests.pipeline.transforms.samples"
SCORED = {"schema": {"score": "integer"}, "transformation": {"python": f"{MODULE}:score_unless_broken"}}


@pytest.fixture
def broken(monkeypatch):
    monkeypatch.setitem(transforms.BROKEN, "on", False)
    return transforms.BROKEN


def snapshot(mirror, table: str) -> dict:
    wh = mirror.warehouse
    return {
        "rows": wh.read_frame(f"SELECT * FROM {quote_table(table)} ORDER BY stripe_customer_id").to_dict("records"),
        "rejects": wh.read_frame(f"SELECT * FROM {rejects_table(mirror.schema)}").to_dict("records"),
        "state": wh.read_frame(f"SELECT * FROM {state_table(mirror.schema)}").to_dict("records"),
    }


def failing_run(p, mirror, **kwargs) -> str:
    with pytest.raises(RejectThresholdError) as raised:
        run(p, mirror, **kwargs)
    return str(raised.value)


def test_a_transform_raising_for_90_percent_keeps_every_row_full_rebuild_and_incremental(mirror, table, broken):
    mirror.put([customer(i) for i in range(100)])
    p = pipeline(table, **SCORED)
    assert run(p, mirror).inserted == 100
    before = snapshot(mirror, table)
    broken["on"] = True

    # Full rebuild: 90 of 100 customers rejected.
    message = failing_run(p, mirror, full_rebuild=True)
    assert "import pipeline 'test_pipeline' rejected 90 customers (90.0% of the 100 customers it processed)" in message
    assert "more than max_reject_rate 1.0%: nothing was written, table" in message and "keeps its 100 rows" in message
    assert "cus_00001: python stripe_customer_assets_tests.pipeline.transforms.samples:score_unless_broken: " in message
    assert "RuntimeError: scoring service unavailable for cus_00001" in message
    assert "... and 85 more" in message
    assert snapshot(mirror, table) == before

    # Incremental: 50 customers changed in Stripe, 45 of them rejected (45% of the table).
    mirror.put([customer(i, name=f"Renamed {i}") for i in range(50)])
    message = failing_run(p, mirror)
    assert "rejected 45 customers (45.0% against the 100 rows of the table)" in message
    assert snapshot(mirror, table) == before

    # Once the transform works again, the same changes land.
    broken["on"] = False
    result = run(p, mirror)
    assert (result.mode, result.updated, result.rejected, result.row_count) == ("incremental", 50, 0, 100)


def test_a_schema_type_that_no_longer_matches_keeps_the_table_and_its_columns(mirror, table):
    mirror.put([customer(i) for i in range(20)])
    plan = {"transformation": {"mapping": {"plan": "metadata.plan"}}}
    assert run(pipeline(table, schema={"plan": "string"}, **plan), mirror).inserted == 20
    before = snapshot(mirror, table)
    # "pro" and "starter" are no integers: the new schema would reject every customer.
    message = failing_run(pipeline(table, schema={"plan": "integer"}, **plan), mirror)
    assert "rejected 20 customers (100.0% of the 20 customers it processed)" in message
    assert "cus_00000: property plan: 'pro' is not an integer" in message
    assert snapshot(mirror, table) == before


def test_rejects_within_the_rate_still_commit(mirror, table, broken):
    mirror.put([customer(i) for i in range(100)])
    p = pipeline(table, max_reject_rate=0.95, **SCORED)
    broken["on"] = True
    result = run(p, mirror)
    assert (result.inserted, result.rejected, result.row_count) == (10, 90, 10)

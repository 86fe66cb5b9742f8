"""Rejects: the run goes on, the table of rejects says who and why, and fixes clear them."""

from __future__ import annotations

from stripe_customer_assets.pipeline.rejects import rejects_table
from stripe_customer_assets_tests.pipeline.support import customer, pipeline, run, table_rows

# These tests are about what one reject is; test_reject_threshold.py covers max_reject_rate.
SEATS = {
    "schema": {"seats": "integer"},
    "transformation": {"mapping": {"seats": "metadata.seats"}},
    "max_reject_rate": 1,
}


def rejects(mirror) -> list[dict]:
    frame = mirror.warehouse.read_frame(
        f"SELECT pipeline, stripe_customer_id, reason, run_id, rejected_at, mirror_version "
        f"FROM {rejects_table(mirror.schema)} ORDER BY stripe_customer_id"
    )
    return frame.to_dict("records")


def test_rejects_land_with_pipeline_customer_reason_and_run_while_the_rest_lands(mirror, table):
    version = mirror.put(
        [customer(1, metadata={"seats": "3"}), customer(2, metadata={"seats": "many"})]
    )
    result = run(pipeline(table, **SEATS), mirror)
    assert (result.inserted, result.rejected, result.processed) == (1, 1, 2)
    assert result.reject_rate == 0.5
    [reject] = rejects(mirror)
    assert reject["pipeline"] == "test_pipeline"
    assert reject["stripe_customer_id"] == "cus_00002"
    assert reject["reason"] == "property seats: 'many' is not an integer"
    assert (reject["run_id"], reject["mirror_version"]) == ("test-run", version)
    assert reject["rejected_at"] is not None
    assert table_rows(mirror.warehouse, table) == {"cus_00001": {"seats": 3}}


def test_a_rejected_customer_fixed_in_stripe_lands_and_leaves_the_rejects(mirror, table):
    mirror.put([customer(1, metadata={"seats": "many"})])
    p = pipeline(table, **SEATS)
    run(p, mirror)
    mirror.put([customer(1, metadata={"seats": "4"})])
    result = run(p, mirror)
    assert (result.inserted, result.rejected) == (1, 0)
    assert rejects(mirror) == []


def test_a_landed_customer_that_becomes_invalid_is_removed_and_rejected(mirror, table):
    mirror.put([customer(1, metadata={"seats": "2"}), customer(2, metadata={"seats": "5"})])
    p = pipeline(table, **SEATS)
    run(p, mirror)
    mirror.put([customer(2, metadata={"seats": "lots"})])
    result = run(p, mirror)
    assert (result.removed, result.rejected) == (1, 1)
    assert set(table_rows(mirror.warehouse, table)) == {"cus_00001"}
    assert [r["stripe_customer_id"] for r in rejects(mirror)] == ["cus_00002"]


def test_a_full_rebuild_starts_the_rejects_over(mirror, table):
    mirror.put([customer(1, metadata={"seats": "x"}), customer(2, metadata={"seats": "y"})])
    run(pipeline(table, **SEATS), mirror)
    assert len(rejects(mirror)) == 2
    run(pipeline(table, schema={"seats": "string"}, transformation=SEATS["transformation"]), mirror)
    assert rejects(mirror) == []


def test_rejects_of_one_pipeline_do_not_touch_another_pipelines(mirror, target_schema):
    mirror.put([customer(1, metadata={"seats": "x"})])
    run(pipeline(f"{target_schema}.a", name="first", **SEATS), mirror)
    run(pipeline(f"{target_schema}.b", name="second", **SEATS), mirror)
    run(
        pipeline(
            f"{target_schema}.a",
            name="first",
            schema={"seats": "string"},
            transformation=SEATS["transformation"],
        ),
        mirror,
    )
    assert [r["pipeline"] for r in rejects(mirror)] == ["second"]

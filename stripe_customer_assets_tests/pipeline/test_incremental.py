"""Incremental runs: exactly the customers changed in the mirror are touched; state moves with rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stripe_customer_assets.pipeline import PipelineRunError
from stripe_customer_assets.pipeline import run as run_module
from stripe_customer_assets.pipeline.state import read_state
from stripe_customer_assets.warehouse import quote_table
from stripe_customer_assets_tests.pipeline.support import customer, pipeline, run, table_rows

PRO_ONLY = {"conditions": [{"property": "metadata.plan", "operator": "is", "value": "pro"}]}


def counts(result) -> dict[str, int]:
    return {
        "inserted": result.inserted,
        "updated": result.updated,
        "removed": result.removed,
        "rejected": result.rejected,
        "unchanged": result.unchanged,
        "processed": result.processed,
    }


def synced_versions(wh, table) -> dict[str, int]:
    frame = wh.read_frame(f"SELECT stripe_customer_id, _mirror_version FROM {quote_table(table)}")
    return dict(zip(frame["stripe_customer_id"], frame["_mirror_version"].astype(int)))


def test_an_incremental_run_touches_exactly_the_30_changed_customers(mirror, table):
    customers = [customer(i) for i in range(300)]
    mirror.put(customers)
    p = pipeline(table, schema={"email": "string", "name": "string", "balance": "integer"})
    first = run(p, mirror, page_size=64)
    assert (first.mode, first.inserted, first.row_count) == ("full", 300, 300)

    changed = [customer(i, name=f"Renamed {i}") for i in range(0, 300, 10)]
    version = mirror.put(changed)
    second = run(p, mirror, page_size=64)

    assert second.mode == "incremental"
    assert counts(second) == {
        "inserted": 0,
        "updated": 30,
        "removed": 0,
        "rejected": 0,
        "unchanged": 0,
        "processed": 30,
    }
    assert second.touched == 30
    versions = synced_versions(mirror.warehouse, table)
    assert sorted(k for k, v in versions.items() if v == version) == sorted(
        c["id"] for c in changed
    )
    assert table_rows(mirror.warehouse, table)["cus_00010"]["name"] == "Renamed 10"


def test_incremental_counts_new_changed_deleted_and_departed_customers(mirror, table):
    mirror.put([customer(i, metadata={"plan": "pro"}) for i in range(40)])
    p = pipeline(table, filters=PRO_ONLY)
    run(p, mirror)
    mirror.put([customer(i, metadata={"plan": "pro"}) for i in range(40, 50)])  # 10 new
    mirror.put(
        [customer(i, metadata={"plan": "pro"}, email=f"new{i}@x.io") for i in range(10)]
    )  # 10 changed
    mirror.delete([customer(i) for i in range(10, 15)])  # 5 deleted in Stripe
    mirror.put(
        [customer(i, metadata={"plan": "starter"}) for i in range(15, 20)]
    )  # 5 left the filter
    result = run(p, mirror)
    assert counts(result) == {
        "inserted": 10,
        "updated": 10,
        "removed": 10,
        "rejected": 0,
        "unchanged": 0,
        "processed": 20,
    }
    assert result.row_count == 40
    assert not {f"cus_{i:05d}" for i in range(10, 20)} & set(table_rows(mirror.warehouse, table))


def test_a_change_outside_the_model_is_processed_but_the_row_is_not_rewritten(mirror, table):
    mirror.put([customer(1), customer(2)])
    p = pipeline(table, schema={"email": "string"})
    run(p, mirror)
    before = synced_versions(mirror.warehouse, table)
    mirror.put([customer(1, phone="+33 1 23 45 67 89")])
    result = run(p, mirror)
    assert counts(result) == {
        "inserted": 0,
        "updated": 0,
        "removed": 0,
        "rejected": 0,
        "unchanged": 1,
        "processed": 1,
    }
    assert synced_versions(mirror.warehouse, table) == before


def test_nothing_changed_in_the_mirror_means_nothing_is_read_or_touched(mirror, table):
    mirror.put([customer(i) for i in range(20)])
    p = pipeline(table)
    run(p, mirror)
    result = run(p, mirror)
    assert (result.mode, result.processed, result.touched) == ("incremental", 0, 0)


def test_deleted_customers_leave_the_table_and_never_come_back_on_a_rebuild(mirror, table):
    mirror.put([customer(i) for i in range(5)])
    p = pipeline(table)
    run(p, mirror)
    mirror.delete([customer(2)])
    result = run(p, mirror)
    assert (result.removed, result.row_count) == (1, 4)
    rebuilt = run(p, mirror, full_rebuild=True)
    assert (rebuilt.mode, rebuilt.inserted, rebuilt.unchanged, rebuilt.row_count) == (
        "full",
        0,
        4,
        4,
    )
    assert "cus_00002" not in table_rows(mirror.warehouse, table)


def test_changing_the_filter_rebuilds_the_table(mirror, table):
    mirror.put([customer(i) for i in range(9)])  # pro: 0, 3, 6
    run(pipeline(table), mirror)
    result = run(pipeline(table, filters=PRO_ONLY), mirror)
    assert (result.mode, result.reason) == ("full", "filters, transformation or schema changed")
    assert (result.unchanged, result.removed, result.row_count) == (3, 6, 3)


def test_changing_the_schema_recreates_the_table_with_the_new_columns(mirror, table):
    mirror.put([customer(1)])
    run(pipeline(table, schema={"email": "string"}), mirror)
    result = run(pipeline(table, schema={"email": "string", "balance": "integer"}), mirror)
    assert result.mode == "full" and "recreated" in result.reason
    assert table_rows(mirror.warehouse, table)["cus_00001"] == {
        "email": "User1@Example.com",
        "balance": -400,
    }


def test_incremental_false_rebuilds_every_run_and_still_counts_unchanged_rows(mirror, table):
    mirror.put([customer(i) for i in range(12)])
    p = pipeline(table, incremental=False)
    run(p, mirror)
    result = run(p, mirror)
    assert (result.mode, result.reason) == ("full", "incremental: false (rebuilt every run)")
    assert counts(result)["unchanged"] == 12 and result.touched == 0


def test_the_state_records_the_mirror_version_processed(mirror, table):
    mirror.put([customer(1)])
    version = mirror.put([customer(2)])
    run(pipeline(table), mirror)
    with mirror.warehouse.begin() as conn:
        state = read_state(conn, mirror.schema, "test_pipeline")
    assert (state.table, state.mirror_version, state.run_id, state.mode) == (
        table,
        version,
        "test-run",
        "full",
    )


def test_a_crash_before_commit_leaves_rows_and_state_as_they_were(mirror, table, monkeypatch):
    mirror.put([customer(i) for i in range(10)])
    p = pipeline(table)
    run(p, mirror)
    mirror.put([customer(i, name="Changed") for i in range(5)])

    def crash(*args, **kwargs):
        raise RuntimeError("the process died")

    monkeypatch.setattr(run_module, "write_state", crash)
    with pytest.raises(RuntimeError):
        run(p, mirror)
    assert all(row["name"] != "Changed" for row in table_rows(mirror.warehouse, table).values())
    monkeypatch.undo()
    result = run(p, mirror)
    assert (result.mode, result.updated) == ("incremental", 5)


def test_a_table_the_pipeline_did_not_create_is_not_overwritten(mirror, table):
    mirror.put([customer(1)])
    with mirror.warehouse.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{table.split(".")[0]}"')
        conn.exec_driver_sql(f"CREATE TABLE {quote_table(table)} (id VARCHAR, precious VARCHAR)")
        conn.execute(sa.text(f"INSERT INTO {quote_table(table)} VALUES ('x', 'keep me')"))
    with pytest.raises(
        PipelineRunError, match=r"already exists with other columns \(id, precious\)"
    ):
        run(pipeline(table), mirror)
    assert mirror.warehouse.read_frame(f"SELECT precious FROM {quote_table(table)}")[
        "precious"
    ].tolist() == ["keep me"]


def test_a_missing_mirror_asks_for_the_mirror_to_be_materialized_first(mirror, table):
    with pytest.raises(PipelineRunError, match="materialize stripe/customers first"):
        run(pipeline(table), mirror)

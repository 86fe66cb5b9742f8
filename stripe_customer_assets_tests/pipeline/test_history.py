"""``history: true``: the pipeline's table keeps the typed versions of the mirror's history."""

from __future__ import annotations

import datetime as dt

import pytest

from stripe_customer_assets.mirror.history import ensure_history_table, record_versions
from stripe_customer_assets.mirror.table import ensure_tables
from stripe_customer_assets.pipeline import PipelineRunError
from stripe_customer_assets.warehouse import Warehouse, quote_table
from stripe_customer_assets_tests.mirror.test_history import scenario, versions
from stripe_customer_assets_tests.pipeline.support import Mirror, _plain, customer, pipeline, run

SCHEMA = {"email": "string", "name": "string", "plan": {"type": "string"}, "description": "string"}
MAPPING = {"plan": "metadata.plan"}


def typed_versions(wh: Warehouse, table: str, cid: str) -> list[dict]:
    frame = wh.read_frame(
        f"SELECT * FROM {quote_table(table)} WHERE stripe_customer_id = '{cid}' ORDER BY valid_from, _mirror_version"
    )
    return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]


def test_a_history_pipeline_shows_the_mirror_versions_typed(standin, api, warehouse_url, mirror_schema, unique_schema):
    wh = Warehouse(warehouse_url)
    table = f"{unique_schema('analytics')}.customer_versions"
    p = pipeline(table, schema=SCHEMA, transformation={"mapping": MAPPING}, history=True)
    cid = scenario(standin, api, wh, mirror_schema, after_refresh=lambda: run(p, Mirror(wh, mirror_schema)))
    mirrored = versions(wh, mirror_schema, cid)
    rows = typed_versions(wh, table, cid)
    assert len(mirrored) == len(rows) == 4
    assert [(r["email"], r["name"], r["plan"], r["description"]) for r in rows] == [
        ("ada@example.com", "Ada", "free", None),
        ("ada@example.com", "Ada", "pro", None),
        ("ada@lovelace.example", "Ada L.", "pro", None),
        ("ada@lovelace.example", "Ada L.", "enterprise", "VIP"),
    ]
    assert [r["valid_from"] for r in rows] == [m["valid_from"] for m in mirrored]
    assert [r["valid_to"] for r in rows] == [m["valid_to"] for m in mirrored]
    assert [bool(r["is_current"]) for r in rows] == [False, False, False, True]
    # A full rebuild replays the history into the same versions.
    rebuilt = run(p, Mirror(wh, mirror_schema), full_rebuild=True)
    assert rebuilt.mode == "full"
    assert [_content(r) for r in typed_versions(wh, table, cid)] == [_content(r) for r in rows]
    # Every other customer: one current version each.
    frame = wh.read_frame(f"SELECT COUNT(*) AS n, SUM(CASE WHEN is_current THEN 1 ELSE 0 END) AS c FROM {quote_table(table)}")
    assert (int(frame["n"][0]), int(frame["c"][0])) == (5 + 4, 5 + 1)


def test_a_version_that_leaves_the_typed_row_alone_adds_none_and_a_filtered_out_one_closes_it(mirror, table):
    with mirror.warehouse.begin() as conn:  # as a mirror refresh does before its commit
        ensure_tables(conn, mirror.schema)
        ensure_history_table(conn, mirror.schema)

    def put(*customers):
        version = mirror.put(list(customers))
        with mirror.warehouse.begin() as conn:
            record_versions(conn, mirror.schema, version, dt.datetime.now(dt.UTC), None, "full_scan")
        return run(p, mirror)

    p = pipeline(table, history=True, filters={"conditions": [{"property": "currency", "operator": "is", "value": "usd"}]})
    first = put(customer(1), customer(2))  # cus_00001 is usd, cus_00002 eur
    assert (first.mode, first.inserted) == ("full", 1)
    assert put(customer(1, phone="+33 1")).unchanged == 1  # not a column of the table
    assert put(customer(1, currency="eur")).removed == 1  # no longer matches: closed
    assert put(customer(2, currency="usd")).inserted == 1
    frame = mirror.warehouse.read_frame(
        f"SELECT stripe_customer_id AS id, is_current, valid_to IS NULL AS open FROM {quote_table(table)} ORDER BY id, valid_from"
    )
    assert [tuple(r) for r in frame.itertuples(index=False)] == [("cus_00001", False, False), ("cus_00002", True, True)]


def test_history_without_the_mirror_history_is_a_clear_error(mirror, table):
    mirror.put([customer(1)])
    with pytest.raises(PipelineRunError, match="history: true .* materialize stripe/customers"):
        run(pipeline(table, history=True), mirror)


def _content(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "_synced_at"}

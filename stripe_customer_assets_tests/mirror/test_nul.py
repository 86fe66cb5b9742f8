"""A NUL character (U+0000) in one customer never stops the mirror or the pipelines.

Stripe takes it in names and metadata values (the stand-in accepts it, as
``standin/test_customers.py`` pins). PostgreSQL's text and jsonb cannot hold it: there it is
kept as the six characters ``\\u0000``; DuckDB keeps the character itself.
"""

from __future__ import annotations

import json

from stripe_customer_assets.mirror.cursor import read_cursor
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.table import customers_table
from stripe_customer_assets.pipeline import PipelineConfig, compile_pipeline, run_pipeline
from stripe_customer_assets.warehouse import Warehouse, quote_table


def stored(wh: Warehouse, value: str) -> str:
    """How ``value`` reads back from the warehouse."""
    return value.replace("\x00", "\\u0000") if wh.is_postgres else value


def row(wh: Warehouse, schema: str, customer_id: str) -> dict:
    frame = wh.read_frame(
        f"SELECT name, metadata, raw FROM {customers_table(schema)} WHERE id = :id", {"id": customer_id}
    )
    [record] = frame.to_dict("records")
    return {k: json.loads(v) if isinstance(v, str) and k != "name" else v for k, v in record.items()}


def test_a_nul_in_one_customer_never_stops_the_mirror_full_scan_or_events(
    standin, api, warehouse_url, mirror_schema, unique_schema
):
    wh = Warehouse(warehouse_url)
    standin.seed_customers(20, seed=3)
    first = standin.create_customer(name="Ada\x00Lovelace", metadata={"note": "x\x00y", "plain": "\\u0000"})

    result = refresh_mirror(api, wh, mirror_schema)  # the full scan path
    assert (result.mode, result.row_count) == ("full", 21)
    got = row(wh, mirror_schema, first["id"])
    assert got["name"] == stored(wh, "Ada\x00Lovelace")
    assert got["metadata"] == {"note": stored(wh, "x\x00y"), "plain": "\\u0000"}
    assert got["raw"]["metadata"] == got["metadata"]

    # The events path: a new customer with a NUL, an update adding one, later customers.
    second = standin.create_customer(name="\x00", metadata={"k": "\x00\x00"})
    standin.update_customer(first["id"], description="line\x00two")
    later = [standin.create_customer(name=f"Later {i}") for i in range(3)]
    result = refresh_mirror(api, wh, mirror_schema)
    assert (result.mode, result.inserted, result.updated) == ("incremental", 4, 1)
    with wh.begin() as conn:
        cursor = read_cursor(conn, mirror_schema)
    assert cursor.event_id == standin.events()[0]["id"]  # the cursor moved past them all
    assert row(wh, mirror_schema, second["id"])["metadata"] == {"k": stored(wh, "\x00\x00")}
    assert row(wh, mirror_schema, first["id"])["raw"]["description"] == stored(wh, "line\x00two")
    assert all(row(wh, mirror_schema, c["id"])["name"] == c["name"] for c in later)

    # A full scan stores exactly what the events stored: nothing to change.
    result = refresh_mirror(api, wh, mirror_schema, full_refresh=True)
    assert (result.mode, result.inserted, result.updated, result.deleted) == ("full", 0, 0, 0)

    # The pipelines read the mirror and run: the value is kept (DuckDB) or escaped (PostgreSQL).
    table = f"{unique_schema('analytics')}.customers"
    pipeline = compile_pipeline(
        PipelineConfig.model_validate(
            {
                "name": "nul_names",
                "table": table,
                "schema": {"name": "string", "note": "string", "metadata": "json"},
                "transformation": {"mapping": {"note": "metadata.note", "metadata": "metadata"}},
            }
        )
    )
    outcome = run_pipeline(pipeline, wh, mirror_schema)
    assert (outcome.inserted, outcome.rejected) == (25, 0)
    frame = wh.read_frame(
        f"SELECT stripe_customer_id, name, note, metadata FROM {quote_table(table)} WHERE stripe_customer_id = :id",
        {"id": first["id"]},
    )
    [landed] = frame.to_dict("records")
    assert landed["name"] == stored(wh, "Ada\x00Lovelace")
    assert landed["note"] == stored(wh, "x\x00y")
    metadata = landed["metadata"] if isinstance(landed["metadata"], dict) else json.loads(landed["metadata"])
    assert metadata["note"] == stored(wh, "x\x00y")
    wh.dispose()


def test_a_nul_arriving_through_events_never_stops_later_customers(standin, api, warehouse_url, mirror_schema):
    wh = Warehouse(warehouse_url)
    standin.seed_customers(5, seed=4)
    assert refresh_mirror(api, wh, mirror_schema).mode == "full"
    bad = standin.create_customer(email="nul@example.com", metadata={"crm": "7\x00"})
    refresh_mirror(api, wh, mirror_schema)
    for round_ in range(2):  # every later run keeps going, and the cursor keeps moving
        fresh = standin.create_customer(name=f"After {round_}")
        result = refresh_mirror(api, wh, mirror_schema)
        assert (result.mode, result.inserted) == ("incremental", 1)
        assert row(wh, mirror_schema, fresh["id"])["name"] == f"After {round_}"
    assert row(wh, mirror_schema, bad["id"])["metadata"] == {"crm": stored(wh, "7\x00")}
    wh.dispose()

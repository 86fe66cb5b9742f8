"""Scenario 4: the warehouse's bulk upsert (``upsert_frame``) of N mirror rows.

The rows are real mirror rows: generated customers (the stand-in's generator) mapped to the
mirror's columns by the mirror's own SQL. Two passes into the mirror table: into an empty
table (every row new), then the same keys again with a tenth of them changed (the upsert
path: unchanged rows are left alone, changed ones updated).

The baseline is the engine's own floor for the same rows: its plainest bulk load (DuckDB:
``INSERT .. SELECT`` from the Arrow table; PostgreSQL: one ``COPY`` of Arrow's CSV) into a
table of text columns with no key, no index and no JSON parsing. A mirror row carries its
customer's JSON (about 1.2 KB), so bytes, not rows, bound both.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa

from bench.report import Row
from stripe_customer_assets.mirror.store import SOURCE_COLUMNS
from stripe_customer_assets.mirror.table import (
    CONTENT_COLUMNS,
    DEFAULT_ACCOUNT,
    customer_columns_sql,
    customers_table,
    ensure_tables,
    json_items_sql,
)
from stripe_customer_assets.warehouse import Warehouse, upsert_frame
from stripe_customer_assets.warehouse.bulk import copy_arrow
from stripe_standin.seed import generate_customers

TARGETS = {"duckdb": 300_000, "postgresql": 100_000}
CHANGED_SHARE = 0.1


@dataclass
class UpsertRun:
    rows: int
    insert_s: float
    update_s: float
    changed: int
    bare_s: float  # the engine's plainest bulk load of the same rows (see the module docstring)


def mirror_frame(n: int, *, seed: int = 7, changed_every: int = 0) -> pd.DataFrame:
    """``n`` mirror rows (content columns plus bookkeeping); with ``changed_every``, every
    that-many-th customer has a different name (and so a different ``raw``)."""
    texts = []
    for i, (_, _, _, raw) in enumerate(generate_customers(n, seed, now=1_800_000_000)):
        text = raw.decode()
        if changed_every and i % changed_every == 0:
            text = text.replace('"object":"customer"', '"object":"customer","name_changed":true', 1)
        texts.append(text)
    con = duckdb.connect()
    try:
        con.register("texts", pa.table({"c": pa.array(texts, pa.string())}))
        del texts
        table = con.sql(customer_columns_sql("duckdb", json_items_sql("duckdb", "texts"))).to_arrow_table()
    finally:
        con.close()
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    frame["deleted"] = pd.array([False] * len(frame), dtype="boolean")
    frame["deleted_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    frame["synced_at"] = pd.Timestamp(dt.datetime.now(dt.UTC))
    frame["mirror_version"] = 1
    frame["account"] = DEFAULT_ACCOUNT  # the mirror's key is (account, id)
    return frame[["account", *SOURCE_COLUMNS, "synced_at", "mirror_version"]]


def upsert_once(warehouse: Warehouse, schema: str, first: pd.DataFrame, second: pd.DataFrame) -> UpsertRun:
    with warehouse.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        ensure_tables(conn, schema)
    target = customers_table(schema)
    started = time.perf_counter()
    with warehouse.begin() as conn:
        upsert_frame(conn, target, first, ["account", "id"], only_if_changed=CONTENT_COLUMNS)
    inserted = time.perf_counter()
    with warehouse.begin() as conn:
        upsert_frame(conn, target, second, ["account", "id"], only_if_changed=CONTENT_COLUMNS)
    updated = time.perf_counter()
    with warehouse.begin() as conn:
        count = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {target}").scalar() or 0)
    if count != len(first):
        raise AssertionError(f"upsert left {count} rows, expected {len(first)}")
    changed = int((first["raw"] != second["raw"]).sum())
    return UpsertRun(len(first), inserted - started, updated - inserted, changed, bare_load_s(warehouse, schema, first))


def bare_load_s(warehouse: Warehouse, schema: str, frame: pd.DataFrame) -> float:
    """Seconds the engine takes to bulk-load ``frame`` into an unindexed table of text."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    target = f'"{schema}"."bare_load"'
    with warehouse.begin() as conn:
        columns = ", ".join(f'"{c}" {"BIGINT" if c == "mirror_version" else "TEXT"}' for c in frame.columns)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {target}")
        conn.exec_driver_sql(f"CREATE TABLE {target} ({columns})")
    started = time.perf_counter()
    with warehouse.begin() as conn:
        if warehouse.is_duckdb:
            conn.exec_driver_sql("SELECT 1").fetchall()
            driver = conn.connection.driver_connection
            driver.register("bare_frame", table)
            try:
                conn.exec_driver_sql(f"INSERT INTO {target} SELECT * FROM bare_frame")
            finally:
                driver.unregister("bare_frame")
        else:
            copy_arrow(conn, target, table)
    seconds = time.perf_counter() - started
    with warehouse.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {target}")
    return seconds


def upsert_rows(dialect: str, runs: list[UpsertRun]) -> list[Row]:
    target = TARGETS[dialect]
    best_insert = sorted(runs, key=lambda r: r.insert_s)[len(runs) // 2]
    best_update = sorted(runs, key=lambda r: r.update_s)[len(runs) // 2]
    name = "DuckDB" if dialect == "duckdb" else "PostgreSQL"
    n = best_insert.rows
    bare = sorted(r.bare_s for r in runs)[len(runs) // 2]
    floor = {
        "baseline": n / bare,
        "baseline_note": "the engine's bare bulk load of the same rows: text, no key, no index",
    }
    passes = [
        (f"{name}, {n:,} new rows", best_insert.insert_s, [r.rows / r.insert_s for r in runs]),
        (
            f"{name}, {n:,} rows again, {best_update.changed:,} changed",
            best_update.update_s,
            [r.rows / r.update_s for r in runs],
        ),
    ]
    return [
        Row(
            "warehouse upsert",
            label,
            "rows/s",
            n / seconds,
            ideal=float(target),
            target=f">= {target:,} rows/s",
            met=n / seconds >= target,
            higher_is_better=True,
            runs=rates,
            details={"seconds": seconds, "bare_load_s": bare},
            **floor,
        )
        for label, seconds, rates in passes
    ]

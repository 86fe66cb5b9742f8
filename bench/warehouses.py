"""Warehouses for the benchmark: a fresh DuckDB file, or a fresh schema on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.engine import reachable

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
)


def postgres_reachable(url: str = POSTGRES_URL) -> bool:
    return reachable(url)


@contextlib.contextmanager
def duckdb_warehouse(directory: str | None = None) -> Iterator[Warehouse]:
    """A Warehouse on a new DuckDB file, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-", dir=directory) as tmp:
        warehouse = Warehouse(f"duckdb:///{Path(tmp) / 'warehouse.duckdb'}")
        try:
            yield warehouse
        finally:
            warehouse.dispose()


@contextlib.contextmanager
def postgres_schema(url: str = POSTGRES_URL) -> Iterator[tuple[Warehouse, str]]:
    """A Warehouse on PostgreSQL and a schema name of its own, dropped afterwards."""
    warehouse = Warehouse(url)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        yield warehouse, schema
    finally:
        with warehouse.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        warehouse.dispose()

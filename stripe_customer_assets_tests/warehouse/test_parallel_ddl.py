"""Parallel runs on a fresh PostgreSQL warehouse never fail creating their shared tables.

``CREATE SCHEMA/TABLE IF NOT EXISTS`` is not safe against a concurrent creator on
PostgreSQL (both pass the check, one fails on the catalog's unique index): seen as a
UniqueViolation on ``stripe.import_state`` when pipelines ran in parallel. Real threads,
each with its own connection, start together on fresh schemas.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from stripe_customer_assets.mirror.table import ensure_tables
from stripe_customer_assets.pipeline import PipelineConfig, compile_pipeline, run_pipeline
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.conftest import drop_schemas
from stripe_customer_assets_tests.pipeline.support import Mirror, customer

THREADS = 8


def together(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` on ``count`` threads released at the same moment; re-raise failures."""
    barrier = threading.Barrier(count)

    def start(i: int) -> object:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


@pytest.fixture
def fresh(postgres_url):
    names: list[str] = []

    def make(prefix: str) -> str:
        names.append(f"{prefix}_{uuid.uuid4().hex[:10]}")
        return names[-1]

    yield make
    drop_schemas(postgres_url, names)


@pytest.mark.parametrize("attempt", range(3))
def test_parallel_pipelines_on_a_fresh_warehouse_create_their_shared_tables_once(postgres_url, fresh, attempt):
    mirror_schema, target = fresh("stripe"), fresh("analytics")
    seeding = Warehouse(postgres_url)
    Mirror(seeding, mirror_schema).put([customer(i) for i in range(30)])  # no import tables yet
    seeding.dispose()

    def one(i: int):
        wh = Warehouse(postgres_url)  # its own engine and connection, like a separate process
        try:
            config = {"name": f"p{i}", "table": f"{target}.t{i}", "schema": {"email": "string"}}
            return run_pipeline(compile_pipeline(PipelineConfig.model_validate(config)), wh, mirror_schema)
        finally:
            wh.dispose()

    results = together(THREADS, one)
    assert [r.inserted for r in results] == [30] * THREADS


@pytest.mark.parametrize("attempt", range(3))
def test_parallel_mirror_table_creation_on_a_fresh_schema(postgres_url, fresh, attempt):
    schema = fresh("stripe")

    def one(_: int) -> None:
        wh = Warehouse(postgres_url)
        try:
            with wh.begin() as conn:
                ensure_tables(conn, schema)
        finally:
            wh.dispose()

    together(THREADS, one)


def test_a_mirror_whose_index_is_missing_gets_it_back(postgres_url, fresh):
    schema = fresh("stripe")
    wh = Warehouse(postgres_url)
    with wh.begin() as conn:
        ensure_tables(conn, schema)
        conn.exec_driver_sql(f'DROP INDEX "{schema}"."customers_mirror_version"')
    with wh.begin() as conn:
        ensure_tables(conn, schema)
        found = conn.exec_driver_sql(
            "SELECT to_regclass(%(name)s) IS NOT NULL", {"name": f'"{schema}"."customers_mirror_version"'}
        ).scalar()
    wh.dispose()
    assert found

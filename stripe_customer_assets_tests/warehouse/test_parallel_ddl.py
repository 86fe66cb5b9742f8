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


def test_the_mirror_identity_record_waits_for_a_concurrent_schema_creator(postgres_url, fresh):
    """A pipeline creating the mirror's schema (uncommitted) while the mirror records its
    identity on a fresh warehouse: the identity write waits and finds the schema, as every
    other creator does, instead of failing on ``pg_namespace_nspname_index``."""
    import datetime as dt
    import time

    from stripe_customer_assets.mirror.identity import Identity, read_identity, write_identity
    from stripe_customer_assets.warehouse.ddl import ensure_schema

    schema = fresh("stripe")
    first, second = Warehouse(postgres_url), Warehouse(postgres_url)
    errors: list[BaseException] = []

    def record() -> None:
        try:
            with second.begin() as conn:
                write_identity(conn, schema, Identity("acct_1", "test"), dt.datetime.now(dt.UTC))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    try:
        with first.begin() as conn:
            ensure_schema(conn, schema)  # created, not committed yet
            thread = threading.Thread(target=record)
            thread.start()
            time.sleep(0.5)  # the identity write is now waiting on the schema
        thread.join(timeout=30)
        assert not errors, errors
        with first.begin() as conn:
            assert read_identity(conn, schema).account_id == "acct_1"
    finally:
        first.dispose()
        second.dispose()

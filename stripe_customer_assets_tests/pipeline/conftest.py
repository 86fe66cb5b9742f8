"""Fixtures for pipeline tests: a warehouse per dialect, a mirror and a target schema per test."""

from __future__ import annotations

import uuid

import pytest

from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.conftest import require_postgres
from stripe_customer_assets_tests.pipeline.support import Mirror


@pytest.fixture
def target_schema(unique_schema) -> str:
    """A schema for the pipeline tables, unique to the test."""
    return unique_schema("analytics")


@pytest.fixture
def mirror(wh, mirror_schema) -> Mirror:
    return Mirror(wh, mirror_schema)


@pytest.fixture
def table(target_schema) -> str:
    return f"{target_schema}.customers"


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def module_mirror(request, tmp_path_factory) -> Mirror:
    """An empty mirror per dialect shared by a module's tests (seed it once, then read).
    ``module_mirror.target_schema`` is a schema for tables; both are dropped afterwards."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('module') / 'warehouse.duckdb'}"
    else:
        url = require_postgres()
    warehouse = Warehouse(url)
    suffix = uuid.uuid4().hex[:10]
    mirror = Mirror(warehouse, f"stripe_{suffix}")
    mirror.target_schema = f"analytics_{suffix}"
    yield mirror
    if warehouse.is_postgres:
        with warehouse.begin() as conn:
            for schema in (mirror.schema, mirror.target_schema):
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    warehouse.dispose()


@pytest.fixture
def duck_mirror(tmp_path) -> Mirror:
    """A mirror in a DuckDB file, for tests of the Dagster layer (dialect-independent)."""
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield Mirror(warehouse, "stripe", target_schema="analytics")
    warehouse.dispose()

"""Shared fixtures: warehouses (DuckDB file and the real PostgreSQL), the Stripe stand-in."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import stripe
from sqlalchemy.pool import NullPool

from stripe_customer_assets.warehouse.engine import reachable

stripe.enable_telemetry = False

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def require_postgres() -> str:
    """The PostgreSQL URL; in CI an unreachable server fails the test instead of skipping it."""
    if not reachable(PG_URL):
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    return PG_URL


@pytest.fixture
def postgres_url() -> str:
    return require_postgres()


@contextlib.contextmanager
def duckdb_kept_open(url: str) -> Iterator[None]:
    """Hold one idle connection to the DuckDB file of ``url`` while the block runs.

    The project opens the file for each transaction and closes it after (another process may
    be waiting for its turn as the writer), so each transaction pays for opening the database
    and checkpointing it on close. With one connection held here, DuckDB keeps the database
    open in this process and the project's connections share it: the same SQL and the same
    transactions, several times faster. Only for tests whose warehouse no other process opens.

    A shared database also shares its global settings (``SET memory_limit``, ``threads``, ...)
    from one connection to the next, where the project's reopened file starts from the
    defaults each time: so every DuckDB connection opened meanwhile gets the settings a freshly
    opened database has.
    """
    engine = sa.create_engine(url, poolclass=NullPool)  # the project's connection settings
    held = engine.connect()
    fresh = dict(held.exec_driver_sql("SELECT name, value FROM duckdb_settings()").all())
    held.commit()

    def as_freshly_opened(dbapi_connection, _record) -> None:
        if type(dbapi_connection).__module__.split(".")[0] not in ("duckdb", "duckdb_engine"):
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT name, value FROM duckdb_settings()")
        for name, value in cursor.fetchall():
            if fresh.get(name, value) != value:
                cursor.execute(f"RESET {name}")
        cursor.close()

    sa.event.listen(sa.engine.Engine, "connect", as_freshly_opened)
    try:
        yield
    finally:
        sa.event.remove(sa.engine.Engine, "connect", as_freshly_opened)
        held.close()
        engine.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path) -> Iterator[str]:
    """A warehouse URL on each dialect; mirror schemas are unique per test on PostgreSQL.

    The DuckDB file stays open in the test process (``duckdb_kept_open``) except for tests
    whose child processes open it themselves (the ``ctx`` fork server of the reliability
    suite: children killed mid-run, two writers taking turns)."""
    if request.param != "duckdb":
        yield require_postgres()
        return
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    if "ctx" in request.fixturenames:
        yield url
        return
    with duckdb_kept_open(url):
        yield url


def drop_schemas(url: str, names) -> None:
    """Drop test schemas (with everything in them) on PostgreSQL; DuckDB files go with tmp_path."""
    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    engine.dispose()


@pytest.fixture
def unique_schema(warehouse_url):
    """Make schema names unique to the test: ``unique_schema("crm")``; dropped afterwards."""
    made: list[str] = []

    def make(prefix: str) -> str:
        made.append(f"{prefix}_{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    drop_schemas(warehouse_url, made)


@pytest.fixture
def mirror_schema(unique_schema) -> str:
    """A mirror schema name unique to the test."""
    return unique_schema("stripe")


@pytest.fixture
def wh(warehouse_url):
    """A Warehouse on the test's dialect."""
    from stripe_customer_assets.warehouse import Warehouse

    warehouse = Warehouse(warehouse_url)
    yield warehouse
    warehouse.dispose()


@pytest.fixture
def standin():
    """A fresh Stripe stand-in on an ephemeral port (no latency, no faults)."""
    from stripe_standin import StripeStandin

    server = StripeStandin(seed=11)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(standin):
    """The project's Stripe client against the stand-in, counting its calls."""
    from stripe_customer_assets.stripe_api import StripeApi
    from stripe_standin import STANDIN_API_KEY

    return StripeApi(STANDIN_API_KEY, api_base=standin.base_url, rate_limit=10_000, endpoint_rate_limit=10_000, backoff_base_s=0.01)

"""A fresh PostgreSQL database for Dagster's own storage, dropped after the test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from stripe_customer_assets_tests.conftest import require_postgres


@dataclass(frozen=True)
class DagsterDatabase:
    host: str
    port: int
    user: str
    password: str
    name: str

    def env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables the project's dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.name,
        }

    def url(self) -> str:
        return str(
            sa.URL.create(
                "postgresql+psycopg2",
                self.user,
                self.password or None,
                self.host,
                self.port,
                self.name,
            )
        )


@pytest.fixture
def dagster_database() -> Iterator[DagsterDatabase]:
    server = sa.make_url(require_postgres())
    db = DagsterDatabase(
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        user=server.username or "postgres",
        password=server.password or "",
        name=f"dagster_test_{uuid.uuid4().hex[:10]}",
    )
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{db.name}"')
    try:
        yield db
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        admin.dispose()

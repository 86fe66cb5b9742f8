"""Dagster's own storage, chosen by the environment.

The top-level dagster.yaml is read by every ``dg``/``dagster`` command started in the
project root when DAGSTER_HOME is unset. A plain ``postgres:`` block there would make
every command fail on a fresh clone where the PostgreSQL variables are not set. This
storage is dagster-postgres's ``DagsterPostgresStorage`` when ``DAGSTER_PG_HOST`` (or
``DAGSTER_PG_URL``) is set, and Dagster's SQLite storage under DAGSTER_HOME (or
``.dagster_home/`` in the current directory) otherwise. It only chooses; all work is done
by Dagster's own storage classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData


def postgres_config_from_env() -> dict[str, Any] | None:
    """dagster-postgres config from DAGSTER_PG_* variables, or None when they are unset."""
    url = os.environ.get("DAGSTER_PG_URL")
    if url:
        return {"postgres_url": url}
    host = os.environ.get("DAGSTER_PG_HOST")
    if not host:
        return None
    return {
        "postgres_db": {
            "hostname": host,
            "port": int(os.environ.get("DAGSTER_PG_PORT", "5432")),
            "username": os.environ.get("DAGSTER_PG_USER", "postgres"),
            "password": os.environ.get("DAGSTER_PG_PASSWORD", ""),
            "db_name": os.environ.get("DAGSTER_PG_DB", "dagster"),
            "scheme": "postgresql+psycopg2",
        }
    }


def local_storage_dir() -> str:
    home = os.environ.get("DAGSTER_HOME") or str(Path.cwd() / ".dagster_home")
    return str(Path(home) / "storage")


class EnvironmentStorage(DagsterStorage, ConfigurableClass):
    """PostgreSQL (dagster-postgres) when DAGSTER_PG_HOST/DAGSTER_PG_URL is set, else SQLite."""

    def __init__(self, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        pg = postgres_config_from_env()
        if pg is not None:
            from dagster_postgres import DagsterPostgresStorage

            data = ConfigurableClassData("dagster_postgres", "DagsterPostgresStorage", yaml.safe_dump(pg))
            self._storage: DagsterStorage = DagsterPostgresStorage.from_config_value(data, pg)
            self.backend = "postgres"
        else:
            config = {"base_dir": local_storage_dir()}
            data = ConfigurableClassData(
                "dagster._core.storage.sqlite_storage", "DagsterSqliteStorage", yaml.safe_dump(config)
            )
            self._storage = DagsterSqliteStorage.from_config_value(data, config)
            self.backend = "sqlite"
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> EnvironmentStorage:
        return cls(inst_data=inst_data)

    def register_instance(self, instance) -> None:
        super().register_instance(instance)
        self._storage.register_instance(instance)

    @property
    def event_log_storage(self):
        return self._storage.event_log_storage

    @property
    def run_storage(self):
        return self._storage.run_storage

    @property
    def schedule_storage(self):
        return self._storage.schedule_storage

    @property
    def event_storage_data(self):
        return self._storage.event_storage_data

    @property
    def run_storage_data(self):
        return self._storage.run_storage_data

    @property
    def schedule_storage_data(self):
        return self._storage.schedule_storage_data

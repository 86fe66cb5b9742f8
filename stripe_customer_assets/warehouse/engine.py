"""A warehouse reached through a SQLAlchemy URL: DuckDB (embedded default) or PostgreSQL.

DuckDB allows one writer process per database file. Every transaction against a DuckDB
file therefore takes an exclusive lock on ``<file>.lock`` first (``fcntl.flock``), so two
Dagster steps in different processes wait for each other instead of failing. Within one
process a re-entrant lock makes nested use safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from stripe_customer_assets.warehouse.errors import WarehouseError, bad_url, explain, masked
from stripe_customer_assets.warehouse.names import InvalidNameError, Table, parse_table

if TYPE_CHECKING:
    import pandas as pd


def quote_table(name: str) -> Table:
    """The table a user named, ``a.b`` -> ``"a"."b"`` (``names.Table``); each part is checked
    (``names.py``), so a bad name is refused (``WarehouseError``), never interpolated."""
    try:
        return parse_table(name)
    except InvalidNameError as err:
        raise WarehouseError(str(err)) from None


def split_table(name: str, default_schema: str = "main") -> tuple[str, str]:
    """(schema, table) of a table a user named, ``default_schema`` when it names none."""
    table = quote_table(name)
    return (table.schema if table.schema is not None else default_schema), table.name


class _FileLock:
    """A re-entrant, cross-process exclusive lock on a file (one per DuckDB database)."""

    _registry: ClassVar[dict[str, _FileLock]] = {}
    _registry_guard = threading.Lock()

    def __init__(self, path: str):
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @classmethod
    def for_path(cls, path: str) -> _FileLock:
        with cls._registry_guard:
            lock = cls._registry.get(path)
            if lock is None:
                lock = cls._registry[path] = cls(path)
            return lock

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            raise WarehouseError(f"timed out after {timeout:.0f}s waiting for the warehouse lock {self.path}")
        try:
            if self._depth == 0:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            os.close(fd)
                            raise WarehouseError(
                                f"timed out after {timeout:.0f}s waiting for another process "
                                f"holding the DuckDB file lock {self.path}"
                            ) from None
                        time.sleep(0.05)
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._thread_lock.release()


class Warehouse:
    """A SQL warehouse. ``url`` is any SQLAlchemy URL; DuckDB and PostgreSQL have bulk paths."""

    def __init__(self, url: str, *, lock_timeout: float = 900.0):
        self.url = url
        try:
            parsed = make_url(url)
            self.dialect = parsed.get_backend_name()
        except sa.exc.ArgumentError as err:
            raise bad_url(err, url) from None
        self.lock_timeout = lock_timeout
        self._lock: _FileLock | None = None
        self._database: str | None = None
        try:
            if self.dialect == "duckdb":
                database = parsed.database or ":memory:"
                if database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                    self._database = str(Path(database).resolve())
                    self._lock = _FileLock.for_path(self._database + ".lock")
                # Short-lived connections: a DuckDB file must not stay open between
                # transactions, or another process could never take its turn as the writer.
                self.engine = sa.create_engine(url, poolclass=NullPool)
            else:
                self.engine = sa.create_engine(url, pool_pre_ping=True)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as err:
            raise bad_url(err, url) from None
        except OSError as err:  # the DuckDB file's directory cannot be made
            raise explain(err, url, self.dialect) from None

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def is_duckdb(self) -> bool:
        return self.dialect == "duckdb"

    def display_url(self) -> str:
        """The URL with any password hidden, for logs and metadata."""
        return masked(self.url)

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction; commits on success, rolls back on any exception."""
        with self.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """One connection for several transactions (``with conn.begin():`` each).

        It holds the DuckDB file lock while open, so keep it for seconds, not minutes: bulk
        writers use it to skip reopening the database file (and checkpointing it) per batch.
        A failure to open it (server unreachable, file locked or read-only) names
        WAREHOUSE_URL and the fix (``errors.py``); errors of the work inside are left as they are.
        """
        with contextlib.ExitStack() as opened:
            try:
                if self._lock:
                    opened.enter_context(self._lock.hold(self.lock_timeout))
                conn = opened.enter_context(self.engine.connect())
            except (sa.exc.DBAPIError, OSError, WarehouseError) as err:
                raise explain(err, self.url, self.dialect) from None
            yield conn

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Let one job at a time run under ``name``, across threads and processes.

        For work longer than one transaction that must not interleave with itself (two full
        scans of one mirror share its scan table). A process that dies lets go at once: the
        lock is a file lock (DuckDB) or a session-level advisory lock (PostgreSQL).
        """
        if self.is_postgres:
            with self.connect() as conn:
                deadline = time.monotonic() + self.lock_timeout
                key = sa.text("SELECT hashtextextended(:name, 0)")
                lock_id = conn.execute(key, {"name": name}).scalar()
                while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id}).scalar():
                    conn.commit()
                    if time.monotonic() > deadline:
                        raise WarehouseError(f"timed out after {self.lock_timeout:.0f}s waiting for {name!r}")
                    time.sleep(0.1)
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                    conn.commit()
            return
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        path = (self._database or f"memory-{id(self)}") + f".{safe}.lock"
        if self._database is None:
            path = str(Path(tempfile.gettempdir()) / Path(path).name)
        with _FileLock.for_path(path).hold(self.lock_timeout):
            yield

    def read_frame(self, sql: str | sa.sql.ClauseElement, params: dict[str, Any] | None = None) -> pd.DataFrame:
        with self.begin() as conn:
            return frame_from(conn, sql, params)

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        with self.begin() as conn:
            return conn.execute(sa.text(sql), params or {}).scalar()

    def dispose(self) -> None:
        self.engine.dispose()


def frame_from(conn: Connection, sql: str | sa.sql.ClauseElement, params: dict[str, Any] | None = None) -> pd.DataFrame:
    import pandas as pd
    statement = sa.text(sql) if isinstance(sql, str) else sql
    result = conn.execute(statement, params or {})
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def reachable(url: str) -> bool:
    """Whether a database at ``url`` answers a query now."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable" here
        return False
    finally:
        engine.dispose()

"""DuckDB transactions in bounded memory, again under a larger cap when one runs out.

DuckDB caches what it reads and writes up to 80% of RAM by default: a large backlog of
events would grow the process with it. The mirror's events path caps it (one thread,
DuckDB spills to disk beyond the cap), so peak memory does not follow the backlog. DuckDB
keeps the rows a transaction appends in memory until a row group (122,880 rows) is full, so
a commit of many large customers can need more: a transaction that runs out is rolled back
and run again with the next, larger cap (``None``: DuckDB's default). PostgreSQL needs none
of this: its transactions just run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.warehouse.engine import Warehouse

log = logging.getLogger(__name__)

DUCKDB_MEMORY_STEPS: tuple[str | None, ...] = ("128MB", "1GB", None)
T = TypeVar("T")


def bound_memory(conn: Connection, limit: str | None = DUCKDB_MEMORY_STEPS[0]) -> None:
    """Cap DuckDB's memory for this connection's database (a no-op elsewhere)."""
    if conn.dialect.name != "duckdb":
        return
    if limit is None:
        conn.exec_driver_sql("RESET memory_limit")
        conn.exec_driver_sql("RESET threads")
        return
    conn.exec_driver_sql(f"SET memory_limit = '{limit}'")
    conn.exec_driver_sql("SET preserve_insertion_order = false")
    conn.exec_driver_sql("SET threads = 1")


def _out_of_memory(err: BaseException) -> bool:
    return type(getattr(err, "orig", None)).__name__ == "OutOfMemoryException"


def bounded(warehouse: Warehouse, work: Callable[[Connection], T]) -> T:
    """``work`` in one transaction under DuckDB's memory cap, again under a larger one if it runs out."""
    steps = DUCKDB_MEMORY_STEPS if warehouse.is_duckdb else (None,)
    for i, limit in enumerate(steps):
        try:
            with warehouse.begin() as conn:
                bound_memory(conn, limit)
                return work(conn)
        except sa.exc.OperationalError as err:
            if not _out_of_memory(err) or i == len(steps) - 1:
                raise
            log.warning("DuckDB ran out of its %s memory cap; running the transaction again with more", limit)
    raise AssertionError("unreachable")

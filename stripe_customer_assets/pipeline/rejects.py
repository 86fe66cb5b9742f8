"""The rejects table: customers a pipeline could not turn into a row, and why.

``<mirror schema>.import_rejects`` holds the current rejects, one row per pipeline and
customer: a customer's reject is replaced when it is processed again (it lands, is
rejected anew, or leaves the filter), and a full rebuild starts the pipeline's rejects over.
Each row says which run rejected it and when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.warehouse import write_frame
from stripe_customer_assets.warehouse.ddl import ensure_table
from stripe_customer_assets.warehouse.names import Table, qualified

ID_CHUNK = 1000


def rejects_table(schema: str) -> Table:
    return qualified(schema, "import_rejects")


@dataclass(frozen=True)
class Reject:
    customer_id: str
    reason: str
    mirror_version: int


def ensure_rejects_table(conn: Connection, schema: str) -> None:
    """The table, created safely when pipelines start at once on a fresh warehouse (``ddl.py``)."""
    ensure_table(
        conn,
        rejects_table(schema),
        """
        pipeline VARCHAR NOT NULL,
        stripe_customer_id VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        run_id VARCHAR,
        rejected_at TIMESTAMPTZ NOT NULL,
        mirror_version BIGINT,
        PRIMARY KEY (pipeline, stripe_customer_id)
        """,
    )


def clear_rejects(
    conn: Connection, schema: str, pipeline: str, customer_ids: Iterable[str] | None = None
) -> None:
    """Forget the pipeline's rejects of these customers (all of them when None)."""
    table = rejects_table(schema)
    if customer_ids is None:
        conn.execute(
            sa.text(f"DELETE FROM {table} WHERE pipeline = :pipeline"), {"pipeline": pipeline}
        )
        return
    statement = sa.text(
        f"DELETE FROM {table} WHERE pipeline = :pipeline AND stripe_customer_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    ids = list(customer_ids)
    for start in range(0, len(ids), ID_CHUNK):
        conn.execute(statement, {"pipeline": pipeline, "ids": ids[start : start + ID_CHUNK]})


def write_rejects(
    conn: Connection,
    schema: str,
    pipeline: str,
    rejects: list[Reject],
    run_id: str | None,
    now: dt.datetime,
) -> None:
    """Record rejects (their customers' earlier rejects must be cleared first)."""
    import pandas as pd
    if not rejects:
        return
    frame = pd.DataFrame(
        {
            "pipeline": pd.Series([pipeline] * len(rejects), dtype=object),
            "stripe_customer_id": pd.Series([r.customer_id for r in rejects], dtype=object),
            "reason": pd.Series([r.reason for r in rejects], dtype=object),
            "run_id": pd.Series([run_id] * len(rejects), dtype=object),
            "rejected_at": pd.Series([now] * len(rejects), dtype="datetime64[us, UTC]"),
            "mirror_version": pd.Series([r.mirror_version for r in rejects], dtype="Int64"),
        }
    )
    write_frame(conn, rejects_table(schema), frame)

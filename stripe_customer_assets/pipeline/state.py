"""Each pipeline's state, in the warehouse beside its rows: the last mirror version processed.

``<mirror schema>.import_state``: one row per pipeline. It is written in the same
transaction as the pipeline's rows, so a crash never records progress that was not written.
``fingerprint`` and ``columns`` tell the next run whether the filters, transformation or
schema changed since (which makes it a full rebuild).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.warehouse.ddl import ensure_table
from stripe_customer_assets.warehouse.names import Table, qualified


def state_table(schema: str) -> Table:
    return qualified(schema, "import_state")


@dataclass(frozen=True)
class PipelineState:
    pipeline: str
    table: str
    mirror_version: int
    fingerprint: str
    columns: str
    run_id: str | None = None
    mode: str | None = None
    updated_at: dt.datetime | None = None


def columns_signature(signature: list[tuple[str, str, bool]]) -> str:
    return json.dumps(signature)


def ensure_state_table(conn: Connection, schema: str) -> None:
    """The table, created safely when pipelines start at once on a fresh warehouse (``ddl.py``)."""
    ensure_table(
        conn,
        state_table(schema),
        """
        pipeline VARCHAR PRIMARY KEY,
        target_table VARCHAR NOT NULL,
        mirror_version BIGINT NOT NULL,
        fingerprint VARCHAR NOT NULL,
        columns_signature VARCHAR NOT NULL,
        run_id VARCHAR,
        mode VARCHAR,
        updated_at TIMESTAMPTZ
        """,
    )


def read_state(conn: Connection, schema: str, pipeline: str) -> PipelineState | None:
    row = conn.execute(
        sa.text(
            "SELECT pipeline, target_table, mirror_version, fingerprint, columns_signature, run_id, mode, "
            f"updated_at FROM {state_table(schema)} WHERE pipeline = :pipeline"
        ),
        {"pipeline": pipeline},
    ).first()
    if row is None:
        return None
    return PipelineState(row[0], row[1], int(row[2]), row[3], row[4], row[5], row[6], row[7])


def write_state(conn: Connection, schema: str, state: PipelineState) -> None:
    conn.execute(
        sa.text(
            f"INSERT INTO {state_table(schema)} "
            "(pipeline, target_table, mirror_version, fingerprint, columns_signature, run_id, mode, updated_at) "
            "VALUES (:pipeline, :table, :mirror_version, :fingerprint, :columns, :run_id, :mode, :updated_at) "
            "ON CONFLICT (pipeline) DO UPDATE SET target_table = excluded.target_table, "
            "mirror_version = excluded.mirror_version, fingerprint = excluded.fingerprint, "
            "columns_signature = excluded.columns_signature, run_id = excluded.run_id, "
            "mode = excluded.mode, updated_at = excluded.updated_at"
        ),
        {
            "pipeline": state.pipeline,
            "table": state.table,
            "mirror_version": state.mirror_version,
            "fingerprint": state.fingerprint,
            "columns": state.columns,
            "run_id": state.run_id,
            "mode": state.mode,
            "updated_at": state.updated_at,
        },
    )

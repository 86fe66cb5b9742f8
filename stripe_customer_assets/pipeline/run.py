"""One pipeline run: mirror -> filter -> transform -> typed rows -> the pipeline's table.

Everything happens in one warehouse transaction: rows, removals, rejects and the
pipeline's state (the mirror version processed). A crash leaves the table and the state
as they were, and the next run repeats the work. So does a run whose rejects pass the
pipeline's ``max_reject_rate`` (``reject_guard.py``): it fails before the commit, naming the
first rejects, and the table keeps its last good rows.

Incremental (the default): only customers whose mirror row changed since the version
this pipeline last processed are read. Those that match the filter are transformed and
upserted; those deleted in Stripe, no longer matching, skipped or rejected are removed
from the table (removed, not flagged). A full rebuild (first run, ``incremental: false``,
a changed configuration, or on request) transforms every matching customer and removes
every other row. Either way a row whose values did not change is not rewritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator

from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.table import DEFAULT_SCHEMA, customers_table
from stripe_customer_assets.pipeline.compiled import Pipeline
from stripe_customer_assets.pipeline.errors import PipelineRunError
from stripe_customer_assets.pipeline.filters.sql import SqlFilter
from stripe_customer_assets.pipeline.history import (
    create_history_table,
    history_columns,
    run_history,
)
from stripe_customer_assets.pipeline.reject_guard import check_reject_threshold
from stripe_customer_assets.pipeline.rejects import (
    Reject,
    clear_rejects,
    ensure_rejects_table,
    write_rejects,
)
from stripe_customer_assets.pipeline.result import PipelineResult
from stripe_customer_assets.pipeline.source import (
    MirrorRow,
    mirror_exists,
    mirror_version,
    read_page,
)
from stripe_customer_assets.pipeline.state import (
    PipelineState,
    columns_signature,
    ensure_state_table,
    read_state,
    write_state,
)
from stripe_customer_assets.pipeline.target import (
    TargetRow,
    create_table,
    delete_rows,
    drop_table,
    existing_hashes,
    removed_by_filter,
    row_count,
    row_hash,
    table_columns,
    table_preview,
    upsert_rows,
)
from stripe_customer_assets.pipeline.transforms.apply import transform_customers
from stripe_customer_assets.pipeline.transforms.javascript import JavaScriptTransform
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.ddl import ensure_schema
from stripe_customer_assets.warehouse.engine import split_table

PAGE_SIZE = 2_000


def run_pipeline(
    pipeline: Pipeline,
    warehouse: Warehouse,
    mirror_schema: str = DEFAULT_SCHEMA,
    *,
    full_rebuild: bool = False,
    run_id: str | None = None,
    page_size: int = PAGE_SIZE,
) -> PipelineResult:
    """Bring the pipeline's table up to date with the mirror; returns what changed."""
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    result = PipelineResult(pipeline.name, pipeline.table)
    javascript = pipeline.javascript()
    if warehouse.is_postgres:
        _ensure_shared_tables(warehouse, pipeline, mirror_schema)
    try:
        with warehouse.begin() as conn:
            _lock(conn, pipeline.name)
            rows_before = row_count(conn, pipeline.table) if table_columns(conn, pipeline.table) else 0
            since, upto = _start(
                conn, pipeline, mirror_schema, warehouse.dialect, full_rebuild, result
            )
            where = pipeline.filter_sql(warehouse.dialect)
            if pipeline.config.history:  # versions, from the mirror's customer history
                run_history(conn, pipeline, mirror_schema, since, upto, javascript, result, run_id, now, page_size)
            else:
                for page in _pages(conn, mirror_schema, where, since, upto, page_size):
                    _apply(conn, pipeline, page, javascript, result, mirror_schema, run_id, now)
                if since is None:
                    result.removed += removed_by_filter(
                        conn, pipeline.table, customers_table(mirror_schema), where.sql, where.params
                    )
            # Past the threshold this raises inside the transaction: nothing is written.
            check_reject_threshold(
                result,
                pipeline.config.max_reject_rate,
                rows_before,
                pipeline=pipeline.name,
                table=pipeline.table,
                source=pipeline.source,
            )
            state = PipelineState(
                pipeline=pipeline.name,
                table=pipeline.table,
                mirror_version=upto,
                fingerprint=pipeline.fingerprint,
                columns=columns_signature(pipeline.model.signature()),
                run_id=run_id,
                mode=result.mode,
                updated_at=now,
            )
            write_state(conn, mirror_schema, state)
            result.row_count = row_count(conn, pipeline.table)
            result.preview = table_preview(conn, pipeline.table)
    finally:
        if javascript is not None:
            javascript.close()
    result.duration_s = time.monotonic() - started
    return result


def _ensure_shared_tables(warehouse: Warehouse, pipeline: Pipeline, schema: str) -> None:
    """The tables pipelines share, and the target's schema, in a short transaction of their
    own: created under the DDL lock (``warehouse/ddl.py``) when missing, so parallel runs on
    a fresh warehouse neither fail on them nor wait for each other's whole run."""
    with warehouse.begin() as conn:
        if not mirror_exists(conn, schema):
            return  # _start says so
        ensure_state_table(conn, schema)
        ensure_rejects_table(conn, schema)
        target_schema, _ = split_table(pipeline.table, default_schema="")
        if target_schema:
            ensure_schema(conn, target_schema)


def _start(
    conn: Connection,
    pipeline: Pipeline,
    schema: str,
    dialect: str,
    full_rebuild: bool,
    result: PipelineResult,
) -> tuple[int | None, int]:
    """Check the mirror, prepare the table, decide the mode: (since, upto); since None = full."""
    if not mirror_exists(conn, schema):
        raise PipelineRunError(
            f"the Stripe mirror {customers_table(schema)} does not exist yet: "
            "materialize stripe/customers first"
        )
    ensure_state_table(conn, schema)
    ensure_rejects_table(conn, schema)
    state = read_state(conn, schema, pipeline.name)
    upto = mirror_version(conn, schema)
    recreated = _prepare_table(conn, pipeline, state, dialect)
    full = _full_rebuild_reason(pipeline, state, full_rebuild, recreated, upto)
    since = None if full or state is None else state.mirror_version
    result.mode = "full" if full else "incremental"
    result.reason = full or f"customers changed in the mirror after version {since}"
    result.since_version, result.mirror_version = since, upto
    if full:
        clear_rejects(conn, schema, pipeline.name)
    return since, upto


def _pages(
    conn: Connection, schema: str, where: SqlFilter, since: int | None, upto: int, size: int
) -> Iterator[list[MirrorRow]]:
    """Keyset pagination on customer id."""
    after = ""
    while True:
        page = read_page(conn, schema, where, after=after, limit=size, since=since, upto=upto)
        if page:
            yield page
            after = page[-1].id
        if len(page) < size:
            return


def _apply(
    conn: Connection,
    pipeline: Pipeline,
    page: list[MirrorRow],
    javascript: JavaScriptTransform | None,
    result: PipelineResult,
    schema: str,
    run_id: str | None,
    now: dt.datetime,
) -> None:
    wanted = [row for row in page if row.wanted]
    outcomes = transform_customers(pipeline, [row.customer or {} for row in wanted], javascript)
    existing = existing_hashes(conn, pipeline.table, [row.id for row in page])
    writes: list[TargetRow] = []
    removals = [row.id for row in page if not row.wanted and row.id in existing]
    rejects: list[Reject] = []
    for row, outcome in zip(wanted, outcomes):
        result.processed += 1
        if outcome.row is None:
            if outcome.reject is not None:
                rejects.append(Reject(row.id, outcome.reject, row.mirror_version))
            else:
                result.skipped += 1
            if row.id in existing:
                removals.append(row.id)
            continue
        digest = row_hash(pipeline.model, outcome.row)
        before = existing.get(row.id)
        if before == digest:
            result.unchanged += 1
            continue
        if before is None:
            result.inserted += 1
        else:
            result.updated += 1
        writes.append(TargetRow(row.id, outcome.row, row.mirror_version, digest))
    upsert_rows(conn, pipeline.table, pipeline.model, writes, now)
    delete_rows(conn, pipeline.table, removals)
    result.removed += len(removals)
    if result.mode == "incremental":  # a full rebuild cleared them all at the start
        clear_rejects(conn, schema, pipeline.name, [row.id for row in page])
    write_rejects(conn, schema, pipeline.name, rejects, run_id, now)
    result.add_rejects(rejects)


def _prepare_table(
    conn: Connection, pipeline: Pipeline, state: PipelineState | None, dialect: str
) -> str | None:
    """Make sure the table has the model's columns; returns why it was (re)created, if it was."""
    table, model = pipeline.table, pipeline.model
    columns = table_columns(conn, table)
    owned = state is not None and state.table == table
    history = pipeline.config.history
    create = create_history_table if history else create_table
    if columns is None:
        create(conn, table, model, dialect)
        return f"table {table} created"
    if columns == (history_columns(model) if history else model.columns) and (
        not owned or state.columns == columns_signature(model.signature())
    ):
        return None
    if not owned:
        where = f" in {pipeline.source}" if pipeline.source else ""
        raise PipelineRunError(
            f"table {table} already exists with other columns ({', '.join(columns)}) and was not "
            f"created by pipeline '{pipeline.name}': choose another `table`{where}, or drop it"
        )
    drop_table(conn, table)
    create(conn, table, model, dialect)
    return f"schema changed: table {table} recreated"


def _full_rebuild_reason(
    pipeline: Pipeline,
    state: PipelineState | None,
    requested: bool,
    recreated: str | None,
    upto: int,
) -> str | None:
    if requested:
        return "full rebuild requested"
    if not pipeline.config.incremental:
        return "incremental: false (rebuilt every run)"
    if state is None:
        return "first run"
    if state.table != pipeline.table:
        return f"table changed from {state.table}"
    if recreated:
        return recreated
    if state.fingerprint != pipeline.fingerprint:
        return "filters, transformation or schema changed"
    if upto < state.mirror_version:
        return f"the mirror's version went back ({state.mirror_version} -> {upto}): the mirror was rebuilt"
    return None


def _lock(conn: Connection, pipeline: str) -> None:
    """One run per pipeline at a time (DuckDB files already allow one writer at a time)."""
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"stripe_customer_import:{pipeline}".encode()).digest()
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%(key)s)",
            {"key": int.from_bytes(digest[:8], "big", signed=True)},
        )

"""The full scan's writer: list pages appended to ``<schema>.customers_scan`` as they arrive.

A full scan's cost is Stripe's rate limit, so writing overlaps the listing: the pages go to
the warehouse as text on one thread while the scan's workers keep listing (``scan.py``),
and the warehouse derives the columns. On a first load the scan table, already shaped like
the mirror, becomes the mirror by a rename (``full_scan.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.scan import ScanPage
from stripe_customer_assets.mirror.store import SOURCE_COLUMNS
from stripe_customer_assets.mirror.table import (
    DEFAULT_ACCOUNT,
    create_customers_table,
    customer_columns_sql,
    page_items_sql,
)
from stripe_customer_assets.warehouse import Warehouse, staged_arrow

# The scan writer commits a batch when it holds this many customers or is this old, and
# lets go of the warehouse connection (the DuckDB file lock) after holding it this long.
SCAN_BATCH_ROWS = 20_000
SCAN_BATCH_SECONDS = 0.25
SCAN_HOLD_SECONDS = 2.0
# A DuckDB scan table is checkpointed every ``SCAN_CHECKPOINT_SECONDS`` while listing.
# Checkpoints and small batches cost more the larger the table, so the batch window and
# both periods grow with what was written (one more unit per ``SCAN_SECONDS_PER_ROWS``
# rows), up to ``SCAN_MAX_HOLD_SECONDS``; in the last ``SCAN_ENDGAME_SECONDS`` of the
# listing (the scan's own estimate) they are short again, so what is left when the last
# page arrives is a fraction of a second's work.
SCAN_CHECKPOINT_SECONDS = 0.5
SCAN_SECONDS_PER_ROWS = 500_000
SCAN_MAX_HOLD_SECONDS = 20.0
SCAN_ENDGAME_SECONDS = 3.0


def _pace(listed: int, ending: bool) -> tuple[float, float, float]:
    """(batch window, checkpoint period, hold period) for a writer that wrote ``listed`` rows."""
    if ending:
        return SCAN_BATCH_SECONDS, SCAN_CHECKPOINT_SECONDS, SCAN_HOLD_SECONDS
    grown = listed / SCAN_SECONDS_PER_ROWS
    hold = min(SCAN_MAX_HOLD_SECONDS, SCAN_HOLD_SECONDS * (1 + grown))
    return min(hold, SCAN_BATCH_SECONDS * (1 + grown)), min(hold, SCAN_CHECKPOINT_SECONDS * (1 + grown)), hold


_FLUSH = object()
# The scan writer only appends: DuckDB's cache of the growing table would only grow the
# process (up to 80% of RAM by default), so its connection caps it.
SCAN_WRITER_DUCKDB_MEMORY = "256MB"


def _limit_memory(conn: Connection) -> None:
    if conn.dialect.name == "duckdb":
        conn.exec_driver_sql(f"SET memory_limit = '{SCAN_WRITER_DUCKDB_MEMORY}'")
        conn.commit()


class ScanWriter:
    """Collects list pages from scan workers and appends them to the scan table on one thread.

    Pages travel as the text Stripe sent; the warehouse parses them and derives the columns
    (``page_items_sql`` / ``customer_columns_sql``), so no Python object per customer is made.
    A batch is committed every ``SCAN_BATCH_ROWS`` customers or after a short window,
    whichever comes first, so memory stays flat however large the account. The connection
    is kept across batches for a few seconds (reopening a DuckDB file per batch costs a full
    open and close each time), then let go until the next batch so other writers get a
    turn. A DuckDB file is checkpointed as it grows, often near the end of the listing, so
    what is left when the last page arrives is a fraction of a second's work (``_pace``).
    """

    def __init__(
        self,
        warehouse: Warehouse,
        table: str,
        version: int,
        synced_at: dt.datetime,
        *,
        keyed: bool,
        api_version: str | None = None,
        account: str = DEFAULT_ACCOUNT,
    ):
        self.warehouse = warehouse
        self.table = table
        self.version = version
        self.account = account  # every row written is this account's
        self.api_version = api_version  # lists are rendered in the pinned Stripe-Version
        self.synced_at = synced_at
        self.keyed = keyed  # the table has its primary key: skip duplicates on insert
        self._created = False  # the scan table is made on the writer's first connection
        self.listed = 0
        self.batches = 0
        self.write_s = 0.0
        self.cpu_s = 0.0  # of the writer thread (a DuckDB warehouse also works on its own threads)
        self._queue: queue.Queue[ScanPage | None] = queue.Queue(maxsize=256)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mirror-scan-writer", daemon=True)
        self._thread.start()

    def put(self, page: ScanPage) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(page)

    def _run(self) -> None:
        cpu = time.thread_time()
        try:
            self._loop()
        finally:
            self.cpu_s = time.thread_time() - cpu

    def _loop(self) -> None:
        with contextlib.ExitStack() as held:
            conn: Connection | None = None
            opened = checkpointed = started = 0.0
            bodies: list[str] = []
            keeps: list[int] = []
            rows = 0
            ending = False
            while True:
                window, every, hold = _pace(self.listed, ending)
                item: ScanPage | object | None
                try:
                    timeout = max(0.0, started + window - time.monotonic()) if bodies else None
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = _FLUSH  # the batch is old enough: write it
                if isinstance(item, ScanPage):
                    if not bodies:
                        started = time.monotonic()
                    bodies.append(item.text)
                    keeps.append(item.keep)
                    rows += item.keep
                    ending = item.seconds_left < SCAN_ENDGAME_SECONDS
                    window, every, hold = _pace(self.listed, ending)
                due = item is None or item is _FLUSH or rows >= SCAN_BATCH_ROWS or time.monotonic() >= started + window
                if bodies and due:
                    if self._error is None:
                        try:
                            if conn is None:
                                conn = held.enter_context(self.warehouse.connect())
                                opened = checkpointed = time.monotonic()
                                _limit_memory(conn)
                                self._create(conn)
                            self._write(conn, bodies, keeps, rows)
                            if conn.dialect.name == "duckdb" and time.monotonic() - checkpointed >= every:
                                conn.exec_driver_sql("CHECKPOINT")
                                conn.commit()
                                checkpointed = time.monotonic()
                            if time.monotonic() - opened > hold:
                                held.close()  # until the next batch is due: others' turn
                                conn = None
                        except BaseException as err:  # noqa: BLE001 - re-raised in the scan by put() and close()
                            self._error = err
                    bodies, keeps, rows = [], [], 0
                if item is None:
                    return

    def _create(self, conn: Connection) -> None:
        """A fresh scan table, shaped like the mirror (made here, off the scan's start)."""
        if self._created:
            return
        with conn.begin():
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
            create_customers_table(conn, self.table, if_not_exists=False, primary_key=self.keyed)
        self._created = True

    def _write(self, conn: Connection, bodies: list[str], keeps: list[int], rows: int) -> None:
        import pyarrow as pa  # a full scan's only; an incremental run never loads it

        started = time.monotonic()
        table = pa.table({"body": pa.array(bodies, pa.string()), "keep": pa.array(keeps, pa.int32())})
        dialect = conn.dialect.name
        with conn.begin(), staged_arrow(conn, [("body", "TEXT"), ("keep", "INTEGER")], table) as stage:
            columns = customer_columns_sql(dialect, page_items_sql(dialect, stage))
            # Slices do not overlap, so each customer comes once; should Stripe list one
            # twice anyway, the first listing is kept (here, or before the key is added).
            conn.execute(
                sa.text(
                    f"INSERT INTO {self.table} ({', '.join(SOURCE_COLUMNS)}, synced_at, mirror_version, api_version, account) "
                    "SELECT *, FALSE, CAST(NULL AS TIMESTAMPTZ), :synced_at, :version, :api_version, :account"
                    f" FROM ({columns}) AS c"
                    + (" ON CONFLICT (account, id) DO NOTHING" if self.keyed else "")
                ),
                {
                    "synced_at": self.synced_at,
                    "version": self.version,
                    "api_version": self.api_version,
                    "account": self.account,
                },
            )
        self.listed += rows
        self.batches += 1
        self.write_s += time.monotonic() - started

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        if not self._created:  # no page at all: the (empty) scan table is still the result
            with self.warehouse.connect() as conn:
                self._create(conn)


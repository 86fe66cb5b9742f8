"""Where a full scan's client CPU goes, per 1,000 customers, step by step.

Pages come from a stand-in with no latency and no rate limit; each step runs alone, one
thread, timed with ``time.process_time`` (so the embedded DuckDB's own threads count).
Two pipelines side by side: the one the mirror used first (the SDK's ``raw_request``, a
Python row per customer with ``json.dumps``, a pandas frame, ``write_frame``) and the one it
uses now (a plain GET, the page text handed to the warehouse, which derives the columns).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import stripe

from bench.report import Row
from bench.standin import StandinProcess
from stripe_customer_assets.mirror.store import SOURCE_COLUMNS
from stripe_customer_assets.mirror.table import (
    DEFAULT_ACCOUNT,
    create_customers_table,
    customer_columns_sql,
    customer_row,
    page_items_sql,
    rows_frame,
)
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse, staged_arrow, write_frame

# At 100 requests/s a scan reads 10,000 customers a second: one core is 100 ms per 1,000.
HALF_CORE_MS = 50.0


def _cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    value = fn()
    return time.process_time() - started, value


def _pages(api: StripeApi, count: int, fetch: Callable[[dict[str, Any]], Any]) -> list[Any]:
    out, after = [], None
    for _ in range(count):
        params: dict[str, Any] = {"limit": 100}
        if after:
            params["starting_after"] = after
        page = fetch(params)
        out.append(page)
        data = page[0]["data"] if isinstance(page, tuple) else page["data"]
        after = data[-1]["id"]
    return out


def profile_rows(standin: StandinProcess, pages: int) -> list[Row]:
    """CPU per 1,000 customers of each step, old pipeline and new."""
    api = standin.api(1e6)
    sdk = stripe.StripeClient(standin.api_key, base_addresses={"api": standin.url}, max_network_retries=0)
    customers = pages * 100
    steps: dict[str, float] = {}
    steps["old: SDK raw_request + JSON into OrderedDicts"], _ = _cpu(
        lambda: _pages(api, pages, lambda p: sdk.raw_request("get", "/v1/customers", **p).data)
    )
    listing = sdk.v1.customers.list(params={"limit": 100})
    steps["old: StripeObject per customer (auto_paging_iter)"], _ = _cpu(
        lambda: [c.to_dict() for c in itertools.islice(listing.auto_paging_iter(), pages * 100)]
    )
    def lean(params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        reply = api.fetch("get", "/v1/customers", params)
        return reply.data, reply.text

    steps["new: plain GET + JSON into dicts"], replies = _cpu(lambda: _pages(api, pages, lean))
    data = [c for reply, _ in replies for c in reply["data"]]
    texts = [text for _, text in replies]
    steps["old: customer_row (json.dumps of raw, metadata, address, shipping)"], rows = _cpu(
        lambda: [customer_row(c) for c in data]
    )

    def frame() -> Any:
        df = rows_frame(rows)
        df["deleted"] = False
        df["deleted_at"] = None
        return df[SOURCE_COLUMNS]

    steps["old: pandas frame of the rows"], df = _cpu(frame)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        warehouse = Warehouse(f"duckdb:///{Path(tmp) / 'w.duckdb'}")
        with warehouse.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA p")
            create_customers_table(conn, '"p"."old"', primary_key=False)
            create_customers_table(conn, '"p"."new"', primary_key=False)
        df["synced_at"] = df["created"].max()
        df["mirror_version"] = 1
        df["account"] = DEFAULT_ACCOUNT  # the mirror's key is (account, id)

        def old_write() -> None:
            for i in range(0, len(df), 5000):
                with warehouse.begin() as conn:
                    write_frame(conn, '"p"."old"', df.iloc[i : i + 5000])

        steps["old: write_frame to DuckDB, 5,000 a batch"], _ = _cpu(old_write)

        def new_write() -> None:
            with warehouse.connect() as conn:
                for i in range(0, len(texts), 25):
                    batch = pa.table({"body": texts[i : i + 25], "keep": pa.array([100] * len(texts[i : i + 25]), pa.int32())})
                    with conn.begin(), staged_arrow(conn, [("body", "TEXT"), ("keep", "INTEGER")], batch) as stage:
                        conn.exec_driver_sql(
                            f'INSERT INTO "p"."new" ({", ".join(SOURCE_COLUMNS)}, synced_at, mirror_version, account) '
                            f"SELECT *, FALSE, NULL, now(), 1, '{DEFAULT_ACCOUNT}' FROM ({customer_columns_sql('duckdb', page_items_sql('duckdb', stage))}) AS c"
                        )
                    conn.exec_driver_sql("CHECKPOINT")
                    conn.commit()

        steps["new: page text into DuckDB, columns in SQL, 2,500 a batch"], _ = _cpu(new_write)
        warehouse.dispose()
    per_1000 = {name: 1000 * seconds / customers * 1000 for name, seconds in steps.items()}
    old = sum(v for k, v in per_1000.items() if k.startswith("old:") and "StripeObject" not in k)
    new = sum(v for k, v in per_1000.items() if k.startswith("new:"))
    rows_out = [
        Row("client CPU profile", name, "ms", value, details={"per_1000_customers": True, "customers": customers})
        for name, value in per_1000.items()
    ]
    rows_out.append(
        Row(
            "client CPU profile",
            "whole pipeline per 1,000 customers, new (old as baseline)",
            "ms",
            new,
            baseline=old,
            baseline_note="SDK + customer_row + pandas + write_frame",
            target=f"<= {HALF_CORE_MS:g} ms (half a core at 100 pages/s)",
            met=new <= HALF_CORE_MS,
        )
    )
    return rows_out

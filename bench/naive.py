"""The scripts a user would write without this project, measured on a sample.

Import: stripe-python's ``auto_paging_iter`` (one page after the other, a ``StripeObject``
per customer) into a list, then ``pandas.DataFrame.to_sql``. Export: for every model row,
look the customer up by email, then update it or create it, one request after the other.

Both are sequential, so their rate is constant: they run on a sample and the time for the
whole account is the per-item time times the number of items (stated as such).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
import stripe

stripe.enable_telemetry = False


@dataclass
class NaiveImport:
    customers: int
    list_s: float
    to_sql_s: float
    calls: int

    def seconds_for(self, n: int) -> float:
        return (self.list_s + self.to_sql_s) * n / max(1, self.customers)


def naive_import(api_key: str, api_base: str, warehouse_url: str, sample: int) -> NaiveImport:
    """List ``sample`` customers with ``auto_paging_iter`` and load them with ``to_sql``."""
    client = stripe.StripeClient(api_key, base_addresses={"api": api_base})
    started = time.perf_counter()
    customers: list[dict[str, Any]] = []
    for customer in client.v1.customers.list(params={"limit": 100}).auto_paging_iter():
        customers.append(customer.to_dict())
        if len(customers) >= sample:
            break
    listed = time.perf_counter()
    frame = pd.json_normalize(customers)
    for column in frame.columns:  # nested lists / objects do not fit a SQL column
        if frame[column].map(lambda v: isinstance(v, (list, dict))).any():
            frame[column] = frame[column].map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    engine = sa.create_engine(warehouse_url)
    try:
        frame.to_sql("customers_naive", engine, if_exists="replace", index=False)
    finally:
        engine.dispose()
    loaded = time.perf_counter()
    return NaiveImport(len(customers), listed - started, loaded - listed, -(-len(customers) // 100))


@dataclass
class NaiveExport:
    rows: int
    seconds: float
    calls: int

    def seconds_for(self, n: int) -> float:
        return self.seconds * n / max(1, self.rows)

    def calls_for(self, n: int) -> float:
        return self.calls * n / max(1, self.rows)


def naive_export(api_key: str, api_base: str, rows: list[dict[str, Any]]) -> NaiveExport:
    """Look each row's customer up by email, then update it or create it."""
    client = stripe.StripeClient(api_key, base_addresses={"api": api_base})
    started = time.perf_counter()
    calls = 0
    for row in rows:
        found = client.v1.customers.list(params={"email": row["email"], "limit": 1})
        calls += 1
        values = {"name": row["name"], "metadata": {"plan": row["plan"]}}
        if found.data:
            client.v1.customers.update(found.data[0].id, params=values)
        else:
            client.v1.customers.create(params={"email": row["email"], **values})
        calls += 1
    return NaiveExport(len(rows), time.perf_counter() - started, calls)


def main(argv: list[str]) -> int:
    """``python -m bench.naive API_KEY API_BASE DATABASE``: the whole naive import of the
    account into a DuckDB file, as one script a user would run."""
    api_key, api_base, database = argv
    result = naive_import(api_key, api_base, f"duckdb:///{database}", sample=10**12)
    print(f"{result.customers} customers in {result.list_s + result.to_sql_s:.2f}s")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

"""Helpers for pipeline tests: Stripe-like customers, a mirror seeded directly, pipelines."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from stripe_customer_assets.mirror.table import (
    DEFAULT_ACCOUNT,
    customer_row,
    customers_table,
    ensure_tables,
    rows_frame,
)
from stripe_customer_assets.pipeline import (
    Pipeline,
    PipelineConfig,
    PipelineResult,
    compile_pipeline,
    run_pipeline,
)
from stripe_customer_assets.warehouse import Warehouse, quote_table, upsert_frame

BASE_CREATED = 1_700_000_000  # 2023-11-14T22:13:20Z


def customer(i: int, **fields: Any) -> dict[str, Any]:
    """A Stripe customer as the API returns it; ``fields`` override (None removes nothing)."""
    body: dict[str, Any] = {
        "id": f"cus_{i:05d}",
        "object": "customer",
        "created": BASE_CREATED + i * 86_400,
        "email": f"User{i}@Example.com",
        "name": f"Customer {i}",
        "phone": None,
        "description": None,
        "currency": "usd" if i % 2 else "eur",
        "balance": i * 100 - 500,
        "delinquent": i % 5 == 0,
        "livemode": False,
        "metadata": {"plan": "pro" if i % 3 == 0 else "starter", "seats": str(i % 7)},
        "address": {"country": ["FR", "DE", "US"][i % 3], "city": "Paris"},
        "shipping": None,
        "preferred_locales": ["en", "fr"],
    }
    body.update(fields)
    return body


@dataclass
class Mirror:
    """A mirror seeded without Stripe: each ``put`` is one mirror commit (a new version)."""

    warehouse: Warehouse
    schema: str
    version: int = 0
    target_schema: str = "analytics"
    account: str = DEFAULT_ACCOUNT  # the mirror's account key of the rows put

    def put(self, customers: list[dict[str, Any]], deleted: bool = False) -> int:
        self.version += 1
        now = dt.datetime.now(dt.UTC)
        frame = rows_frame([customer_row(c) for c in customers])
        frame["deleted"] = pd.Series([deleted] * len(frame), dtype="boolean")
        frame["deleted_at"] = pd.Series(
            [now if deleted else None] * len(frame), dtype="datetime64[us, UTC]"
        )
        frame["synced_at"] = pd.Series([now] * len(frame), dtype="datetime64[us, UTC]")
        frame["mirror_version"] = pd.Series([self.version] * len(frame), dtype="Int64")
        frame.insert(0, "account", pd.Series([self.account] * len(frame), dtype="object"))
        with self.warehouse.begin() as conn:
            ensure_tables(conn, self.schema)
            upsert_frame(conn, customers_table(self.schema), frame, key=["account", "id"])
        return self.version

    def delete(self, customers: list[dict[str, Any]]) -> int:
        return self.put(customers, deleted=True)


def pipeline(table: str, **attributes: Any) -> Pipeline:
    """A compiled pipeline writing ``table``; ``schema`` defaults to a small model."""
    config: dict[str, Any] = {
        "name": "test_pipeline",
        "table": table,
        "schema": {"email": "string", "name": "string"},
    }
    config.update(attributes)
    return compile_pipeline(PipelineConfig.model_validate(config))


def run(p: Pipeline, mirror: Mirror, **kwargs: Any) -> PipelineResult:
    return run_pipeline(p, mirror.warehouse, mirror.schema, run_id="test-run", **kwargs)


def table_rows(warehouse: Warehouse, table: str) -> dict[str, dict[str, Any]]:
    """The table's rows by customer id (bookkeeping columns left out)."""
    frame = warehouse.read_frame(f"SELECT * FROM {quote_table(table)} ORDER BY stripe_customer_id")
    rows = {}
    for record in frame.to_dict("records"):
        key = record.pop("stripe_customer_id")
        rows[key] = {k: _plain(v) for k, v in record.items() if not k.startswith("_")}
    return rows


def matching_ids(p: Pipeline, mirror: Mirror, customers: list[dict[str, Any]]) -> set[str]:
    """The ids a fresh full run of ``p`` lands, from ``customers`` seeded in the mirror."""
    mirror.put(customers)
    run(p, mirror)
    return set(table_rows(mirror.warehouse, p.table))


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value

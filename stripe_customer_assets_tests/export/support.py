"""Helpers for export tests: a CRM-like model table, configs, and one call per sync run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from stripe_customer_assets.export import (
    ApplyResult,
    ExportConfig,
    Plan,
    apply_plan,
    make_plan,
    parse_config,
    sent_keys,
    store_plan,
)
from stripe_customer_assets.mirror.sync import MirrorResult, refresh_mirror
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse, write_frame
from stripe_standin.server import StripeStandin

ACCOUNT_COLUMNS = {
    "crm_id": "BIGINT",
    "email": "VARCHAR",
    "full_name": "VARCHAR",
    "phone": "VARCHAR",
    "city": "VARCHAR",
    "country": "VARCHAR",
    "plan": "VARCHAR",
    "tax": "VARCHAR",
}
FIELDS = {
    "name": "full_name",
    "phone": "phone",
    "address.city": "city",
    "address.country": "country",
    "metadata.plan": "plan",
    "tax_exempt": "tax",
}
WRITE_ENDPOINTS = ("customers.create", "customers.update")


def account(i: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "crm_id": i,
        "email": f"user{i}@example.com",
        "full_name": f"Customer {i}",
        "phone": f"+1 415 555 {i:04d}",
        "city": ["Paris", "Berlin", "Tokyo", "Lima"][i % 4],
        "country": ["FR", "DE", "JP", "PE"][i % 4],
        "plan": ["pro", "starter", None][i % 3],
        "tax": ["none", "exempt", "reverse"][i % 3],
    }
    row.update(overrides)
    return row


def write_accounts(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    """(Re)create ``table`` (schema-qualified, quoted) holding ``rows``."""
    schema = table.split(".")[0]
    columns = ", ".join(f'"{c}" {t}' for c, t in ACCOUNT_COLUMNS.items())
    df = pd.DataFrame.from_records(rows, columns=list(ACCOUNT_COLUMNS))
    df["crm_id"] = df["crm_id"].astype("Int64")
    for col in list(ACCOUNT_COLUMNS)[1:]:
        df[col] = df[col].astype("object")
    with wh.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql(f"CREATE TABLE {table} ({columns})")
        write_frame(conn, table, df)


def export_config(name: str, table: str, state_schema: str, **attributes: Any) -> ExportConfig:
    base: dict[str, Any] = {
        "name": name,
        "model": f"SELECT * FROM {table}",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": dict(FIELDS),
        "partial_address": "keep_stripe",  # FIELDS maps two of the address's parts
        "state_schema": state_schema,
    }
    base.update(attributes)
    return parse_config(base)


def seed_customer(
    standin: StripeStandin, i: int, *, by: str = "email", **params: Any
) -> dict[str, Any]:
    """A Stripe customer that row ``i`` matches (by email or by metadata.crm_id), with
    values that differ from the model's."""
    values: dict[str, Any] = {
        "name": f"Old name {i}",
        "address": {"city": "Nowhere", "country": "US"},
    }
    if by == "email":
        values["email"] = f"user{i}@example.com"
    else:
        values["email"] = f"old{i}@example.org"
        values["metadata"] = {"crm_id": str(i)}
    values.update(params)
    return standin.create_customer(**values)


@dataclass
class SyncRun:
    mirror: MirrorResult
    plan: Plan
    result: ApplyResult | None


class Syncer:
    """Runs the export the way the Dagster assets do: refresh the mirror, plan, apply."""

    def __init__(self, standin: StripeStandin, api: StripeApi, wh: Warehouse, mirror_schema: str):
        self.standin, self.api, self.wh, self.mirror_schema = standin, api, wh, mirror_schema

    def plan(
        self, config: ExportConfig, *, refresh: bool = True
    ) -> tuple[MirrorResult | None, Plan]:
        mirror = (
            refresh_mirror(self.api, self.wh, self.mirror_schema, concurrency=4)
            if refresh
            else None
        )
        plan = make_plan(
            self.wh,
            config,
            self.mirror_schema,
            sent_keys=sent_keys(self.wh, config),
            planned_at=self.api.now(),
        )
        store_plan(self.wh, config, plan)
        return mirror, plan

    def run(self, config: ExportConfig, *, refresh: bool = True) -> SyncRun:
        mirror, plan = self.plan(config, refresh=refresh)
        result = apply_plan(config, self.api, self.wh, concurrency=8)
        return SyncRun(mirror, plan, result)  # type: ignore[arg-type]

    def write_requests(self) -> list[dict[str, Any]]:
        """Create / update requests the stand-in received since the last call (and clears)."""
        return [
            r for r in self.standin.requests(clear=True) if r.get("endpoint") in WRITE_ENDPOINTS
        ]


def live_customers(standin: StripeStandin) -> list[dict[str, Any]]:
    return standin.customers()


def by_email(customers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["email"]: c for c in customers if c.get("email")}


def mapped_values(customer: dict[str, Any]) -> dict[str, Any]:
    """The mapped fields of a Stripe customer, in the model's terms."""
    address = customer.get("address") or {}
    return {
        "full_name": customer.get("name"),
        "phone": customer.get("phone"),
        "city": address.get("city"),
        "country": address.get("country"),
        "plan": (customer.get("metadata") or {}).get("plan"),
        "tax": customer.get("tax_exempt"),
    }


def model_values(row: dict[str, Any]) -> dict[str, Any]:
    return {c: row[c] for c in ("full_name", "phone", "city", "country", "plan", "tax")}

"""Stripe's default limits: 100 requests/s for the account, 25/s on each endpoint.

The other scenarios model an account whose endpoint limits match its global one (R on
every endpoint), so R is the ceiling. With Stripe's defaults a single endpoint is the
ceiling: a full scan lists at most 25 pages/s, and an export's creates
(``POST /v1/customers``) and updates (``POST /v1/customers/{id}``) are two endpoints, so
sent side by side they reach 50 writes/s where one after the other they would reach 25. The
client runs with its own defaults for a live key: 90/s for the account, 22.5/s per endpoint.
"""

from __future__ import annotations

import math

from bench.export import creates_updates_model, run_export
from bench.report import Row
from bench.scan import SCHEMA
from bench.standin import StandinProcess
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.stripe_api.client import STRIPE_ENDPOINT_RATE_LIMIT
from stripe_customer_assets.warehouse import Warehouse

ACCOUNT_RATE = 100.0
CLIENT_ACCOUNT_RATE = 90.0  # the client's default for a live key
# Creates and updates side by side: at least this many times one endpoint's client budget.
TARGET_ENDPOINTS_BUSY = 1.8


def defaults_rows(standin: StandinProcess, warehouse: Warehouse, creates: int, updates: int) -> list[Row]:
    api = StripeApi(standin.api_key, api_base=standin.url, rate_limit=CLIENT_ACCOUNT_RATE)
    budget = api.endpoint_rate
    standin.admin.reset_stats()
    scan = refresh_mirror(api, warehouse, SCHEMA, full_refresh=True)
    served = standin.stats()
    pages = served.get("requests_by_endpoint", {}).get("customers.list", 0)
    ideal_scan_s = math.ceil(scan.row_count / 100) / STRIPE_ENDPOINT_RATE_LIMIT
    table = creates_updates_model(warehouse, SCHEMA, creates, updates)
    export = run_export(
        standin, warehouse, SCHEMA, ACCOUNT_RATE, "bench_defaults", table,
        {"column": "email", "stripe_field": "email"},
        concurrency=math.ceil(2 * budget * standin.settings.latency_write * 1.5) + 4,
        api=api,
    )
    both = 2 * STRIPE_ENDPOINT_RATE_LIMIT
    return [
        Row(
            "default limits: full scan",
            f"N={scan.row_count:,}, 100/s account, 25/s per endpoint",
            "s",
            scan.duration_s,
            ideal=ideal_scan_s,
            baseline=ideal_scan_s * STRIPE_ENDPOINT_RATE_LIMIT / budget,
            baseline_note=f"the client's own budget, {budget:g}/s",
            target=f"at the client's endpoint budget ({budget / STRIPE_ENDPOINT_RATE_LIMIT:.2f} of Stripe's 25/s)",
            met=scan.duration_s <= 1.1 * ideal_scan_s * STRIPE_ENDPOINT_RATE_LIMIT / budget,
            details={"pages": pages, "rate_limited": served.get("rate_limited", 0)},
        ),
        Row(
            "default limits: export",
            f"{export.creates:,} creates + {export.updates:,} updates, 100/s account, 25/s per endpoint",
            "writes/s",
            export.throughput,
            ideal=both,
            baseline=budget,
            baseline_note="creates then updates, one endpoint at a time",
            target=f">= {TARGET_ENDPOINTS_BUSY:g}x one endpoint's budget (neither endpoint idles)",
            met=export.throughput >= TARGET_ENDPOINTS_BUSY * budget,
            higher_is_better=True,
            details={
                "writes_per_s_by_endpoint": export.endpoint_rates,
                "rate_limited": export.rate_limited,
                "apply_s": export.apply_s,
                "writes": export.writes,
            },
        ),
    ]

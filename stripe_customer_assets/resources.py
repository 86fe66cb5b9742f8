"""Dagster resources: the Stripe account and the warehouse.

Both are configured from the environment. ``STRIPE_API_KEY`` is read through
``dg.EnvVar`` so its value never appears in run config, the UI or the event log.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from stripe_customer_assets.mirror.table import DEFAULT_SCHEMA
from stripe_customer_assets.stripe_api import ApiStats, EndpointLimiters, RateLimiter, StripeApi
from stripe_customer_assets.stripe_api.client import (
    DEFAULT_API_BASE,
    StripeAccessError,
    default_endpoint_rate_limit,
    default_rate_limit,
)
from stripe_customer_assets.stripe_api.keys import ApiKeyError, clean_api_key
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.names import check_name

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE_URL = f"duckdb:///{PROJECT_ROOT / 'data' / 'warehouse.duckdb'}"

# One set of limiters per Stripe account per process, shared by every resource and thread.
_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_ENDPOINT_LIMITERS: dict[tuple[str, str], EndpointLimiters] = {}


class StripeResource(dg.ConfigurableResource):
    """A Stripe account: API key (secret, from STRIPE_API_KEY), base URL, rate limit."""

    api_key: str = Field(description="Stripe secret or restricted key; set via STRIPE_API_KEY.")
    api_base: str = Field(default=DEFAULT_API_BASE, description="Stripe API base URL (STRIPE_API_BASE).")
    account: str = Field(
        default="default",
        description="A name for the Stripe account; one rate limiter and one concurrency pool per account.",
    )
    rate_limit: float = Field(
        default=0.0,
        description="Requests per second for this account (0: 20/s for test keys, 90/s for live keys).",
    )
    endpoint_rate_limit: float = Field(
        default=0.0,
        description=(
            "Requests per second on each Stripe endpoint (0: 22.5/s, under Stripe's default 25/s; "
            "raise it when Stripe raised the account's endpoint limits)."
        ),
    )
    max_concurrency: int = Field(default=32, description="Worker threads for parallel scans and writes.")
    max_retries: int = Field(default=8, description="Retries of a request on 429, 5xx and connection errors.")
    timeout_s: float = Field(default=30.0, description="Seconds before one HTTP request times out.")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Check the key's shape as the run starts: surrounding whitespace (a secret file's
        trailing newline) is fine, anything else a key cannot hold stops the run with a
        message naming STRIPE_API_KEY, never its value."""
        try:
            clean_api_key(self.api_key)
        except ApiKeyError as err:
            raise StripeAccessError(str(err)) from None

    def effective_rate_limit(self) -> float:
        return self.rate_limit or default_rate_limit(self.api_key or "")

    def limiter(self) -> RateLimiter:
        key = (self.account, self.api_base)
        rate = self.effective_rate_limit()
        limiter = _LIMITERS.get(key)
        if limiter is None or limiter.rate != rate:
            limiter = _LIMITERS[key] = RateLimiter(rate)
        return limiter

    def endpoint_limiters(self) -> EndpointLimiters:
        key = (self.account, self.api_base)
        rate = self.endpoint_rate_limit or default_endpoint_rate_limit()
        limiters = _ENDPOINT_LIMITERS.get(key)
        if limiters is None or limiters.rate != rate:
            limiters = _ENDPOINT_LIMITERS[key] = EndpointLimiters(rate)
        return limiters

    def api(self, stats: ApiStats | None = None) -> StripeApi:
        """A client sharing this account's rate limiters; ``stats`` counts its calls."""
        return StripeApi(
            self.api_key,
            api_base=self.api_base,
            limiter=self.limiter(),
            endpoint_limiters=self.endpoint_limiters(),
            max_retries=self.max_retries,
            timeout_s=self.timeout_s,
            stats=stats,
        )

    @property
    def dashboard_base(self) -> str:
        mode = "" if "_live_" in (self.api_key or "") else "test/"
        return f"https://dashboard.stripe.com/{mode}customers/"


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse (WAREHOUSE_URL; default a DuckDB file under data/)."""

    url: str = Field(default=DEFAULT_WAREHOUSE_URL, description="SQLAlchemy URL of the warehouse.")
    mirror_schema: str = Field(default=DEFAULT_SCHEMA, description="Schema of the Stripe mirror tables.")

    _warehouse: Warehouse | None = PrivateAttr(default=None)

    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            check_name(self.mirror_schema, "STRIPE_MIRROR_SCHEMA (the warehouse resource's mirror_schema)")
            self._warehouse = Warehouse(self.url)
        return self._warehouse


def stripe_resource_from_env() -> StripeResource:
    return StripeResource(
        api_key=dg.EnvVar("STRIPE_API_KEY"),
        api_base=os.environ.get("STRIPE_API_BASE", DEFAULT_API_BASE),
        rate_limit=float(os.environ.get("STRIPE_RATE_LIMIT", "0") or 0),
        endpoint_rate_limit=float(os.environ.get("STRIPE_ENDPOINT_RATE_LIMIT", "0") or 0),
        account=os.environ.get("STRIPE_ACCOUNT_NAME", "default"),
    )


def warehouse_resource_from_env() -> WarehouseResource:
    """From WAREHOUSE_URL and STRIPE_MIRROR_SCHEMA (empty means unset); a schema name that is
    not a plain SQL name is refused here, naming the variable."""
    schema = os.environ.get("STRIPE_MIRROR_SCHEMA") or DEFAULT_SCHEMA
    return WarehouseResource(
        url=os.environ.get("WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL),
        mirror_schema=check_name(schema, "STRIPE_MIRROR_SCHEMA"),
    )

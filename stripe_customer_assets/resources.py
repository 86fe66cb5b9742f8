"""Dagster resources: the Stripe account(s) and the warehouse.

Both are configured from the environment. ``STRIPE_API_KEY`` is read through
``dg.EnvVar`` so its value never appears in run config, the UI or the event log.

With ``STRIPE_ACCOUNTS_FILE`` (``accounts/config.py``) the resource holds one entry per plain
account and Connect platform: its name and the *name* of the variable holding its key. The key
itself is read from the environment only when a client for that account is built, in the run
(Dagster would resolve a ``dg.EnvVar`` nested in config too, but one unset variable would then
fail every run and sensor of the deployment with a message that does not name the account).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from stripe_customer_assets.accounts.config import AccountsConfig, key_value, load_accounts
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
# Keyed by (budget, api_base): a plain account's name, a connected account's acct_ id
# (rate_budget: account), or "platform:<name>" (the platform's own calls, and all its connected
# accounts with rate_budget: platform).
_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_ENDPOINT_LIMITERS: dict[tuple[str, str], EndpointLimiters] = {}
# Which platform a connected account belongs to (several platforms): from the registry
# (``accounts/registry.py``) or the last discovery in this process.
_PLATFORM_OF: dict[str, str] = {}


def remember_platform(acct: str, platform: str) -> None:
    """Note that connected account ``acct`` belongs to ``platform`` (discovery, registry)."""
    _PLATFORM_OF[acct] = platform


class UnknownAccountError(ValueError):
    """An account key no configured account or platform reaches."""


class StripeAccountEntry(dg.Config):
    """One plain account or Connect platform of the accounts file (no key: its variable's name)."""

    name: str
    kind: str = Field(description="plain | platform")
    api_key_env: str = Field(description="The environment variable holding the key (read in the run).")
    rate_limit: float = 0.0
    discover: bool = True
    accounts: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    context_header: str = "Stripe-Context"
    rate_budget: str = "platform"
    max_parallel_runs: int = 1


def entries_from_config(config: AccountsConfig) -> list[StripeAccountEntry]:
    entries = [
        StripeAccountEntry(name=a.name, kind="plain", api_key_env=a.api_key_env, rate_limit=a.rate_limit)
        for a in config.accounts
    ]
    entries += [
        StripeAccountEntry(
            name=p.name,
            kind="platform",
            api_key_env=p.api_key_env,
            rate_limit=p.rate_limit,
            discover=p.discover,
            accounts=list(p.accounts),
            exclude=list(p.exclude),
            context_header=p.context_header,
            rate_budget=p.rate_budget,
            max_parallel_runs=p.max_parallel_runs,
        )
        for p in config.platforms
    ]
    return entries


def _shared(store: dict, key: tuple[str, str], rate: float, make):
    current = store.get(key)
    if current is None or current.rate != rate:
        current = store[key] = make(rate)
    return current


class StripeResource(dg.ConfigurableResource):
    """A Stripe account: API key (secret, from STRIPE_API_KEY), base URL, rate limit."""

    api_key: str = Field(
        default="",
        description="Stripe secret or restricted key; set via STRIPE_API_KEY (single-account deployment).",
    )
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
    accounts: list[StripeAccountEntry] = Field(
        default_factory=list,
        description="Plain accounts and Connect platforms (STRIPE_ACCOUNTS_FILE); empty: one account.",
    )
    registry_url: str = Field(
        default="",
        description="The warehouse holding the account registry (which platform an acct_ belongs "
        "to, with several platforms); empty: none.",
    )
    registry_from_env: bool = Field(
        default=False,
        description="Find the registry's warehouse in WAREHOUSE_URL when the run needs it (its "
        "URL, which may hold a password, stays out of this resource's config).",
    )
    registry_schema: str = Field(default=DEFAULT_SCHEMA, description="The registry's schema.")

    @property
    def multi_account(self) -> bool:
        return bool(self.accounts)

    def plain_accounts(self) -> list[StripeAccountEntry]:
        return [e for e in self.accounts if e.kind == "plain"]

    def platforms(self) -> list[StripeAccountEntry]:
        return [e for e in self.accounts if e.kind == "platform"]

    def platform_named(self, name: str) -> StripeAccountEntry:
        for entry in self.platforms():
            if entry.name == name:
                return entry
        raise UnknownAccountError(f"no platform named '{name}' in STRIPE_ACCOUNTS_FILE")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Check the key's shape as the run starts: surrounding whitespace (a secret file's
        trailing newline) is fine, anything else a key cannot hold stops the run with a
        message naming STRIPE_API_KEY, never its value. With an accounts file each key is
        checked when its account's client is built."""
        if self.multi_account:
            return
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

    def api(
        self, stats: ApiStats | None = None, account: str | None = None, *, whole_budget: bool = False
    ) -> StripeApi:
        """A client sharing its account's rate limiters; ``stats`` counts its calls.

        ``account=None`` (or this deployment's single account name) gives the single account's
        client. With an accounts file, ``account`` is an account key: a plain account's name
        (its own key) or a connected account's ``acct_`` id (its platform's key and header).
        """
        plain = next((e for e in self.plain_accounts() if e.name == account), None)
        if not self.multi_account or (plain is None and account in (None, self.account) and self.api_key):
            if account not in (None, self.account):
                raise UnknownAccountError(
                    f"account '{account}': this deployment has one Stripe account, '{self.account}' "
                    f"(STRIPE_ACCOUNT_NAME); name the others in STRIPE_ACCOUNTS_FILE"
                )
            return self._single_api(stats)
        if account is None:
            raise UnknownAccountError("name the Stripe account: this deployment has several (STRIPE_ACCOUNTS_FILE)")
        if plain is not None:
            key = key_value(plain.api_key_env, f"account '{account}'")
            rate = plain.rate_limit or default_rate_limit(key)
            return self._client(key, (plain.name, self.api_base), rate, 1.0, stats, key_env=plain.api_key_env)
        if account.startswith("acct_"):
            return self.connected_api(account, self.platform_of(account), stats, whole_budget=whole_budget)
        raise UnknownAccountError(
            f"account '{account}' is neither a plain account of STRIPE_ACCOUNTS_FILE "
            f"({', '.join(e.name for e in self.plain_accounts()) or 'none'}) nor a connected acct_ id"
        )

    def platform_api(self, platform: str, stats: ApiStats | None = None) -> StripeApi:
        """The platform's own client (``GET /v1/accounts``), in the platform's budget."""
        entry = self.platform_named(platform)
        key = key_value(entry.api_key_env, f"platform '{platform}'")
        rate, share = self._platform_rate(entry, key)
        return self._client(key, (f"platform:{platform}", self.api_base), rate, share, stats, key_env=entry.api_key_env)

    def connected_api(
        self, acct: str, platform: str, stats: ApiStats | None = None, *, whole_budget: bool = False
    ) -> StripeApi:
        """Connected account ``acct`` through ``platform``: its key plus the context header.

        ``rate_budget: platform``: every connected account of the platform shares ONE limiter
        per process at the platform's rate / ``max_parallel_runs`` (that many runs at once stay
        within the platform's budget together). ``account``: one limiter per connected account
        at Stripe's default for the key's mode. ``whole_budget``: the platform's whole rate, for
        a caller that knows no mirror run is spending it (the sweep with no run in flight)."""
        entry = self.platform_named(platform)
        if acct in entry.exclude:
            raise UnknownAccountError(f"connected account {acct} is excluded by platform '{platform}'")
        key = key_value(entry.api_key_env, f"connected account {acct} (platform '{platform}')")
        if entry.rate_budget == "account":
            budget, rate, share = acct, default_rate_limit(key), 1.0
        else:
            budget = f"platform:{platform}"
            rate, share = self._platform_rate(entry, key)
            if whole_budget:
                rate, share = rate / share, 1.0
        return self._client(
            key,
            (budget, self.api_base),
            rate,
            share,
            stats,
            key_env=entry.api_key_env,
            stripe_account=acct,
            context_header=entry.context_header,
            platform=platform,
        )

    def shares_budget(self, account: str | None) -> bool:
        """Whether ``account`` is a connected account whose calls share its platform's rate
        budget with the platform's other connected accounts (``rate_budget: platform``)."""
        if not self.multi_account or not account or not account.startswith("acct_"):
            return False
        if any(e.name == account for e in self.plain_accounts()):
            return False
        return self.platform_named(self.platform_of(account)).rate_budget == "platform"

    @staticmethod
    def _platform_rate(entry: StripeAccountEntry, key: str) -> tuple[float, float]:
        """(requests/s, share of the endpoint budget) of one process for the platform."""
        share = 1.0 / max(1, entry.max_parallel_runs)
        return (entry.rate_limit or default_rate_limit(key)) * share, share

    def platform_of(self, acct: str) -> str:
        """The platform a connected account belongs to: the one listing it, the only one, or
        (several platforms) the registry."""
        platforms = self.platforms()
        for entry in platforms:
            if acct in entry.accounts:
                return entry.name
        if len(platforms) == 1:
            return platforms[0].name
        if not platforms:
            raise UnknownAccountError(f"connected account {acct}: STRIPE_ACCOUNTS_FILE names no platform")
        if acct not in _PLATFORM_OF and (self.registry_url or self.registry_from_env):
            from stripe_customer_assets.accounts.registry import read_registry

            for row in read_registry(self._registry_warehouse(), self.registry_schema):
                if row.kind == "connected" and row.platform:
                    remember_platform(row.account, row.platform)
        if acct in _PLATFORM_OF:
            return _PLATFORM_OF[acct]
        raise UnknownAccountError(
            f"connected account {acct}: not in the account registry ({self.registry_schema}.stripe_accounts) "
            f"and several platforms are configured; the discovery sensor stripe_accounts_sweep records it"
        )

    _registry_wh: Warehouse | None = PrivateAttr(default=None)

    def _registry_warehouse(self) -> Warehouse:
        if self._registry_wh is None:
            url = self.registry_url or os.environ.get("WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL)
            self._registry_wh = Warehouse(url)
        return self._registry_wh

    def _client(
        self,
        key: str,
        budget: tuple[str, str],
        rate: float,
        share: float,
        stats: ApiStats | None,
        **kw,
    ) -> StripeApi:
        limiter = _shared(_LIMITERS, budget, rate, RateLimiter)
        endpoint_rate = (self.endpoint_rate_limit or default_endpoint_rate_limit()) * share
        endpoints = _shared(_ENDPOINT_LIMITERS, budget, endpoint_rate, EndpointLimiters)
        return StripeApi(
            key,
            api_base=self.api_base,
            limiter=limiter,
            endpoint_limiters=endpoints,
            max_retries=self.max_retries,
            timeout_s=self.timeout_s,
            stats=stats,
            **kw,
        )

    def _single_api(self, stats: ApiStats | None) -> StripeApi:
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
    """From STRIPE_API_KEY (one account) or STRIPE_ACCOUNTS_FILE (several; checked here, a bad
    file stops the code location with every problem at its line)."""
    common = {
        "api_base": os.environ.get("STRIPE_API_BASE", DEFAULT_API_BASE),
        "rate_limit": float(os.environ.get("STRIPE_RATE_LIMIT", "0") or 0),
        "endpoint_rate_limit": float(os.environ.get("STRIPE_ENDPOINT_RATE_LIMIT", "0") or 0),
        "account": os.environ.get("STRIPE_ACCOUNT_NAME", "default"),
    }
    config = load_accounts()
    if config is None:
        return StripeResource(api_key=dg.EnvVar("STRIPE_API_KEY"), **common)
    extra = {"api_key": dg.EnvVar("STRIPE_API_KEY")} if os.environ.get("STRIPE_API_KEY") else {}
    return StripeResource(
        accounts=entries_from_config(config),
        registry_from_env=True,
        registry_schema=os.environ.get("STRIPE_MIRROR_SCHEMA") or DEFAULT_SCHEMA,
        **extra,
        **common,
    )


def warehouse_resource_from_env() -> WarehouseResource:
    """From WAREHOUSE_URL and STRIPE_MIRROR_SCHEMA (empty means unset); a schema name that is
    not a plain SQL name is refused here, naming the variable."""
    schema = os.environ.get("STRIPE_MIRROR_SCHEMA") or DEFAULT_SCHEMA
    return WarehouseResource(
        url=os.environ.get("WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL),
        mirror_schema=check_name(schema, "STRIPE_MIRROR_SCHEMA"),
    )

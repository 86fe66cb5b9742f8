"""``StripeStandin``'s methods for many accounts: Connect platforms, their connected
accounts, seeding every account at once, per-account rate limits and counters.

A connected account's data (customers, events, idempotency keys, test clocks) is a data set
like any other: ``standin.account(acct_id)`` (or ``standin.dataset(account_id=...)``) offers
the data methods on it (``create_customer``, ``update_customer``, ``delete_customer`` with
their events, ``seed_customers``, ``customers``, ``events``, ...).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .seed import variant_pool

if TYPE_CHECKING:
    from .app import StandinApp
    from .server import StripeStandin


class ConnectMethods:
    app: StandinApp

    # ------------------------------------------------------------------ platforms
    def make_platform(
        self,
        account_id: str | None = None,
        *,
        api_key: str | None = None,
        connect_rate_limit_on: str | None = None,
    ) -> str:
        """Make ``account_id`` (default: the stand-in's account, whose key is
        ``sk_test_standin``) a Connect platform; ``api_key`` is added as a key of it.
        ``connect_rate_limit_on``: "platform" (default) or "account", see
        ``configure_platform``. Returns the platform's account id."""
        account_id = account_id or self.app.account_id
        self.app.registry.make_platform(account_id, connect_rate_limit_on)
        if api_key is not None:
            self.add_api_key(api_key, account_id)  # type: ignore[attr-defined]
        return account_id

    def configure_platform(
        self, platform: str | None = None, *, connect_rate_limit_on: str
    ) -> None:
        """Whether requests made for the platform's connected accounts count against the
        platform's rate limits ("platform") or each connected account's own ("account")."""
        platform = platform or self.app.account_id
        if self.app.registry.platform(platform) is None:
            raise ValueError(f"{platform} is not a platform")
        self.app.registry.make_platform(platform, connect_rate_limit_on)

    def create_platform(
        self,
        connected_accounts: int = 0,
        *,
        account_id: str | None = None,
        api_key: str | None = None,
        customers_per_account: int = 0,
        seed: int = 0,
        record_events: bool = False,
        span_days: float = 730,
        connect_rate_limit_on: str | None = None,
        livemode: bool = False,
        type: str = "standard",
    ) -> dict[str, Any]:
        """A platform with ``connected_accounts`` connected accounts, each seeded with
        ``customers_per_account`` customers. Returns {"platform", "api_key", "accounts"}
        (the connected account ids, oldest first)."""
        platform = self.make_platform(
            account_id, api_key=api_key, connect_rate_limit_on=connect_rate_limit_on
        )
        ids = self.add_connected_accounts(
            connected_accounts, platform, livemode=livemode, type=type
        )
        if customers_per_account:
            self.seed_accounts(
                customers_per_account,
                ids,
                seed=seed,
                record_events=record_events,
                span_days=span_days,
            )
        key = api_key
        if key is None and platform == self.app.account_id:
            key = self.api_key  # type: ignore[attr-defined]
        return {"platform": platform, "api_key": key, "accounts": ids}

    # ------------------------------------------------------------------ connected accounts
    def add_connected_account(
        self,
        platform: str | None = None,
        *,
        account_id: str | None = None,
        api_key: str | None = None,
        type: str = "standard",
        email: str | None = None,
        metadata: Mapping[str, str] | None = None,
        country: str = "US",
        livemode: bool = False,
        onboarded: bool = True,
        created: int | None = None,
        api_version: str | None = None,
    ) -> dict[str, Any]:
        """Connect an account to ``platform`` (default: the stand-in's account, which becomes
        a platform if it is not one). ``api_key``: a key of the connected account itself.
        ``api_version``: the account's default API version (default: the stand-in's).
        Returns the account object as ``GET /v1/accounts/{id}`` answers it."""
        platform = platform or self.app.account_id
        reg = self.app.registry
        if reg.platform(platform) is None:
            reg.make_platform(platform)
        rec = reg.add(
            platform,
            self.app.clock.now_int() if created is None else int(created),
            account_id=account_id,
            livemode=livemode,
            type=type,
            email=email,
            metadata=metadata,
            country=country,
            onboarded=onboarded,
        )
        self.app.datasets.mark_connected(rec.id)
        if api_version is not None:
            self.account(rec.id).store.api_version = api_version
        if api_key is not None:
            self.add_api_key(api_key, rec.id)  # type: ignore[attr-defined]
        return rec.to_dict()

    def add_connected_accounts(
        self, n: int, platform: str | None = None, *, livemode: bool = False, type: str = "standard"
    ) -> list[str]:
        """Connect ``n`` new accounts to ``platform``; their ids, oldest first."""
        return [
            self.add_connected_account(platform, livemode=livemode, type=type)["id"]
            for _ in range(int(n))
        ]

    def delete_connected_account(self, account_id: str) -> dict[str, Any]:
        """Remove a connected account (as ``DELETE /v1/accounts/{id}``): its header and its
        keys stop working; its data is kept, out of reach."""
        self.app.registry.delete(account_id)
        return {"id": account_id, "object": "account", "deleted": True}

    def connected_accounts(
        self, platform: str | None = None, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Connected accounts of ``platform`` (None: every platform's), newest first; with
        ``include_deleted`` also the removed ones, marked ``"deleted": true``."""
        out = []
        for rec in self.app.registry.listed(platform, include_deleted=include_deleted):
            obj = rec.to_dict()
            if include_deleted:
                obj["deleted"] = rec.deleted
            out.append(obj)
        return out

    def account(self, account_id: str, *, livemode: bool | None = None) -> StripeStandin:
        """The data set of one account (a connected account: in the mode it exists in), with
        the stand-in's data methods; same as ``dataset(account_id=..., livemode=...)``."""
        if livemode is None:
            rec = self.app.registry.accounts.get(account_id)
            livemode = rec.livemode if rec is not None else False
        return self.dataset(account_id=account_id, livemode=livemode)  # type: ignore[attr-defined]

    def seed_accounts(
        self,
        customers_per_account: int,
        accounts: Iterable[str] | None = None,
        *,
        platform: str | None = None,
        seed: int = 0,
        record_events: bool = False,
        span_days: float = 730,
        now: int | None = None,
    ) -> int:
        """Seed ``customers_per_account`` generated customers into each of ``accounts``
        (default: every connected account of ``platform``, or of every platform), each account
        with its own ids; the bulk path of ``seed_customers``. Returns the number inserted."""
        if accounts is None:
            accounts = [r.id for r in self.app.registry.listed(platform)]
        accounts = list(accounts)
        variants = variant_pool(seed) if len(accounts) > 1 else None
        total = 0
        was_enabled = gc.isenabled()
        gc.disable()  # many long-lived objects: no cyclic GC passes while they are built
        try:
            for acct in accounts:
                total += self.account(acct).seed_customers(
                    customers_per_account,
                    seed,
                    record_events=record_events,
                    span_days=span_days,
                    now=now,
                    variants=variants,
                )
        finally:
            if total >= 50000:
                gc.freeze()
            if was_enabled:
                gc.enable()
        return total

    # ------------------------------------------------------------------ limits and counters
    def set_account_limits(self, account_id: str, **knobs: Any) -> None:
        """Rate limits of one account (both modes) other than the stand-in's: the knobs
        ``rate_limit``, ``rate_limit_burst``, ``endpoint_rate_limit``,
        ``endpoint_rate_limits``, ``concurrency_limit``, ``endpoint_concurrency_limit``.
        No knobs: the account follows the stand-in's limits again."""
        self.app.limiter.set_account_limits(account_id, **knobs)

    def account_stats(self, account_id: str) -> dict[str, Any]:
        """The counters of the requests that acted on one account: requests (by endpoint),
        statuses, writes applied (by endpoint), 429s."""
        snap = self.app.stats.snapshot()["by_account"]
        empty = {
            "requests": 0,
            "requests_by_endpoint": {},
            "status": {},
            "writes_applied": 0,
            "writes_by_endpoint": {},
            "rate_limited": 0,
        }
        return snap.get(account_id, empty)

    def platforms(self) -> dict[str, dict[str, Any]]:
        """{platform id: {"connect_rate_limit_on", "connected_accounts"}}."""
        reg = self.app.registry
        with reg.lock:
            return {
                pid: {
                    "connect_rate_limit_on": p.connect_rate_limit_on,
                    "connected_accounts": len(p.keys[False]) + len(p.keys[True]),
                }
                for pid, p in reg.platforms.items()
            }

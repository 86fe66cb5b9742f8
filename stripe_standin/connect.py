"""Stripe Connect: platforms, their connected accounts, the ``Stripe-Account`` and
``Stripe-Context`` headers, and the account objects of ``/v1/account`` and ``/v1/accounts``.

As at Stripe (https://docs.stripe.com/connect/authentication, https://docs.stripe.com/context):
a platform's key plus ``Stripe-Account: acct_x`` (or ``Stripe-Context: acct_x``, which
supersedes it) acts on the connected account ``acct_x``: its own customers, events,
idempotency keys and test clocks. A header naming an account the key cannot reach answers 403
"does not have access to account". ``GET /v1/accounts`` lists the platform's connected
accounts ("If you're not a platform, the list is empty", the spec says).

A connected account exists in the mode it was created in (a test-mode key creates test
accounts, https://docs.stripe.com/api/accounts/delete): a key of the other mode cannot reach it.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .customers import apply_metadata, check_email
from .errors import StripeError, invalid, no_such
from .store import Store, created_range, make_key

ACCOUNT_TYPES = ("custom", "express", "standard")
RATE_LIMIT_ON = ("platform", "account")
_ALNUM = string.ascii_letters + string.digits


def no_access(masked_key: str, account: str) -> StripeError:
    return StripeError(
        403,
        f"The provided key '{masked_key}' does not have access to account '{account}' (or "
        "that account does not exist). Application access may have been revoked.",
    )


def not_a_platform() -> StripeError:
    return invalid(
        "You can only create new accounts if you've signed up for Connect, which you can do "
        "at https://dashboard.stripe.com/account/applications/settings."
    )


@dataclass
class AccountRecord:
    """A connected account of a platform."""

    id: str
    platform: str
    created: int
    key: int  # sort key: created, then creation order
    livemode: bool
    type: str = "standard"
    email: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    country: str = "US"
    onboarded: bool = False  # details submitted, charges and payouts enabled
    capabilities: dict[str, str] = field(default_factory=dict)
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return account_object(
            self.id,
            self.created,
            type=self.type,
            email=self.email,
            metadata=self.metadata,
            country=self.country,
            onboarded=self.onboarded,
            capabilities=self.capabilities,
            controller={
                "is_controller": True,
                "type": "account" if self.type == "standard" else "application",
            },
        )


@dataclass
class PlatformRecord:
    id: str
    # Which limit a request made for a connected account counts against: the platform's
    # ("platform") or the connected account's own ("account").
    connect_rate_limit_on: str = "platform"
    keys: dict[bool, list[int]] = field(default_factory=lambda: {False: [], True: []})
    by_key: dict[int, AccountRecord] = field(default_factory=dict)


class AccountRegistry:
    """Platforms and connected accounts (thread-safe)."""

    def __init__(self, seed: int | None):
        self.lock = threading.RLock()
        self.platforms: dict[str, PlatformRecord] = {}
        self.accounts: dict[str, AccountRecord] = {}
        self._seq = 0
        self.rng = random.Random(None if seed is None else f"accounts-{seed}")

    # ------------------------------------------------------------------ platforms
    def make_platform(
        self, account_id: str, connect_rate_limit_on: str | None = None
    ) -> PlatformRecord:
        with self.lock:
            if account_id in self.accounts:
                raise ValueError(f"{account_id} is a connected account; it cannot be a platform")
            plat = self.platforms.get(account_id)
            if plat is None:
                plat = self.platforms[account_id] = PlatformRecord(account_id)
            if connect_rate_limit_on is not None:
                if connect_rate_limit_on not in RATE_LIMIT_ON:
                    raise ValueError(
                        f"connect_rate_limit_on must be one of {RATE_LIMIT_ON}, not "
                        f"{connect_rate_limit_on!r}"
                    )
                plat.connect_rate_limit_on = connect_rate_limit_on
            return plat

    def platform(self, account_id: str) -> PlatformRecord | None:
        return self.platforms.get(account_id)

    # ------------------------------------------------------------------ connected accounts
    def new_id(self) -> str:
        while True:
            aid = "acct_1" + "".join(self.rng.choices(_ALNUM, k=15))
            if aid not in self.accounts and aid not in self.platforms:
                return aid

    def add(
        self,
        platform_id: str,
        created: int,
        *,
        account_id: str | None = None,
        livemode: bool = False,
        type: str = "standard",
        email: str | None = None,
        metadata: Mapping[str, str] | None = None,
        country: str = "US",
        onboarded: bool = False,
        capabilities: Mapping[str, str] | None = None,
    ) -> AccountRecord:
        if type not in ACCOUNT_TYPES:
            raise ValueError(f"type must be one of {ACCOUNT_TYPES}, not {type!r}")
        with self.lock:
            plat = self.platforms.get(platform_id)
            if plat is None:
                raise ValueError(f"{platform_id} is not a platform")
            if account_id is None:
                account_id = self.new_id()
            elif account_id in self.accounts or account_id in self.platforms:
                raise ValueError(f"account {account_id} exists already")
            if capabilities is None:
                capabilities = (
                    {"card_payments": "active", "transfers": "active"} if onboarded else {}
                )
            self._seq += 1
            rec = AccountRecord(
                account_id,
                platform_id,
                int(created),
                make_key(created, self._seq),
                bool(livemode),
                type,
                email,
                dict(metadata or {}),
                country,
                onboarded,
                dict(capabilities or {}),
            )
            self.accounts[account_id] = rec
            keys = plat.keys[rec.livemode]
            if not keys or rec.key > keys[-1]:
                keys.append(rec.key)
            else:
                keys.append(rec.key)
                keys.sort()
            plat.by_key[rec.key] = rec
            return rec

    def delete(self, account_id: str) -> AccountRecord:
        with self.lock:
            rec = self.accounts.get(account_id)
            if rec is None or rec.deleted:
                raise KeyError(f"no connected account {account_id}")
            rec.deleted = True
            plat = self.platforms[rec.platform]
            plat.keys[rec.livemode].remove(rec.key)
            return rec

    def connected(self, account_id: str) -> AccountRecord | None:
        """The connected account ``account_id`` (None if there is none, or it was deleted)."""
        rec = self.accounts.get(account_id)
        return None if rec is None or rec.deleted else rec

    def is_deleted(self, account_id: str) -> bool:
        rec = self.accounts.get(account_id)
        return rec is not None and rec.deleted

    def reachable(self, own: str, target: str, livemode: bool) -> bool:
        """Can a key of ``own`` (in this mode) act on ``target``?"""
        if target == own:
            return True
        rec = self.connected(target)
        return rec is not None and rec.platform == own and rec.livemode == livemode

    def rate_account(self, acting: str) -> str:
        """The account whose rate limits a request acting on ``acting`` counts against."""
        rec = self.accounts.get(acting)
        if rec is None:
            return acting
        plat = self.platforms.get(rec.platform)
        if plat is not None and plat.connect_rate_limit_on == "platform":
            return rec.platform
        return acting

    def listed(
        self, platform_id: str | None = None, *, include_deleted: bool = False
    ) -> list[AccountRecord]:
        """Connected accounts (of one platform, or all), newest first."""
        with self.lock:
            out = [
                r
                for r in self.accounts.values()
                if (platform_id is None or r.platform == platform_id)
                and (include_deleted or not r.deleted)
            ]
        out.sort(key=lambda r: r.key, reverse=True)
        return out

    def page(
        self,
        platform_id: str,
        livemode: bool,
        *,
        limit: int,
        starting_after: str | None,
        ending_before: str | None,
        created: Any,
    ) -> tuple[list[AccountRecord], bool]:
        """A newest-first page of the platform's connected accounts of one mode."""
        with self.lock:
            plat = self.platforms.get(platform_id)
            after_key = before_key = None
            for param, aid in (
                ("starting_after", starting_after),
                ("ending_before", ending_before),
            ):
                if aid is None:
                    continue
                rec = self.accounts.get(aid)
                if rec is None or plat is None or rec.platform != platform_id:
                    raise no_such("account", aid, param)
                if param == "starting_after":
                    after_key = rec.key
                else:
                    before_key = rec.key
            if plat is None:
                return [], False
            keys = plat.keys[livemode]
            lo, hi = created_range(created)
            lo_idx, hi_idx = Store._bounds(keys, lo, hi)
            page, has_more = Store._page(keys, lo_idx, hi_idx, limit, after_key, before_key)
            return [plat.by_key[k] for k in page], has_more


def create_params(p: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /v1/accounts`` parameters the stand-in keeps, checked as Stripe checks them
    (the rest of the spec's parameters are validated and accepted without effect)."""
    out: dict[str, Any] = {"type": p.get("type", "standard")}
    email = p.get("email")
    if email:
        check_email(email)
        out["email"] = email
    if "metadata" in p:
        out["metadata"] = apply_metadata({}, p["metadata"])
    if p.get("country"):
        if len(p["country"]) != 2 or not p["country"].isalpha():
            raise invalid(
                f"Country '{p['country']}' is unknown. Try using a 2-character alphanumeric country code instead, such as 'US', 'EG', or 'GB'. A full list of country codes is available at https://stripe.com/docs/connect/cross-border-payouts.",
                "country",
            )
        out["country"] = p["country"].upper()
    caps = p.get("capabilities") or {}
    out["capabilities"] = {
        name: "inactive"
        for name, opts in caps.items()
        if isinstance(opts, dict) and opts.get("requested")
    }
    return out


def account_object(
    account_id: str,
    created: int,
    *,
    type: str = "standard",
    email: str | None = None,
    metadata: Mapping[str, str] | None = None,
    country: str = "US",
    onboarded: bool = True,
    capabilities: Mapping[str, str] | None = None,
    controller: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An account as ``GET /v1/account`` answers it, shaped by the spec's ``account`` schema
    (2023-08-16): the fields Stripe returns for an account, with ``settings`` holding the
    four sections the schema requires."""
    if capabilities is None:
        capabilities = {"card_payments": "active", "transfers": "active"} if onboarded else {}
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "mcc": None,
            "name": None,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": None,
        "capabilities": dict(capabilities),
        "charges_enabled": onboarded,
        "controller": controller or {"type": "account"},
        "country": country,
        "created": created,
        "default_currency": "usd",
        "details_submitted": onboarded,
        "email": email,
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "metadata": dict(metadata or {}),
        "payouts_enabled": onboarded,
        "settings": {
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": False},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": email or account_id, "timezone": "Etc/UTC"},
            "payments": {
                "statement_descriptor": None,
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
            },
        },
        "type": type,
    }

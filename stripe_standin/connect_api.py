"""The request side of Connect: which account a request acts on (``Stripe-Account`` /
``Stripe-Context``) and the ``/v1/account`` and ``/v1/accounts`` endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import params as P
from .connect import AccountRegistry, account_object, create_params, no_access, not_a_platform
from .errors import invalid, no_such
from .modes import ACCOUNT_CREATED


def acting_account(
    registry: AccountRegistry, own: str, livemode: bool, headers: Mapping[str, str], masked_key: str
) -> str:
    """The account a request acts on: the key's own, or the connected account its
    ``Stripe-Context`` / ``Stripe-Account`` header names (403 when the key cannot reach it)."""
    context = headers.get("stripe-context", "").strip()
    account = headers.get("stripe-account", "").strip()
    if context and account and context != account:
        raise invalid(
            f"The Stripe-Account header ('{account}') and the Stripe-Context header "
            f"('{context}') name different accounts. Send one of them (Stripe-Context "
            "supersedes Stripe-Account), or the same account in both."
        )
    target = context or account
    if not target:
        return own
    if context and "/" in context:  # a context path: the key's own account, then a connected one
        first, _, rest = context.partition("/")
        target = rest if first == own and "/" not in rest else context
    if not registry.reachable(own, target, livemode):
        raise no_access(masked_key, target)
    return target


def account_body(registry: AccountRegistry, account_id: str) -> dict[str, Any]:
    rec = registry.accounts.get(account_id)
    if rec is not None:
        return rec.to_dict()
    return account_object(account_id, ACCOUNT_CREATED)


def run_accounts(
    registry: AccountRegistry,
    endpoint: str,
    ident: str | None,
    p: dict[str, Any],
    *,
    own: str,
    acting: str,
    livemode: bool,
    now: int,
    masked_key: str,
    page_args: Any,
) -> tuple[Any, bool]:
    """Answer an ``account.*`` / ``accounts.*`` endpoint: (JSON object, whether it wrote)."""
    if endpoint == "account.retrieve":
        P.check_expand(p.get("expand"), "account")
        return account_body(registry, acting), False
    if endpoint == "accounts.list":
        P.check_expand(p.get("expand"), "account", list_prefix=True)
        limit, after, before = page_args(p)
        if registry.platform(acting) is None:  # "If you're not a platform, the list is empty."
            if after or before:
                raise no_such(
                    "account", after or before or "", "starting_after" if after else "ending_before"
                )
            return {"object": "list", "data": [], "has_more": False, "url": "/v1/accounts"}, False
        recs, has_more = registry.page(
            acting,
            livemode,
            limit=limit,
            starting_after=after,
            ending_before=before,
            created=p.get("created"),
        )
        data = [r.to_dict() for r in recs]
        return {"object": "list", "data": data, "has_more": has_more, "url": "/v1/accounts"}, False
    if endpoint == "accounts.create":
        P.check_expand(p.get("expand"), "account")
        if registry.platform(acting) is None:
            raise not_a_platform()
        kept = create_params(p)
        rec = registry.add(acting, now, livemode=livemode, **kept)
        return rec.to_dict(), True
    target = ident or ""
    if endpoint == "accounts.retrieve":
        P.check_expand(p.get("expand"), "account")
        if target != acting and not registry.reachable(acting, target, livemode):
            raise no_access(masked_key, target)
        return account_body(registry, target), False
    if endpoint == "accounts.delete":
        rec = registry.connected(target)
        if rec is None or rec.platform not in (own, acting) or rec.livemode != livemode:
            if target in (own, acting):
                raise invalid(
                    "You cannot delete your own account with the API; use the account "
                    "settings of the Dashboard."
                )
            raise no_access(masked_key, target)
        if rec.livemode and rec.type == "standard":
            raise invalid("Standard accounts created using live-mode keys cannot be deleted.")
        registry.delete(target)
        return {"id": target, "object": "account", "deleted": True}, True
    raise AssertionError(endpoint)

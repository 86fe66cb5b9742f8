"""Which accounts a sweep mirrors: the plain accounts, and each platform's connected accounts.

A platform with ``discover: true`` lists its connected accounts (``GET /v1/accounts``, 100 a
page) on every sweep; its explicit ``accounts`` are added, its ``exclude`` removed. The
registry (``registry.py``) records the result, and the partition keys of the mirror follow
it: ``to_add`` (new accounts: mirrored on the next run request) and ``to_remove`` (no longer
configured or listed: their rows stay in the mirror, they are no longer refreshed).
A platform whose listing fails keeps its accounts as they were and is named in ``problems``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from stripe_customer_assets.accounts.registry import AccountRef, update_registry
from stripe_customer_assets.resources import StripeResource, remember_platform
from stripe_customer_assets.stripe_api import ApiStats, StripeAccessError, StripeRequestError
from stripe_customer_assets.stripe_api.reads import list_connected_accounts
from stripe_customer_assets.warehouse import Warehouse


@dataclass
class Discovery:
    accounts: list[AccountRef]  # every account to mirror now
    to_add: list[str]  # partition keys to add
    to_remove: list[str]  # partition keys to remove
    registered: list[str] = field(default_factory=list)  # new or back in the registry
    unregistered: list[str] = field(default_factory=list)  # marked removed in the registry
    problems: list[str] = field(default_factory=list)  # platforms whose listing failed
    calls: int = 0  # Stripe calls spent listing

    @property
    def keys(self) -> list[str]:
        return [ref.account for ref in self.accounts]


def configured_accounts(
    stripe: StripeResource, stats: ApiStats | None = None
) -> tuple[list[AccountRef], set[str | None], list[str]]:
    """(accounts, platforms listed completely (None: the plain accounts), problems)."""
    refs = [AccountRef(entry.name, "plain") for entry in stripe.plain_accounts()]
    complete: set[str | None] = {None}
    problems: list[str] = []
    for platform in stripe.platforms():
        ids: list[str] = list(platform.accounts)
        listed_ok = True
        if platform.discover:
            try:
                listed = list_connected_accounts(stripe.platform_api(platform.name, stats))
                ids += [a["id"] for a in listed if isinstance(a, dict) and a.get("id")]
            except (StripeAccessError, StripeRequestError, RuntimeError) as err:
                listed_ok = False
                problems.append(
                    f"platform '{platform.name}': listing its connected accounts failed: {err}"
                )
        if listed_ok:
            complete.add(platform.name)
        excluded = set(platform.exclude)
        for acct in dict.fromkeys(ids):  # order kept, duplicates once
            if acct in excluded:
                continue
            remember_platform(acct, platform.name)
            refs.append(AccountRef(acct, "connected", platform.name, acct))
    return refs, complete, problems


def discover_accounts(
    stripe: StripeResource,
    warehouse: Warehouse,
    schema: str,
    existing_partitions: Iterable[str],
    *,
    now: dt.datetime | None = None,
    stats: ApiStats | None = None,
) -> Discovery:
    """List every platform's connected accounts, update the registry, and say which partition
    keys to add and remove (against ``existing_partitions``)."""
    stats = stats or ApiStats()
    refs, complete, problems = configured_accounts(stripe, stats)
    registered, unregistered = update_registry(warehouse, schema, refs, complete=complete, now=now)
    keys = {ref.account for ref in refs}
    existing = set(existing_partitions)
    # Keys of a platform whose listing failed stay partitions (not known to be gone).
    kept = {
        key for key in existing if key not in keys and not _listed_completely(key, stripe, complete)
    }
    return Discovery(
        accounts=refs,
        to_add=sorted(keys - existing),
        to_remove=sorted(existing - keys - kept),
        registered=registered,
        unregistered=unregistered,
        problems=problems,
        calls=stats.calls,
    )


def _listed_completely(key: str, stripe: StripeResource, complete: set[str | None]) -> bool:
    if not key.startswith("acct_"):
        return True  # a plain account: the file is the whole truth
    try:
        return stripe.platform_of(key) in complete
    except ValueError:
        return True  # no platform reaches it any more

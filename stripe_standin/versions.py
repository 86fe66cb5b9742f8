"""API versions: how a customer looks in older Stripe API versions.

The store keeps every customer in the shape of 2023-08-16 (``API_VERSION``, the spec's). An
answer is rendered in the version the request asks for (``Stripe-Version``), or the
account's default version when it asks for none; an event is rendered once, in the
account's default version at the time it is created, and keeps that shape (its
``api_version``). Versions after 2023-08-16 are rendered as 2023-08-16: no later change to
the customer object is modelled.

The customer changes modelled, from Stripe's API changelog:

- 2019-10-17: ``account_balance`` renamed to ``balance``
  (https://docs.stripe.com/changelog/2019-10-17/renames-account-balance-customer-object).
- 2019-12-03: the deprecated ``tax_info`` and ``tax_info_verification`` removed
  (https://docs.stripe.com/changelog/2019-12-03/removes-deprecated-tax-information-fields).
- 2020-08-27: ``sources``, ``subscriptions`` and ``tax_ids`` no longer included by default
  (https://docs.stripe.com/changelog/2020-08-27/deprecates-auto-expansion-customer-sources
  and its siblings for subscriptions and tax IDs).

Rendering goes backwards from the stored shape: each change newer than the wanted version
is undone (a rename back, a removed field back as ``null``, a list back as the empty list
the stand-in holds).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .customers import ordered


@dataclass(frozen=True)
class Change:
    version: str  # the first version with the change
    kind: str  # "rename" | "removed" | "not_included"
    fields: tuple[str, ...]  # rename: (old, new); otherwise the fields


CUSTOMER_CHANGES: tuple[Change, ...] = (
    Change("2019-10-17", "rename", ("account_balance", "balance")),
    Change("2019-12-03", "removed", ("tax_info", "tax_info_verification")),
    Change("2020-08-27", "not_included", ("sources", "subscriptions", "tax_ids")),
)


def version_date(version: str) -> str:
    """``2024-09-30.acacia`` -> ``2024-09-30`` (versions compare by their date)."""
    return version.split(".", 1)[0]


def pending_changes(version: str) -> list[Change]:
    """The changes the stored shape has and ``version`` does not (newest first)."""
    date = version_date(version)
    return [c for c in reversed(CUSTOMER_CHANGES) if date < c.version]


def is_current_shape(version: str) -> bool:
    """Whether a customer in ``version`` looks as stored (no modelled change after it)."""
    return not pending_changes(version)


def render_customer(customer: dict[str, Any], version: str) -> dict[str, Any]:
    """``customer`` (stored shape) as API version ``version`` shows it."""
    changes = pending_changes(version)
    if not changes or customer.get("deleted") is True:
        return customer
    out = copy.deepcopy(customer)
    for change in changes:
        if change.kind == "rename":
            old, new = change.fields
            if new in out:
                out[old] = out.pop(new)
        elif change.kind == "removed":
            for name in change.fields:
                out.setdefault(name, None)
        elif change.kind == "not_included":
            for name in change.fields:
                out.setdefault(
                    name,
                    {"object": "list", "data": [], "has_more": False, "total_count": 0,
                     "url": f"/v1/customers/{customer.get('id')}/{name}"},
                )
    return ordered(out)


def render_previous(previous: dict[str, Any], version: str) -> dict[str, Any]:
    """An event's ``previous_attributes`` with the renames of ``version`` applied."""
    out = dict(previous)
    for change in pending_changes(version):
        if change.kind == "rename":
            old, new = change.fields
            if new in out:
                out[old] = out.pop(new)
    return dict(sorted(out.items()))



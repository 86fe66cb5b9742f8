"""Stripe API versions of the customer JSON the mirror receives.

The project pins the ``Stripe-Version`` it sends (``stripe_api.client.STRIPE_API_VERSION``),
so lists and retrieves come in one version. Events do not: each event's ``data.object`` is
rendered in the account's default API version at the time the event was created (its
``api_version``), whatever ``Stripe-Version`` the request sends (Stripe's API reference,
``GET /v1/events``). The mirror keeps that JSON as it came (``raw``, with ``api_version``)
and, when its version has another customer shape than the pinned version, also the same
customer rewritten in the pinned version's shape (``raw_normalized``). Changes are detected
on the normalized JSON, so a full scan does not count a customer as updated, nor hand it
to the pipelines again, because only the shape of its version differs.

The customer changes known here, from Stripe's API changelog (one table, oldest first):

- 2019-10-17: ``account_balance`` renamed to ``balance``;
- 2019-12-03: ``tax_info`` and ``tax_info_verification`` removed;
- 2020-08-27: ``sources``, ``subscriptions`` and ``tax_ids`` no longer included by default.

Forward (old JSON to a newer shape) every change can be applied. Backward (new JSON to an
older pin) a rename is undone and a removed field comes back as ``null``, but a list that
is no longer included cannot be made up: such JSON is compared as it is, which can only
report a change too many, never miss one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    version: str  # the first API version with the change
    kind: str  # "rename" (fields: old, new) | "removed" | "not_included"
    fields: tuple[str, ...]


CUSTOMER_CHANGES: tuple[Change, ...] = (
    Change("2019-10-17", "rename", ("account_balance", "balance")),
    Change("2019-12-03", "removed", ("tax_info", "tax_info_verification")),
    Change("2020-08-27", "not_included", ("sources", "subscriptions", "tax_ids")),
)


def version_date(version: str | None) -> str | None:
    """``2024-09-30.acacia`` -> ``2024-09-30``; versions compare by their date."""
    return version.split(".", 1)[0] if version else None


def changes_between(source: str | None, target: str | None) -> list[Change]:
    """The customer changes that lie between two versions (either direction)."""
    a, b = version_date(source), version_date(target)
    if a is None or b is None or a == b:
        return []
    low, high = min(a, b), max(a, b)
    return [c for c in CUSTOMER_CHANGES if low < c.version <= high]


def same_shape(source: str | None, target: str | None) -> bool:
    """Whether a customer looks the same in both versions (as far as the table knows).

    An unknown version (None) is taken to be in the pinned shape.
    """
    return not changes_between(source, target)


def normalize(customer: dict[str, Any], source: str | None, target: str) -> dict[str, Any] | None:
    """``customer`` (rendered in ``source``) in ``target``'s shape, or None when the shapes
    are the same (the JSON is used as it is)."""
    changes = changes_between(source, target)
    if not changes:
        return None
    forward = (version_date(source) or "") < (version_date(target) or "")
    out = dict(customer)
    for change in changes if forward else reversed(changes):
        if change.kind == "rename":
            old, new = change.fields if forward else reversed(change.fields)
            if old in out:
                out[new] = out.pop(old)
        elif change.kind in ("removed", "not_included"):
            for name in change.fields:
                if forward:
                    out.pop(name, None)
                elif change.kind == "removed":
                    out.setdefault(name, None)
    return ordered(out)


def ordered(customer: dict[str, Any]) -> dict[str, Any]:
    """Stripe's key order: ``id``, ``object``, then the rest alphabetically."""
    head = {k: customer[k] for k in ("id", "object") if k in customer}
    return {**head, **{k: customer[k] for k in sorted(customer) if k not in head}}


def normalized_text(customer: dict[str, Any], source: str | None, target: str) -> str | None:
    """``normalize`` as the JSON text the mirror stores, or None."""
    out = normalize(customer, source, target)
    return None if out is None else json.dumps(out, ensure_ascii=False)

"""Field-level differences between what a model row asks for and what Stripe holds."""

from __future__ import annotations

from typing import Any

from stripe_customer_assets.export.fields import current_value

Changes = dict[str, tuple[Any, Any]]  # Stripe path -> (current, new)


def comparable(value: Any) -> Any:
    """Stripe stores "" and [] as no value; compare them as None."""
    if value == "" or value == []:
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


def same(current: Any, new: Any) -> bool:
    return comparable(current) == comparable(new)


def changes_for(desired: dict[str, Any], customer: dict[str, Any] | None) -> Changes:
    """Each desired field whose value differs from the customer's (all of them on create)."""
    changes: Changes = {}
    for path, new in desired.items():
        old = current_value(customer, path)
        if not same(old, new):
            changes[path] = (old, new)
    return changes

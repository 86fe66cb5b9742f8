"""The fields of a Stripe customer, nested, as the pinned API version (2023-08-16) renders them.

From Stripe's OpenAPI description (``components.schemas.customer`` of spec3.yaml; a test
checks this table against it). A pipeline's filter property or mapping path, and an export's
Stripe field, must name a field here; a typo (``address.countyr``) is refused at load.

Each entry is one of:

- ``LEAF``: a value (text, number, boolean, timestamp), no sub-fields;
- a dict: an object with exactly these fields;
- ``ListOf(item)``: a list; a numeric segment indexes it (``preferred_locales.0``);
- ``FREE``: an object whose keys are the account's own (``metadata.<key>``) or one Stripe
  may expand into another object (``discount``, ``test_clock``): any sub-path is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LEAF = "leaf"
FREE = "free"


@dataclass(frozen=True)
class ListOf:
    item: Any


ADDRESS: dict[str, Any] = {
    "city": LEAF,
    "country": LEAF,
    "line1": LEAF,
    "line2": LEAF,
    "postal_code": LEAF,
    "state": LEAF,
}

CUSTOMER_FIELDS: dict[str, Any] = {
    "address": ADDRESS,
    "balance": LEAF,
    "cash_balance": FREE,
    "created": LEAF,
    "currency": LEAF,
    "default_source": FREE,
    "delinquent": LEAF,
    "description": LEAF,
    "discount": FREE,
    "email": LEAF,
    "id": LEAF,
    "invoice_credit_balance": FREE,
    "invoice_prefix": LEAF,
    "invoice_settings": {
        "custom_fields": ListOf({"name": LEAF, "value": LEAF}),
        "default_payment_method": FREE,
        "footer": LEAF,
        "rendering_options": {"amount_tax_display": LEAF},
    },
    "livemode": LEAF,
    "metadata": FREE,
    "name": LEAF,
    "next_invoice_sequence": LEAF,
    "object": LEAF,
    "phone": LEAF,
    "preferred_locales": ListOf(LEAF),
    "shipping": {
        "address": ADDRESS,
        "carrier": LEAF,
        "name": LEAF,
        "phone": LEAF,
        "tracking_number": LEAF,
    },
    "sources": FREE,
    "subscriptions": FREE,
    "tax": {
        "automatic_tax": LEAF,
        "ip_address": LEAF,
        "location": {"country": LEAF, "source": LEAF, "state": LEAF},
    },
    "tax_exempt": LEAF,
    "tax_ids": FREE,
    "test_clock": FREE,
}

# Top-level fields of API versions after the pinned one: an account whose default version is
# newer sends them in events. Accepted as they come (no sub-field check).
NEWER_FIELDS: dict[str, Any] = {
    "business_name": LEAF,
    "customer_account": LEAF,
    "individual_name": LEAF,
}


def field_problem(segments: tuple[str | int, ...]) -> str | None:
    """Why ``segments`` (``("address", "countyr")``) names no customer field, or None."""
    text = ".".join(str(s) for s in segments)
    node: Any = {**CUSTOMER_FIELDS, **NEWER_FIELDS}
    where = "a Stripe customer"
    for index, segment in enumerate(segments):
        if node is FREE:
            return None
        if isinstance(node, ListOf):
            if not isinstance(segment, int):
                return f"'{where}' is a list: index it with a number, e.g. {where}.0"
            node, where = node.item, f"{where}.{segment}"
            continue
        if node is LEAF:
            return f"'{where}' has no fields; use '{where}' alone (in '{text}')"
        fields = node
        if str(segment) not in fields:
            return unknown_name(str(segment), fields, text, where)
        node = fields[str(segment)]
        where = ".".join(str(s) for s in segments[: index + 1])
    return None


def unknown_name(name: str, fields: dict[str, Any], text: str, where: str) -> str:
    from difflib import get_close_matches

    close = get_close_matches(name, fields, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    owner = "a Stripe customer has" if where == "a Stripe customer" else f"{where} has"
    in_text = f" in '{text}'" if text != name else ""
    return f"unknown field '{name}'{in_text}; {hint}{owner}: {', '.join(sorted(fields))}"

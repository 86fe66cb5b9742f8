"""The Stripe customer fields an export can write, and where each lives in a customer.

A field is named by its path in the Customer object: ``name``, ``address.city``,
``shipping.address.line1``, ``metadata.<key>``. Limits come from Stripe's API description
(customer create / update parameters; metadata: 50 keys, key 40 characters without square
brackets, value 500 characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ADDRESS_PARTS = ("city", "country", "line1", "line2", "postal_code", "state")
TAX_EXEMPT_VALUES = ("none", "exempt", "reverse")

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
# Quotes and backslashes are refused as well: the key is matched inside warehouse JSON paths.
_METADATA_KEY_FORBIDDEN = re.compile(r"[\[\]'\"\\]")

_TEXT_LIMITS = {"name": 256, "email": 512, "phone": 20, "description": 5000}


@dataclass(frozen=True)
class StripeField:
    """One writable customer field.

    ``group``: "" (top level), "address", "shipping" (sent as whole objects) or "metadata"
    (sent key by key). ``kind``: "text", "email", "locales" or "tax_exempt".
    """

    path: str
    group: str
    kind: str
    max_length: int | None

    @property
    def leaf(self) -> str:
        """The last name of the path: the whole metadata key for ``metadata.<key>``."""
        return split_path(self.path)[-1]

    def cleared(self) -> Any:
        """The value that means "no value" for this field once Stripe has applied it."""
        if self.kind == "locales":
            return []
        if self.kind == "tax_exempt":
            return "none"
        return None


def _catalog() -> dict[str, StripeField]:
    fields = {
        "name": StripeField("name", "", "text", _TEXT_LIMITS["name"]),
        "email": StripeField("email", "", "email", _TEXT_LIMITS["email"]),
        "phone": StripeField("phone", "", "text", _TEXT_LIMITS["phone"]),
        "description": StripeField("description", "", "text", _TEXT_LIMITS["description"]),
        "preferred_locales": StripeField("preferred_locales", "", "locales", None),
        "tax_exempt": StripeField("tax_exempt", "", "tax_exempt", None),
        "shipping.name": StripeField("shipping.name", "shipping", "text", 5000),
        "shipping.phone": StripeField("shipping.phone", "shipping", "text", 5000),
    }
    for part in ADDRESS_PARTS:
        fields[f"address.{part}"] = StripeField(f"address.{part}", "address", "text", 5000)
        path = f"shipping.address.{part}"
        fields[path] = StripeField(path, "shipping", "text", 5000)
    return fields


FIELDS = _catalog()

# The hashes Stripe replaces whole on update, and the parts an export can map in each.
HASHES = ("address", "shipping")


def hash_parts(group: str) -> list[str]:
    """Every mappable path of the hash ``group`` (``address`` or ``shipping``)."""
    return [path for path, f in FIELDS.items() if f.group == group]


def metadata_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a metadata key, or None."""
    if not key:
        return "the metadata key is empty"
    if len(key) > METADATA_KEY_MAX:
        return f"metadata key '{key}' has {len(key)} characters; Stripe allows {METADATA_KEY_MAX}"
    if _METADATA_KEY_FORBIDDEN.search(key):
        return f"metadata key '{key}' contains square brackets, quotes or backslashes"
    return None


def split_path(path: str) -> tuple[str, ...]:
    """The names along ``path`` in a customer.

    ``metadata.<key>`` is two names whatever the key holds: Stripe refuses only square
    brackets in metadata keys, so ``metadata.crm.id`` is the key ``crm.id``, not ``id``
    under ``crm``. Other paths split at every dot (``shipping.address.city``).
    """
    if path.startswith("metadata."):
        return ("metadata", path[len("metadata.") :])
    return tuple(path.split("."))


def stripe_field(path: str) -> StripeField | None:
    """The field at ``path``, or None when exports cannot write it."""
    if path.startswith("metadata."):
        key = path[len("metadata.") :]
        if metadata_key_problem(key):
            return None
        return StripeField(path, "metadata", "text", METADATA_VALUE_MAX)
    return FIELDS.get(path)


def writable_paths() -> list[str]:
    return [*FIELDS, "metadata.<key>"]


def current_value(customer: dict[str, Any] | None, path: str) -> Any:
    """The value at ``path`` in a customer as Stripe returned it (None when absent)."""
    node: Any = customer
    for part in split_path(path):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node

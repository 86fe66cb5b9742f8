"""Stripe customer paths (``email``, ``address.country``, ``metadata.plan``) and where they live.

In the mirror, the scalar fields have typed columns; ``metadata``, ``address`` and
``shipping`` are JSON columns; every other field is read from the ``raw`` customer JSON.
``account`` is the mirror's own column (the Stripe account the customer belongs to, not a
Stripe field): filters compare it like a text field, and the transformations see it as
``customer["account"]``.
Under ``metadata`` the rest of the path is one key (``metadata.a.b`` is the key ``a.b``),
since metadata is a flat map of strings. Elsewhere a numeric segment indexes a list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from stripe_customer_assets.stripe_api.customer_fields import field_problem

Kind = Literal["text", "integer", "boolean", "timestamp", "json"]

# Typed mirror columns and the kind of value they hold.
TYPED_COLUMNS: dict[str, Kind] = {
    "id": "text",
    "email": "text",
    "name": "text",
    "phone": "text",
    "description": "text",
    "currency": "text",
    "created": "timestamp",
    "balance": "integer",
    "delinquent": "boolean",
}
JSON_COLUMNS = ("metadata", "address", "shipping")
# Columns of the mirror that are not Stripe fields.
MIRROR_COLUMNS: dict[str, Kind] = {"account": "text"}

@dataclass(frozen=True)
class CustomerPath:
    """A path into a Stripe customer, with where the mirror keeps it."""

    text: str
    segments: tuple[str | int, ...]

    @property
    def head(self) -> str:
        return str(self.segments[0])

    @property
    def kind(self) -> Kind:
        if len(self.segments) == 1 and self.head in TYPED_COLUMNS:
            return TYPED_COLUMNS[self.head]
        if len(self.segments) == 1 and self.head in MIRROR_COLUMNS:
            return MIRROR_COLUMNS[self.head]
        return "json"

    @property
    def column(self) -> str:
        """The mirror column that holds the value."""
        if len(self.segments) == 1 and (self.head in TYPED_COLUMNS or self.head in MIRROR_COLUMNS):
            return self.head
        if self.head in JSON_COLUMNS and len(self.segments) > 1:
            return self.head
        return "raw"

    @property
    def json_path(self) -> tuple[str | int, ...]:
        """The path inside ``column`` (empty for a typed column)."""
        if self.column == "raw":
            return self.segments
        return self.segments[1:]


def parse_path(text: str) -> CustomerPath:
    """Parse a dotted path; raises ValueError naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a customer property path is required, e.g. email or metadata.plan")
    text = text.strip()
    parts = text.split(".")
    return path_from_segments(parts, text)


def path_from_segments(parts: Sequence[str], text: str | None = None) -> CustomerPath:
    """The path of ``parts``; raises ValueError when a Stripe customer has no such field
    (checked against Stripe's customer object, ``stripe_api.customer_fields``)."""
    head = parts[0]
    text = text or ".".join(parts)
    if head == "metadata" and len(parts) > 1:
        key = ".".join(parts[1:])
        if not key:
            raise ValueError(f"'{text}' needs a metadata key after 'metadata.'")
        return CustomerPath(text, ("metadata", key))
    if head in MIRROR_COLUMNS:
        if len(parts) > 1:
            raise ValueError(f"'{head}' is the mirror's {head} key (text); use '{head}' alone (in '{text}')")
        return CustomerPath(text, (head,))
    segments: list[str | int] = [head]
    for part in parts[1:]:
        if part == "":
            raise ValueError(f"empty segment in '{text}'")
        segments.append(int(part) if part.isdigit() else part)
    problem = field_problem(tuple(segments))
    if problem:
        raise ValueError(problem)
    return CustomerPath(text, tuple(segments))


def lookup(customer: dict[str, Any], path: CustomerPath) -> Any:
    """The value at ``path`` in a Stripe customer dict; None when any step is missing."""
    value: Any = customer
    for segment in path.segments:
        if isinstance(segment, int) and isinstance(value, list):
            value = value[segment] if 0 <= segment < len(value) else None
        elif isinstance(value, dict):
            value = value.get(str(segment))
        else:
            return None
        if value is None:
            return None
    return value

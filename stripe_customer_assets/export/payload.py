"""Request bodies, their hashes and deterministic idempotency keys.

An update carries only what changed: top-level fields as values ("" clears them),
metadata key by key ("" unsets a key), and ``address`` / ``shipping`` as whole objects
(Stripe replaces them whole), filled from the customer's current values for the parts the
sync does not map.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.diff import Changes, comparable
from stripe_customer_assets.export.fields import (
    ADDRESS_PARTS,
    METADATA_MAX_KEYS,
    current_value,
    stripe_field,
)


class PayloadProblem(ValueError):
    """The changes cannot form a request Stripe accepts (reported as a rejected row)."""


def update_payload(
    desired: dict[str, Any], changes: Changes, customer: dict[str, Any] | None
) -> dict[str, Any]:
    """The POST body that turns ``customer`` into ``desired`` for the changed fields."""
    payload: dict[str, Any] = {}
    groups: set[str] = set()
    for path, (_, new) in changes.items():
        field = stripe_field(path)
        assert field is not None
        if field.group in ("address", "shipping"):
            groups.add(field.group)
        elif field.group == "metadata":
            payload.setdefault("metadata", {})[field.leaf] = _text(new)
        elif field.kind == "locales":
            payload[path] = list(new) if new else ""
        else:
            payload[path] = _text(new)
    if "address" in groups:
        payload["address"] = _address(desired, "address", customer)
    if "shipping" in groups:
        payload["shipping"] = _shipping(desired, customer)
    _check_metadata_size(payload.get("metadata"), customer)
    return payload


def create_fields(desired: dict[str, Any], config: ExportConfig, key: str) -> dict[str, Any]:
    """What a new customer gets: every desired field that holds a value, plus the key.

    Keyed by email, the key is the new customer's email; keyed by ``metadata.<key>``, the
    external id is written to that metadata key so the next plan finds the customer.
    """
    fields = dict(desired)
    if config.key.stripe_field == "email":
        fields["email"] = key.strip()
    elif config.key.metadata_key:
        fields[config.key.stripe_field] = key
    return {
        path: value
        for path, value in fields.items()
        if comparable(value) is not None and value != _cleared(path)
    }


def _cleared(path: str) -> Any:
    field = stripe_field(path)
    return field.cleared() if field else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _address(
    desired: dict[str, Any], prefix: str, customer: dict[str, Any] | None
) -> dict[str, str] | str:
    parts = {}
    for part in ADDRESS_PARTS:
        path = f"{prefix}.{part}"
        value = desired[path] if path in desired else current_value(customer, path)
        parts[part] = _text(value)
    return parts if any(parts.values()) else ""


def _shipping(desired: dict[str, Any], customer: dict[str, Any] | None) -> dict[str, Any] | str:
    def value(path: str) -> str:
        return _text(desired[path] if path in desired else current_value(customer, path))

    address = _address(desired, "shipping.address", customer)
    name, phone = value("shipping.name"), value("shipping.phone")
    if not name and not phone and address == "":
        return ""
    if not name:
        raise PayloadProblem(
            "shipping.name is empty, but Stripe requires a name whenever shipping is set"
        )
    return {"name": name, "phone": phone, "address": address or {p: "" for p in ADDRESS_PARTS}}


def _check_metadata_size(metadata: dict[str, str] | None, customer: dict[str, Any] | None) -> None:
    if not metadata:
        return
    keys = set((customer or {}).get("metadata") or {})
    keys |= {k for k, v in metadata.items() if v}
    keys -= {k for k, v in metadata.items() if not v}
    if len(keys) > METADATA_MAX_KEYS:
        raise PayloadProblem(
            f"metadata would hold {len(keys)} keys; Stripe allows {METADATA_MAX_KEYS}"
        )


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(payload).encode("utf-8")).hexdigest()[:32]


def idempotency_key(
    sync: str, action: str, key: str, digest: str, base: str, account: str | None = None
) -> str:
    """Deterministic: the same write of the same payload from the same starting point.

    ``base`` pins the starting point: for an update the customer id and its mirror version
    (a change made, undone and made again is a new request, not a replay); for a create the
    deleted customers that carried this key (a customer deleted in Stripe is re-created).
    A re-run after a crash computes the same key and Stripe replays instead of repeating.
    ``account``: the target account of a sync that names accounts (the same row written to
    two accounts is two requests); None for a single-account sync (its keys as before).
    """
    material = f"export\x1f{sync}\x1f{action}\x1f{key}\x1f{digest}\x1f{base}"
    if account is not None:
        material += f"\x1faccount\x1f{account}"
    return "sca-export-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]

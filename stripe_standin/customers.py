"""The Customer object: defaults, create/update parameter semantics, validation and the
``previous_attributes`` diff recorded on ``customer.updated`` events."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .errors import StripeError, invalid

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500

# Loose, like Stripe: something@something.tld, no whitespace, one "@".
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_INVOICE_PREFIX_RE = re.compile(r"^[A-Z0-9]{3,12}$")

# Parameters that name other Stripe objects which the stand-in does not hold.
REFERENCE_PARAMS = {
    "coupon": "coupon",
    "promotion_code": "promotion code",
    "payment_method": "PaymentMethod",
    "source": "source",
    "default_source": "source",
    "default_alipay_account": "alipay account",
    "default_bank_account": "bank account",
    "default_card": "card",
    "bank_account": "bank account",
    "card": "card",
}
# Accepted and validated, with no stored effect on the customer object.
IGNORED_PARAMS = {"cash_balance", "tax", "tax_id_data", "expand"}


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def ordered(obj: dict[str, Any]) -> dict[str, Any]:
    """Stripe's key order: id, object, then the rest alphabetically."""
    out = {"id": obj.get("id"), "object": obj.get("object", "customer")}
    for k in sorted(obj):
        if k not in out:
            out[k] = obj[k]
    return out


def new_customer(cid: str, created: int, invoice_prefix: str) -> dict[str, Any]:
    return ordered(
        {
            "id": cid,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": created,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": None,
            "invoice_prefix": invoice_prefix,
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": {},
            "name": None,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
    )


def _nullable(v: str) -> str | None:
    return None if v == "" else v


def _address(value: dict[str, Any]) -> dict[str, Any]:
    return {f: _nullable(value.get(f, "")) for f in ADDRESS_FIELDS}


def check_email(value: str) -> None:
    if not _EMAIL_RE.match(value):
        raise StripeError(
            400, f"Invalid email address: {value}", code="email_invalid", param="email"
        )


def apply_metadata(current: dict[str, str], value: Any) -> dict[str, str]:
    if value == "":
        return {}
    md = dict(current)
    for key, v in value.items():
        if "[" in key or "]" in key:
            raise invalid(
                f"Invalid metadata key '{key}': metadata keys cannot contain square brackets.",
                "metadata",
            )
        if key == "":
            raise invalid("Invalid metadata: metadata keys cannot be empty.", "metadata")
        if len(key) > METADATA_KEY_MAX:
            raise invalid(
                f"Metadata keys can have a maximum length of {METADATA_KEY_MAX} characters. "
                f"'{key[:60]}' is {len(key)} characters.",
                f"metadata[{key}]",
            )
        if not isinstance(v, str):
            raise invalid(f"Invalid string: {v!r}", f"metadata[{key}]")
        if len(v) > METADATA_VALUE_MAX:
            raise invalid(
                f"Metadata values can have a maximum length of {METADATA_VALUE_MAX} "
                f"characters. The value for '{key}' is {len(v)} characters.",
                f"metadata[{key}]",
            )
        if v == "":
            md.pop(key, None)
        else:
            md[key] = v
    if len(md) > METADATA_MAX_KEYS:
        raise invalid(
            f"Invalid metadata: metadata can have up to {METADATA_MAX_KEYS} keys, with key "
            f"names up to {METADATA_KEY_MAX} characters long and values up to "
            f"{METADATA_VALUE_MAX} characters long.",
            "metadata",
        )
    return md


def apply_params(cust: dict[str, Any], params: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Return a new customer dict with validated (typed) create/update params applied."""
    new = copy.deepcopy(cust)
    for key, value in params.items():
        if key in IGNORED_PARAMS:
            continue
        if key in REFERENCE_PARAMS:
            if value == "" and key in ("coupon", "promotion_code", "default_source"):
                continue  # unsetting something that is not set
            ident = value if isinstance(value, str) else json.dumps(value)[:60]
            raise StripeError(
                400,
                f"No such {REFERENCE_PARAMS[key]}: '{ident}'",
                code="resource_missing",
                param=key,
            )
        if key in ("name", "phone", "description"):
            new[key] = _nullable(value)
        elif key == "email":
            if value != "":
                check_email(value)
            new[key] = _nullable(value)
        elif key == "address":
            new[key] = None if value == "" else _address(value)
        elif key == "shipping":
            if value == "":
                new[key] = None
            else:
                new[key] = {
                    "address": _address(value.get("address", {})),
                    "name": value["name"],
                    "phone": _nullable(value.get("phone", "")),
                }
        elif key == "metadata":
            new[key] = apply_metadata(new.get("metadata") or {}, value)
        elif key == "preferred_locales":
            new[key] = list(value)
        elif key == "tax_exempt":
            new[key] = value or "none"
        elif key == "balance":
            new[key] = value
        elif key == "invoice_prefix":
            if not _INVOICE_PREFIX_RE.match(value):
                raise invalid(
                    "Invalid invoice_prefix: must be 3-12 uppercase letters or numbers.",
                    "invoice_prefix",
                )
            new[key] = value
        elif key == "next_invoice_sequence":
            if value < 1:
                raise invalid("This value must be greater than or equal to 1.", key)
            new[key] = value
        elif key == "invoice_settings":
            new[key] = _invoice_settings(new.get(key) or {}, value)
        else:  # a parameter the spec accepts that has no effect here
            continue
    return new


def _invoice_settings(current: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    out = {
        "custom_fields": current.get("custom_fields"),
        "default_payment_method": current.get("default_payment_method"),
        "footer": current.get("footer"),
        "rendering_options": current.get("rendering_options"),
    }
    for k, v in value.items():
        if k == "custom_fields":
            if v == "":
                out[k] = None
            else:
                if len(v) > 4:
                    raise invalid(
                        "Invalid invoice_settings[custom_fields]: at most 4 custom fields.",
                        "invoice_settings[custom_fields]",
                    )
                out[k] = [{"name": f["name"], "value": f["value"]} for f in v]
        elif k == "default_payment_method":
            if v == "":
                out[k] = None
            else:
                raise StripeError(
                    400,
                    f"No such PaymentMethod: '{v}'",
                    code="resource_missing",
                    param="invoice_settings[default_payment_method]",
                )
        elif k == "footer":
            out[k] = _nullable(v)
        elif k == "rendering_options":
            if v == "":
                out[k] = None
            else:
                out[k] = {"amount_tax_display": _nullable(v.get("amount_tax_display", ""))}
    return out


def previous_attributes(old: Any, new: Any) -> dict[str, Any]:
    """Top-level attributes that changed, with their old values.

    Hashes (metadata, address, ...) that exist before and after are diffed one level further,
    as Stripe does: only the changed keys, with ``null`` for keys that did not exist before.
    Arrays are given whole.
    """
    prev: dict[str, Any] = {}
    for k in set(old) | set(new):
        ov, nv = old.get(k), new.get(k)
        if ov == nv:
            continue
        if isinstance(ov, dict) and isinstance(nv, dict):
            prev[k] = previous_attributes(ov, nv)
        else:
            prev[k] = copy.deepcopy(ov)
    return dict(sorted(prev.items()))


def expanded(cust: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Apply ``expand[]`` paths. The objects the stand-in can expand are all empty or null,
    so expansion only adds the fields that are absent unless expanded."""
    if not paths:
        return cust
    out = dict(cust)
    cid = cust.get("id")
    for p in paths:
        head = p.split(".", 1)[0]
        if head in ("sources", "subscriptions", "tax_ids"):
            out[head] = {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/customers/{cid}/{head}",
            }
        elif head == "tax":
            out["tax"] = {
                "automatic_tax": "unrecognized_location",
                "ip_address": None,
                "location": None,
            }
        elif head == "cash_balance":
            out["cash_balance"] = None
    return ordered(out)

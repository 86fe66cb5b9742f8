"""Request-parameter validation against the request schemas shipped in ``spec_subset.json``.

``coerce`` walks a parsed form value (strings, dicts, lists) along an OpenAPI request schema and
returns typed Python values (ints, bools, lists), raising Stripe-shaped 400 errors:
``parameter_unknown``, ``parameter_missing``, ``parameter_invalid_integer``,
``parameter_invalid_empty``, invalid enum values and over-long strings.

An empty string is Stripe's "unset" marker. Where the schema allows it (an ``anyOf`` branch
``enum: [""]``, or a string parameter) it is returned as ``""``; elsewhere it is answered with
``parameter_invalid_empty``.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import StripeError, invalid, invalid_empty, missing_parameter, unknown_parameter
from .spec import load_subset

_INT_RE = re.compile(r"^[+-]?\d+$")

SUBSET = load_subset()
OPERATION_SCHEMAS: dict[str, dict[str, Any]] = SUBSET["operations"]
EXPANDABLE: dict[str, list[str]] = SUBSET["expandable"]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _short(value: Any) -> str:
    s = value if isinstance(value, str) else repr(value)
    return s if len(s) <= 60 else s[:57] + "..."


def _enum_text(values: list[Any]) -> str:
    vals = [str(v) for v in values if v != ""]
    if len(vals) <= 1:
        return "".join(vals)
    return ", ".join(vals[:-1]) + ", or " + vals[-1]


def _is_empty_enum(schema: dict[str, Any]) -> bool:
    return schema.get("enum") == [""]


def coerce(value: Any, schema: dict[str, Any], name: str) -> Any:
    if "anyOf" in schema:
        alts = schema["anyOf"]
        if value == "" and any(_is_empty_enum(a) for a in alts):
            return ""
        first_error: StripeError | None = None
        for alt in alts:
            if _is_empty_enum(alt):
                continue
            try:
                return coerce(value, alt, name)
            except StripeError as e:
                if e.code == "parameter_unknown" or e.code == "parameter_missing":
                    raise
                if first_error is None:
                    first_error = e
        assert first_error is not None
        raise first_error

    typ = schema.get("type")
    if typ == "object" or "properties" in schema or "additionalProperties" in schema:
        return _coerce_object(value, schema, name)
    if typ == "array":
        return _coerce_array(value, schema, name)
    if typ == "integer":
        if value == "":
            raise invalid_empty(name)
        if isinstance(value, str) and _INT_RE.match(value):
            return int(value)
        raise invalid(f"Invalid integer: {_short(value)}", name, "parameter_invalid_integer")
    if typ == "number":
        if value == "":
            raise invalid_empty(name)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise invalid(f"Invalid decimal: {_short(value)}", name) from None
    if typ == "boolean":
        if value in ("true", "false"):
            return value == "true"
        if value == "":
            raise invalid_empty(name)
        raise invalid(f"Invalid boolean: {_short(value)}", name)
    # string (or untyped enum)
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {_short(value)}", name)
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        if value == "":
            raise invalid_empty(name)
        raise invalid(f"Invalid {name}: must be one of {_enum_text(enum)}", name)
    max_len = schema.get("maxLength")
    if max_len is not None and len(value) > max_len:
        raise invalid(
            f"Invalid string: {_short(value)}; must be at most {max_len} characters", name
        )
    return value


def _coerce_object(value: Any, schema: dict[str, Any], name: str) -> dict[str, Any]:
    if value == "":
        raise invalid_empty(name)
    if not isinstance(value, dict):
        raise invalid("Invalid object", name)
    props = schema.get("properties")
    addl = schema.get("additionalProperties")
    out: dict[str, Any] = {}
    for key, sub in value.items():
        sub_name = _join(name, key)
        if props is not None and key in props:
            out[key] = coerce(sub, props[key], sub_name)
        elif isinstance(addl, dict):
            out[key] = coerce(sub, addl, sub_name)
        elif props is None and addl in (None, True):
            out[key] = sub
        else:
            raise unknown_parameter(sub_name)
    for req in schema.get("required", []):
        if req not in value:
            raise missing_parameter(_join(name, req))
    return out


def _coerce_array(value: Any, schema: dict[str, Any], name: str) -> list[Any]:
    if value == "":
        raise invalid_empty(name)
    if isinstance(value, dict):
        if not all(isinstance(k, str) and k.isdigit() for k in value):
            raise invalid("Invalid array", name)
        items = [value[k] for k in sorted(value, key=int)]
    elif isinstance(value, list):
        items = value
    else:
        raise invalid("Invalid array", name)
    item_schema = schema.get("items", {})
    return [coerce(v, item_schema, f"{name}[{i}]") for i, v in enumerate(items)]


def validate(endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate and type the parameters of one operation (query for GET/DELETE, body for POST)."""
    op = OPERATION_SCHEMAS[endpoint]
    props = op["body"] if op["method"] == "post" else op["query"]
    out: dict[str, Any] = {}
    for key, value in params.items():
        schema = props.get(key)
        if schema is None:
            raise unknown_parameter(key)
        out[key] = coerce(value, schema, key)
    for req in op.get("body_required", []):
        if req not in params:
            raise missing_parameter(req)
    return out


def check_expand(expand: list[str] | None, kind: str, *, list_prefix: bool = False) -> list[str]:
    """Validate ``expand[]`` paths for an object of ``kind`` (``data.`` prefix on lists).

    Returns the paths relative to the object (``data.`` stripped)."""
    if not expand:
        return []
    allowed = set(EXPANDABLE.get(kind, []))
    out = []
    for path in expand:
        p = path
        if list_prefix:
            if not p.startswith("data."):
                hint = ""
                if p.split(".", 1)[0] in allowed:
                    hint = f" You may want to try expanding 'data.{path}' instead."
                raise invalid(f"This property cannot be expanded ({path}).{hint}", "expand")
            p = p[5:]
        if p.split(".", 1)[0] not in allowed:
            raise invalid(f"This property cannot be expanded ({path}).", "expand")
        out.append(p)
    return out

"""The functions a mapping expression may call. Each takes and returns plain values.

A missing value (None) passes through the text functions as None, so ``lower(email)`` of a
customer without an email is null, not an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_customer_assets.pipeline.filters.operands import as_timestamp


class MappingError(ValueError):
    """A mapping function cannot handle a customer's value."""


@dataclass(frozen=True)
class MappingFunction:
    name: str
    min_args: int
    max_args: int | None
    call: Callable[..., Any]
    usage: str


def text(value: Any) -> str | None:
    """A value as text: strings as they are, booleans as true/false, objects as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _lower(value: Any) -> str | None:
    value = text(value)
    return None if value is None else value.lower()


def _upper(value: Any) -> str | None:
    value = text(value)
    return None if value is None else value.upper()


def _trim(value: Any) -> str | None:
    value = text(value)
    return None if value is None else value.strip()


def _concat(*values: Any) -> str | None:
    parts = [text(v) for v in values if v is not None]
    return "".join(p for p in parts if p is not None) if parts else None


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None or value == "" else value


def _date(value: Any, fmt: Any = "%Y-%m-%d") -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(fmt, str):
        raise MappingError(f"date() format must be text, got {fmt!r}")
    try:
        return as_timestamp(value, "date()").strftime(fmt)
    except ValueError as err:
        raise MappingError(str(err)) from None


def _replace(value: Any, old: Any, new: Any) -> str | None:
    value = text(value)
    if value is None:
        return None
    return value.replace(text(old) or "", text(new) or "")


def _split_part(value: Any, separator: Any, index: Any) -> str | None:
    value = text(value)
    if value is None:
        return None
    if isinstance(index, bool) or not isinstance(index, int) or index < 1:
        raise MappingError(f"split_part() index must be a whole number from 1, got {index!r}")
    parts = value.split(text(separator) or "")
    return parts[index - 1] if index <= len(parts) else None


FUNCTIONS: dict[str, MappingFunction] = {
    f.name: f
    for f in [
        MappingFunction("lower", 1, 1, _lower, "lower(value): text in lower case"),
        MappingFunction("upper", 1, 1, _upper, "upper(value): text in upper case"),
        MappingFunction("trim", 1, 1, _trim, "trim(value): text without surrounding whitespace"),
        MappingFunction(
            "concat", 1, None, _concat, "concat(a, b, ...): texts joined; missing values skipped"
        ),
        MappingFunction(
            "default",
            2,
            2,
            _default,
            "default(value, fallback): fallback when value is missing or empty",
        ),
        MappingFunction(
            "date",
            1,
            2,
            _date,
            "date(value, format='%Y-%m-%d'): a timestamp formatted (strftime, UTC)",
        ),
        MappingFunction(
            "replace", 3, 3, _replace, "replace(value, old, new): every old replaced by new"
        ),
        MappingFunction(
            "split_part",
            3,
            3,
            _split_part,
            "split_part(value, separator, n): the n-th piece (from 1)",
        ),
    ]
}

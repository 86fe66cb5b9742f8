"""A condition's value, checked against its property and operator and typed for SQL.

The value a user writes in YAML becomes an ``Operand``: text, number, boolean or timestamp.
Typed columns decide the operand's type (``created`` compares as a timestamp, ``balance`` as
a number); JSON paths (``metadata.seats``) take it from the value: a number compares
numerically, anything else as text.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Literal

from stripe_customer_assets.pipeline.properties import CustomerPath

OperandKind = Literal["text", "number", "boolean", "timestamp"]

TEXT_OPERATORS = ("contains", "not_contains", "starts_with", "ends_with")
ORDER_OPERATORS = ("greater_than", "less_than")
VALUELESS_OPERATORS = ("is_empty", "is_not_empty")


@dataclass(frozen=True)
class Operand:
    kind: OperandKind
    value: str | float | bool


def operands_for(path: CustomerPath, operator: str, value: Any) -> list[Operand]:
    """The typed operands of one condition; raises ValueError saying what is wrong."""
    if operator in VALUELESS_OPERATORS:
        if value is not None:
            raise ValueError(f"{operator} takes no value (remove 'value')")
        return []
    if value is None:
        raise ValueError(f"{operator} needs a value (to test for a missing value use is_empty)")
    if operator == "is_one_of":
        if not isinstance(value, list) or not value:
            raise ValueError("is_one_of needs a non-empty list of values")
        return [_operand(path, item) for item in value]
    if isinstance(value, (list, dict)):
        raise ValueError(f"{operator} compares one value, not a list or mapping")  # noqa: TRY004 - a config problem
    if operator in TEXT_OPERATORS:
        if path.kind not in ("text", "json"):
            raise ValueError(f"{operator} applies to text; {path.text} is a {path.kind}")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{operator} needs a text value, got {_describe(value)}")
        if _as_text(value) == "":
            raise ValueError(f"{operator} needs a non-empty text value")
        return [Operand("text", _as_text(value))]
    if operator in ORDER_OPERATORS and (
        path.kind in ("text", "boolean") or isinstance(value, bool)
    ):
        raise ValueError(
            f"{operator} compares numbers and timestamps; {path.text} is a {path.kind} "
            f"and the value is {_describe(value)}"
        )
    return [_operand(path, value)]


def _operand(path: CustomerPath, value: Any) -> Operand:
    kind = path.kind
    if kind == "text":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{path.text} is text; expected a string, got {_describe(value)}")
        return Operand("text", _as_text(value))
    if kind == "integer":
        return Operand("number", _as_number(path, value))
    if kind == "boolean":
        if isinstance(value, bool):
            return Operand("boolean", value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return Operand("boolean", value.strip().lower() == "true")
        raise ValueError(
            f"{path.text} is a boolean; expected true or false, got {_describe(value)}"
        )
    if kind == "timestamp":
        return Operand("timestamp", as_timestamp(value, path.text).isoformat())
    # A JSON path: the value decides.
    if isinstance(value, bool):
        return Operand("text", "true" if value else "false")
    if isinstance(value, (int, float)):
        return Operand("number", _as_number(path, value))
    if isinstance(value, (str, dt.date)):
        return Operand("text", _as_text(value))
    raise ValueError(
        f"expected a string, number or boolean for {path.text}, got {_describe(value)}"
    )


def _as_text(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_number(path: CustomerPath, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{path.text} is a number; got a boolean")  # noqa: TRY004
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{path.text} is a number; got {_describe(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"{path.text}: {value!r} is not a finite number")
    return number


def as_timestamp(value: Any, what: str) -> dt.datetime:
    """A timezone-aware UTC datetime from a datetime, date, ISO 8601 text or epoch seconds."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{what}: {value!r} is out of range for a timestamp") from None
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return as_timestamp(int(text), what)
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{what}: {value!r} is not a timestamp (use ISO 8601 like 2024-01-31 or "
                "2024-01-31T12:00:00Z, or epoch seconds)"
            ) from None
        return as_timestamp(parsed, what)
    raise ValueError(f"{what}: expected a timestamp, got {_describe(value)}")


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)

"""Values coerced to their model type; what cannot be coerced is a reject with its reason.

- string: text as is; numbers and booleans as text; objects and lists are rejected (use json)
- integer: whole numbers, also from text ("42") or a whole float (42.0)
- number: any finite number, also from text
- boolean: true/false, also "true"/"false"/"yes"/"no"/"1"/"0" and 1/0
- timestamp: epoch seconds (Stripe's form), ISO 8601 text, or a date; stored in UTC
- json: any JSON value, stored as JSON (text is stored as a JSON string, not parsed)
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from stripe_customer_assets.pipeline.filters.operands import as_timestamp
from stripe_customer_assets.pipeline.model import ModelProperty
from stripe_customer_assets.values import to_text

INT64 = (-(2**63), 2**63 - 1)
_TRUE = {"true", "yes", "1", "t", "y"}
_FALSE = {"false", "no", "0", "f", "n"}


class TypeMismatch(ValueError):
    """A value does not fit its property's type; the message is the reject reason."""


def coerce(prop: ModelProperty, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value) and prop.type != "json"):
        if not prop.nullable:
            raise TypeMismatch(
                f"property {prop.name}: missing, but the schema says nullable: false"
            )
        return None
    try:
        return _COERCERS[prop.type](value)
    except TypeMismatch as err:
        raise TypeMismatch(f"property {prop.name}: {err}") from None


def _string(value: Any) -> str:
    # Scalars read as an export writes them to Stripe (``42``, not ``42.0``; ISO 8601 dates).
    if isinstance(value, (str, bool, int, float, dt.datetime, dt.date)):
        return to_text(value)
    raise TypeMismatch(f"{_short(value)} is not text (declare the property as json to keep it)")


def _integer(value: Any) -> int:
    number: Any = value
    if isinstance(value, bool):
        raise TypeMismatch(f"{_short(value)} is not an integer")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise TypeMismatch(f"{_short(value)} is not an integer") from None
    if isinstance(number, float):
        if not math.isfinite(number) or not number.is_integer():
            raise TypeMismatch(f"{_short(value)} is not a whole number")
        number = int(number)
    if not isinstance(number, int):
        raise TypeMismatch(f"{_short(value)} is not an integer")
    if not INT64[0] <= number <= INT64[1]:
        raise TypeMismatch(f"{_short(value)} does not fit a 64-bit integer")
    return number


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeMismatch(f"{_short(value)} is not a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise TypeMismatch(f"{_short(value)} is not a number") from None
    if not math.isfinite(number):
        raise TypeMismatch(f"{_short(value)} is not a finite number")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise TypeMismatch(f"{_short(value)} is not a boolean")


def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, (dict, list, bool)):
        raise TypeMismatch(f"{_short(value)} is not a timestamp")
    try:
        return as_timestamp(value, "value")
    except ValueError:
        raise TypeMismatch(
            f"{_short(value)} is not a timestamp (epoch seconds or ISO 8601)"
        ) from None


def _json(value: Any) -> str:
    try:
        return json.dumps(
            value, ensure_ascii=False, sort_keys=True, allow_nan=False, default=_json_default
        )
    except (TypeError, ValueError) as err:
        raise TypeMismatch(f"{_short(value)} is not JSON ({err})") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


_COERCERS = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "json": _json,
}

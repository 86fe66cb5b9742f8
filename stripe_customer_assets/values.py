"""Model values as Stripe wants them: text, a list of locales, or nothing.

A model column can hold any SQL type; Stripe takes strings. Numbers keep their digits
(``42``, not ``42.0``, for whole floats), booleans become ``true`` / ``false``, dates ISO 8601.
NULL, NaN and NA are "no value".

Also the one reader of whole-number settings from the environment (``env_whole_number``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
from typing import Any


def is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, decimal.Decimal):
        return value.is_nan()
    # pandas.NA / NaT and similar "missing" singletons
    return type(value).__name__ in ("NAType", "NaTType")


def to_text(value: Any) -> str:
    """A non-null model value as the string Stripe will store."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if hasattr(value, "item"):  # numpy scalars
        return to_text(value.item())
    return str(value)


def to_locales(value: Any) -> list[str]:
    """A list (SQL array) or a comma-separated string of locales, e.g. ``fr-FR, en``."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif hasattr(value, "tolist"):
        items = list(value.tolist())
    else:
        items = [value]
    return [to_text(v).strip() for v in items if not is_null(v) and to_text(v).strip()]


def env_whole_number(name: str, default: int, unit: str, meaning: str) -> int:
    """The environment variable ``name`` as a whole number >= 0, or ``default`` when unset.

    A bad value is an error naming the variable, what it means and its default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"{name}={raw!r} is not a whole number of {unit} >= 0 ({meaning}; default {default})"
        )
    return value

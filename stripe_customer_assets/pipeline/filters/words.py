"""A filter in words, for the UI: ``email ends with "@acme.com" and (plan is "pro" or ...)``."""

from __future__ import annotations

import json
from typing import Any

from stripe_customer_assets.pipeline.config import Condition, FilterGroup

PHRASES = {
    "is": "is",
    "is_not": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "is_one_of": "is one of",
    "greater_than": "is greater than",
    "less_than": "is less than",
}


def describe_filter(group: FilterGroup | None) -> str:
    if group is None or not group.conditions:
        return "all customers"
    return _group(group, top=True)


def _group(group: FilterGroup, top: bool = False) -> str:
    joiner = " and " if group.match == "all" else " or "
    parts = [
        _group(item) if isinstance(item, FilterGroup) else _condition(item)
        for item in group.conditions
    ]
    text = joiner.join(parts)
    return text if top or len(parts) == 1 else f"({text})"


def _condition(condition: Condition) -> str:
    phrase = PHRASES.get(condition.operator, condition.operator)
    words = f"{condition.property} {phrase}"
    if condition.operator == "is_one_of" and isinstance(condition.value, list):
        words += " " + ", ".join(_value(v) for v in condition.value)
    elif condition.value is not None:
        words += " " + _value(condition.value)
    if condition.ignore_case:
        words += " (ignoring case)"
    return words


def _value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

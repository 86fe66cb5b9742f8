"""One model row, mapped and checked: the Stripe values it asks for, or why it cannot be sent.

Every problem names the model column and the Stripe field; a row with problems is rejected
in the plan and never sent. Empty strings count as NULL (Stripe stores "" as no value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.fields import (
    METADATA_VALUE_MAX,
    TAX_EXEMPT_VALUES,
    hash_parts,
    stripe_field,
)
from stripe_customer_assets.values import is_null, to_locales, to_text

# Loose like Stripe's own check: one "@", no whitespace, a dotted domain.
EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _nul(where: str) -> str:
    # U+0000 is a data error in a model: a PostgreSQL warehouse cannot hold it (its mirror
    # keeps it as the text \u0000), so the value could never be compared with Stripe's.
    return f"{where}: holds a NUL character (U+0000), which is not sent to Stripe; remove it in the model"


def _shown(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def desired_values(
    config: ExportConfig, row: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Stripe path -> value this row asks for (``cleared()`` to clear), and the row's problems.

    With ``null_values: skip`` a NULL leaves Stripe's value alone (the path is absent);
    with ``clear`` it asks Stripe to clear the field. For a hash mapped in part under
    ``partial_address: clear``, the parts the sync does not map are asked to be empty;
    under ``keep_stripe`` they are absent (the body then carries Stripe's current values).
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for path, column in config.fields.items():
        field = stripe_field(path)
        assert field is not None  # parse_config accepted the path
        raw = row.get(column)
        if field.kind == "locales":
            locales = [] if is_null(raw) else to_locales(raw)
            if any("\x00" in locale for locale in locales):
                problems.append(_nul(f"column '{column}' ({path})"))
                continue
            if locales or config.null_values == "clear":
                values[path] = locales
            continue
        text = None if is_null(raw) else to_text(raw).strip()
        if not text:
            if config.null_values == "clear":
                values[path] = field.cleared()
            continue
        where = f"column '{column}' ({path})"
        if "\x00" in text:
            problems.append(_nul(where))
        elif field.kind == "tax_exempt" and text not in TAX_EXEMPT_VALUES:
            problems.append(f"{where}: {_shown(text)} is not one of {', '.join(TAX_EXEMPT_VALUES)}")
        elif field.kind == "email" and not EMAIL.match(text):
            problems.append(f"{where}: {_shown(text)} is not a valid email address")
        elif field.max_length and len(text) > field.max_length:
            what = "metadata values" if field.group == "metadata" else "this field"
            problems.append(
                f"{where}: {len(text)} characters; Stripe allows {field.max_length} for {what}"
            )
        values[path] = text
    for group, choice in config.partial_address.items():
        if choice == "clear":  # the parts the sync does not map are asked to be empty
            for path in hash_parts(group):
                if path not in config.fields:
                    values[path] = None
    return values, problems


def key_problems(config: ExportConfig, key: str | None) -> list[str]:
    """Why this row's key cannot identify a customer (NULL, bad email, too long)."""
    column = config.key.column
    if key is None or not key.strip():
        return [f"key column '{column}' is null"]
    if "\x00" in key:
        return [_nul(f"key column '{column}'")]
    if config.key.stripe_field == "email" and not EMAIL.match(key.strip()):
        return [f"key column '{column}': {_shown(key)} is not a valid email address"]
    if config.key.metadata_key and len(key) > METADATA_VALUE_MAX:
        limit = f"Stripe allows {METADATA_VALUE_MAX} for metadata values"
        return [f"key column '{column}': {len(key)} characters; {limit}"]
    return []


def normalized_key(config: ExportConfig, key: str) -> str:
    """The form two keys are compared in: emails match case-insensitively, as in Stripe."""
    return key.strip().lower() if config.key.stripe_field == "email" else key

"""An export sync's configuration, validated once, with errors naming the YAML field.

``parse_config`` takes the attributes of a ``defs.yaml`` (or any mapping with the same
names) and returns an ``ExportConfig``; anything wrong raises ``ExportConfigError`` with the
attribute path (``fields.metadata.plan``, ``key.stripe_field``, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stripe_customer_assets.export.errors import ExportConfigError
from stripe_customer_assets.export.fields import (
    HASHES,
    METADATA_MAX_KEYS,
    PARTIAL_CHOICES,
    hash_parts,
    metadata_key_problem,
    stripe_field,
    writable_paths,
)

OBJECTS = ("customer",)
BEHAVIORS = ("update_or_create", "update_only", "create_only")
NULL_VALUES = ("skip", "clear")
ON_DUPLICATE = ("skip", "update_all", "update_newest")
KEY_FIELDS = ("email", "id", "metadata.<key>")
DEFAULT_STATE_SCHEMA = "exports"

# A sync names two assets and two tables (<name>, <name>_plan): keep it a plain identifier
# that fits PostgreSQL's 63-character limit with the suffix.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class KeySpec:
    """How a model row finds its Stripe customer: ``column`` of the model = ``stripe_field``."""

    column: str
    stripe_field: str

    @property
    def metadata_key(self) -> str | None:
        if self.stripe_field.startswith("metadata."):
            return self.stripe_field[len("metadata.") :]
        return None


@dataclass(frozen=True)
class ExportConfig:
    name: str
    model_sql: str
    key: KeySpec
    fields: dict[str, str] = field(default_factory=dict)
    behavior: str = "update_or_create"
    null_values: str = "skip"
    on_duplicate: str = "skip"
    max_reject_percent: float = 100.0
    max_change_percent: float = 100.0
    object: str = "customer"
    description: str = ""
    deps: tuple[str, ...] = ()
    schedule: str | None = None
    enabled: bool = True
    state_schema: str = DEFAULT_STATE_SCHEMA
    model_file: str | None = None
    # address / shipping -> keep_stripe | clear, for each hash the sync maps only in part
    partial_address: dict[str, str] = field(default_factory=dict)

    @property
    def creates(self) -> bool:
        return self.behavior in ("update_or_create", "create_only")

    @property
    def updates(self) -> bool:
        return self.behavior in ("update_or_create", "update_only")

    @property
    def model_columns(self) -> list[str]:
        """Every model column the sync reads: the key first, then mapped columns."""
        return list(dict.fromkeys([self.key.column, *self.fields.values()]))


def parse_config(attributes: Mapping[str, Any], base_dir: Path | None = None) -> ExportConfig:
    """Validate ``attributes`` (defs.yaml names); ``base_dir`` resolves ``model_file``."""
    name = attributes.get("name")
    sync = name if isinstance(name, str) and name else "?"

    def fail(where: str | tuple[str, ...], message: str) -> ExportConfigError:
        return ExportConfigError(sync, (where,) if isinstance(where, str) else where, message)

    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(
            "name",
            f"{name!r} must be 1-50 letters, digits or underscores, not starting with a digit",
        )
    if name.endswith(("_plan", "_plans")):
        raise fail("name", f"'{name}' ends with _plan or _plans, which name a sync's own tables")
    obj = attributes.get("object") or "customer"
    if obj not in OBJECTS:
        raise fail("object", f"'{obj}' cannot be exported; the only supported object is 'customer'")
    behavior = _choice(attributes, "behavior", BEHAVIORS, fail)
    null_values = _choice(attributes, "null_values", NULL_VALUES, fail)
    on_duplicate = _choice(attributes, "on_duplicate", ON_DUPLICATE, fail)
    key = _key(attributes.get("key"), behavior, fail)
    fields = _fields(attributes.get("fields"), key, fail)
    partial = _partial_address(attributes.get("partial_address"), fields, fail)
    model_sql, model_file = _model(attributes, base_dir, fail)
    state_schema = attributes.get("state_schema") or DEFAULT_STATE_SCHEMA
    if not isinstance(state_schema, str) or not _SCHEMA.match(state_schema):
        raise fail("state_schema", f"{state_schema!r} must be a plain SQL identifier")
    deps = attributes.get("deps") or []
    if not isinstance(deps, (list, tuple)) or not all(isinstance(d, str) and d for d in deps):
        raise fail("deps", "expected a list of asset keys such as 'stripe_import/customers'")
    schedule = attributes.get("schedule")
    if schedule is not None and (not isinstance(schedule, str) or not schedule.strip()):
        raise fail("schedule", "expected a cron string such as '0 * * * *'")
    enabled = attributes.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", "expected true or false")
    description = attributes.get("description") or ""
    if not isinstance(description, str):
        raise fail("description", "expected text")
    return ExportConfig(
        name=name,
        model_sql=model_sql,
        key=key,
        fields=fields,
        behavior=behavior,
        null_values=null_values,
        on_duplicate=on_duplicate,
        max_reject_percent=_percent(attributes, "max_reject_percent", fail),
        max_change_percent=_percent(attributes, "max_change_percent", fail),
        object=obj,
        description=description,
        deps=tuple(deps),
        schedule=schedule.strip() if schedule else None,
        enabled=enabled,
        state_schema=state_schema,
        model_file=model_file,
        partial_address=partial,
    )


def _choice(attributes: Mapping[str, Any], name: str, allowed: tuple[str, ...], fail) -> str:
    value = attributes.get(name) or allowed[0]
    if value not in allowed:
        raise fail(name, f"'{value}' is not one of: {', '.join(allowed)}")
    return value


def _percent(attributes: Mapping[str, Any], name: str, fail) -> float:
    value = attributes.get(name)
    if value is None:
        return 100.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise fail(name, f"{value!r} is not a number between 0 and 100")
    if not 0 <= value <= 100:
        raise fail(name, f"{value} is outside 0..100")
    return float(value)


def _key(value: Any, behavior: str, fail) -> KeySpec:
    if not isinstance(value, Mapping):
        raise fail(
            "key", "expected {column: <model column>, stripe_field: email | id | metadata.<key>}"
        )
    unknown = set(value) - {"column", "stripe_field"}
    if unknown:
        raise fail(
            ("key", str(min(unknown))), "unknown attribute; key takes column and stripe_field"
        )
    column = value.get("column")
    if not isinstance(column, str) or not column.strip():
        raise fail(("key", "column"), "name the model column that holds each row's key")
    target = value.get("stripe_field")
    if not isinstance(target, str):
        raise fail(("key", "stripe_field"), f"expected one of: {', '.join(KEY_FIELDS)}")
    if target.startswith("metadata."):
        problem = metadata_key_problem(target[len("metadata.") :])
        if problem:
            raise fail(("key", "stripe_field"), problem)
    elif target not in ("email", "id"):
        raise fail(("key", "stripe_field"), f"'{target}' is not one of: {', '.join(KEY_FIELDS)}")
    if target == "id" and behavior != "update_only":
        raise fail(
            ("key", "stripe_field"),
            f"a Stripe id cannot be chosen on create, so key 'id' needs behavior: update_only "
            f"(behavior is {behavior})",
        )
    return KeySpec(column=column.strip(), stripe_field=target)


def _fields(value: Any, key: KeySpec, fail) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail("fields", "expected a mapping of Stripe field -> model column")
    fields: dict[str, str] = {}
    for path, column in value.items():
        where = ("fields", str(path))
        if not isinstance(path, str) or stripe_field(path) is None:
            if isinstance(path, str) and path.startswith("metadata."):
                raise fail(
                    where, metadata_key_problem(path[len("metadata.") :]) or "invalid metadata key"
                )
            raise fail(
                where,
                f"'{path}' is not a writable customer field; use one of: {', '.join(writable_paths())}",
            )
        if not isinstance(column, str) or not column.strip():
            raise fail(where, "name the model column that holds this field")
        fields[path] = column.strip()
    if key.stripe_field in fields and fields[key.stripe_field] != key.column:
        raise fail(
            ("fields", key.stripe_field),
            f"maps column '{fields[key.stripe_field]}' but the key writes column '{key.column}' there",
        )
    metadata_keys = {p for p in fields if p.startswith("metadata.")} | (
        {key.stripe_field} if key.metadata_key else set()
    )
    if len(metadata_keys) > METADATA_MAX_KEYS:
        raise fail(
            "fields", f"maps {len(metadata_keys)} metadata keys; Stripe allows {METADATA_MAX_KEYS}"
        )
    return fields


def partially_mapped(fields: Mapping[str, str]) -> dict[str, tuple[list[str], list[str]]]:
    """hash -> (mapped parts, unmapped parts), for each hash mapped in part only."""
    out = {}
    for group in HASHES:
        parts = hash_parts(group)
        mapped = [p for p in parts if p in fields]
        if mapped and len(mapped) < len(parts):
            out[group] = (mapped, [p for p in parts if p not in fields])
    return out


def _partial_address(value: Any, fields: dict[str, str], fail) -> dict[str, str]:
    """Stripe replaces ``address`` and ``shipping`` whole on update: for a hash the sync maps
    only in part, the YAML must say what happens to the other parts."""
    choices = ", ".join(PARTIAL_CHOICES)
    if value is None:
        chosen: dict[str, str] = {}
    elif isinstance(value, str):
        if value not in PARTIAL_CHOICES:
            raise fail("partial_address", f"'{value}' is not one of: {choices}")
        chosen = {group: value for group in HASHES}
    elif isinstance(value, Mapping):
        chosen = {}
        for group, choice in value.items():
            if group not in HASHES:
                raise fail(
                    ("partial_address", str(group)),
                    f"'{group}' is not a hash Stripe replaces whole; use {' or '.join(HASHES)}",
                )
            if choice not in PARTIAL_CHOICES:
                raise fail(("partial_address", group), f"'{choice}' is not one of: {choices}")
            chosen[group] = choice
    else:
        raise fail(
            "partial_address",
            f"expected one of {choices}, or a mapping such as {{address: keep_stripe, "
            "shipping: clear}",
        )
    partial = partially_mapped(fields)
    for group, (mapped, unmapped) in partial.items():
        if group in chosen:
            continue
        shown = ", ".join(unmapped)
        raise fail(
            ("fields", mapped[0]),
            f"maps {', '.join(mapped)} but not {shown}; Stripe replaces {group} as a whole, "
            f"so say what happens to the parts the sync does not map: partial_address: "
            f"keep_stripe (merge the mapped parts into the customer's current {group}) or "
            f"clear (send the others empty); or map every part",
        )
    if (
        chosen.get("shipping") == "clear"
        and "shipping" in partial
        and "shipping.name" not in fields
    ):
        raise fail(
            ("partial_address", "shipping") if isinstance(value, Mapping) else "partial_address",
            "clear would send shipping without a name, which Stripe refuses: map shipping.name "
            "or keep Stripe's (keep_stripe)",
        )
    return {group: choice for group, choice in chosen.items() if group in partial}


def _model(attributes: Mapping[str, Any], base_dir: Path | None, fail) -> tuple[str, str | None]:
    model, model_file = attributes.get("model"), attributes.get("model_file")
    if bool(model) == bool(model_file):
        raise fail(
            "model",
            "give exactly one of `model` (SQL) or `model_file` (a .sql path next to defs.yaml)",
        )
    if model:
        if not isinstance(model, str):
            raise fail("model", "expected SQL text")
        sql = model
    else:
        if not isinstance(model_file, str):
            raise fail("model_file", "expected a path such as model.sql")
        path = Path(model_file) if base_dir is None else Path(base_dir) / model_file
        if not path.is_file():
            raise fail("model_file", f"{path} does not exist")
        sql = path.read_text(encoding="utf-8")
    sql = clean_sql(sql)
    if not sql:
        raise fail("model_file" if model_file else "model", "the model SQL is empty")
    return sql, model_file


def clean_sql(sql: str) -> str:
    """Strip whitespace and trailing semicolons so the model nests as a subquery."""
    sql = sql.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql

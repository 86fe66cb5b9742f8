"""An export sync's configuration: the attributes of its defs.yaml, checked once.

``ExportConfig`` is the YAML schema of ``StripeCustomerExport`` (the component subclasses
it) and what the plan and apply steps take. Validating it checks every attribute and lists
every problem at its attribute path (``fields.address.countyr``, ``key.stripe_field``, ...).
The YAML key ``model`` (the SQL) is the field ``model_sql``: ``model`` names pydantic's and
Dagster's own methods. Validation context (optional): ``defs_dir``, the folder ``model_file``
is read from (the working directory without it).
"""

from __future__ import annotations

import re
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from stripe_customer_assets.alerts.thresholds import AlertThresholds
from stripe_customer_assets.config_model import StrictModel, check_cron, problem, raise_problems
from stripe_customer_assets.export.accounts import account_config_problems
from stripe_customer_assets.export.fields import (
    HASHES,
    METADATA_MAX_KEYS,
    hash_parts,
    metadata_key_problem,
    stripe_field,
    writable_paths,
)

PartialChoice = Literal["keep_stripe", "clear"]
Conflict = Literal["overwrite", "keep_stripe", "fill_if_empty"]
KEY_FIELDS = ("email", "id", "metadata.<key>")

# A sync names two assets and two tables (<name>, <name>_plan): keep it a plain identifier
# that fits PostgreSQL's 63-character limit with the suffix.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class KeySpec(StrictModel):
    """How a model row finds its Stripe customer: ``column`` of the model = ``stripe_field``."""

    column: str = Field(description="The model column holding each row's key.")
    stripe_field: str = Field(
        description="email, id, or metadata.<key> (an external id kept in metadata)."
    )

    @property
    def metadata_key(self) -> str | None:
        if self.stripe_field.startswith("metadata."):
            return self.stripe_field[len("metadata.") :]
        return None

    @field_validator("column")
    @classmethod
    def _a_column(cls, column: str) -> str:
        if not column.strip():
            raise ValueError("name the model column that holds each row's key")
        return column.strip()

    @field_validator("stripe_field")
    @classmethod
    def _email_id_or_metadata(cls, target: str) -> str:
        if target.startswith("metadata."):
            message = metadata_key_problem(target[len("metadata.") :])
            if message:
                raise ValueError(message)
        elif target not in ("email", "id"):
            raise ValueError(f"'{target}' is not one of: {', '.join(KEY_FIELDS)}")
        return target


class ConflictPolicy(StrictModel):
    """What a write does to a value Stripe holds (``export/conflicts.py``), for the whole
    sync (``default``) and per mapped field (``fields``)."""

    default: Conflict = Field(
        default="overwrite",
        description="overwrite (Stripe gets the model's value), keep_stripe (a value edited in "
        "Stripe since the sync's last write is kept and reported as a conflict) or "
        "fill_if_empty (only fields Stripe holds no value in are written).",
    )
    fields: dict[str, Conflict] = Field(
        default_factory=dict, description="Mapped Stripe field -> its own policy."
    )

    def for_field(self, path: str) -> Conflict:
        return self.fields.get(path, self.default)

    @property
    def uses(self) -> set[str]:
        return {self.default, *self.fields.values()}


class ExportConfig(StrictModel):
    """An export sync: a warehouse model kept in Stripe as customers, on the mapped fields."""

    name: str = Field(
        description="The sync's name: assets <name>_plan and <name>, tables in state_schema."
    )
    description: str = ""
    model_sql: str | None = Field(
        default=None,
        alias="model",
        description="SQL run in the warehouse (or model_file); after loading, the model's SQL.",
    )
    model_file: str | None = Field(
        default=None, description="A .sql file, relative to this defs.yaml."
    )
    deps: tuple[str, ...] = Field(
        default=(), description="Upstream asset keys the model reads (lineage)."
    )
    object: Literal["customer"] = Field(
        default="customer", description="The Stripe object: only 'customer'."
    )
    behavior: Literal["update_or_create", "update_only", "create_only"] = "update_or_create"
    key: KeySpec
    account_column: str | None = Field(
        default=None,
        description="With several Stripe accounts: the model column holding each row's target "
        "account (a configured account's name or a connected account's acct_ id).",
    )
    account: str | None = Field(
        default=None,
        description="With several Stripe accounts: the account every row targets (with "
        "account_column: the rows whose column is empty).",
    )
    fields: dict[str, str] = Field(
        default_factory=dict, description="Stripe field -> model column."
    )
    null_values: Literal["skip", "clear"] = "skip"
    partial_address: dict[Literal["address", "shipping"], PartialChoice] = Field(
        default_factory=dict,
        description="keep_stripe or clear (or per hash: {address: ..., shipping: ...}): what "
        "happens to the parts of address / shipping the sync does not map; required when "
        "some but not all parts are mapped (Stripe replaces these hashes whole). After "
        "loading, the choice of each hash mapped in part.",
        json_schema_extra=lambda schema: _or_one_choice(schema),
    )
    on_duplicate: Literal["skip", "update_all", "update_newest"] = "skip"
    on_conflict: ConflictPolicy = Field(
        default_factory=ConflictPolicy,
        description="overwrite, keep_stripe or fill_if_empty for every field, or "
        "{default: <policy>, fields: {<stripe field>: <policy>}}.",
        json_schema_extra=lambda schema: _or_one_policy(schema),
    )
    schedule: str | None = Field(default=None, description="Cron for plan + sync (UTC).")
    enabled: bool = True
    max_reject_percent: float = Field(
        default=100.0,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Send nothing past this share of rejected rows.",
    )
    max_change_percent: float = Field(
        default=100.0,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Send nothing past this share of matched customers changed.",
    )
    alerts: AlertThresholds | None = Field(default=None, description="Limits that send an alert.")
    state_schema: str = Field(
        default="exports", description="Warehouse schema of the plan and state tables."
    )
    history_days: int = Field(
        default=30,
        ge=1,
        description="Days the sync and plan history (<name>_history, <name>_plan_history, "
        "<name>_plans) are kept; older rows are deleted at the end of each plan and sync.",
    )
    example: bool = Field(
        default=False,
        description="An example sync: it writes only to the project's Stripe stand-in; "
        "against any other account its write step refuses. Remove it once the model is yours.",
    )

    @property
    def creates(self) -> bool:
        return self.behavior in ("update_or_create", "create_only")

    @property
    def updates(self) -> bool:
        return self.behavior in ("update_or_create", "update_only")

    @property
    def model_columns(self) -> list[str]:
        """Every model column the sync reads: the key first, then mapped columns."""
        extra = [self.account_column] if self.account_column else []
        return list(dict.fromkeys([self.key.column, *extra, *self.fields.values()]))

    @field_validator("name")
    @classmethod
    def _a_plain_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"{name!r} must be 1-50 letters, digits or underscores, not starting with a digit"
            )
        if name.endswith(("_plan", "_plans", "_history")):
            raise ValueError(
                f"'{name}' ends with _plan, _plans or _history, which name a sync's own tables"
            )
        return name

    @field_validator("state_schema")
    @classmethod
    def _a_schema_name(cls, schema: str) -> str:
        if not _SCHEMA.match(schema):
            raise ValueError(f"{schema!r} must be a plain SQL identifier")
        return schema

    @field_validator("deps")
    @classmethod
    def _asset_keys(cls, deps: tuple[str, ...]) -> tuple[str, ...]:
        if not all(deps):
            raise ValueError("expected a list of asset keys such as 'analytics/customers'")
        return deps

    @field_validator("schedule")
    @classmethod
    def _a_cron_expression(cls, value: str | None) -> str | None:
        return check_cron(value)

    @field_validator("fields")
    @classmethod
    def _writable_fields(cls, fields: dict[str, str]) -> dict[str, str]:
        found = []
        for path, column in fields.items():
            message = _field_problem(path)
            if message is None and not column.strip():
                message = "name the model column that holds this field"
            if message:
                found.append(problem((path,), message, column))
        raise_problems("fields", found)
        return {path: column.strip() for path, column in fields.items()}

    @field_validator("partial_address", mode="before")
    @classmethod
    def _one_choice_for_both(cls, value: Any) -> Any:
        if value is None:
            return {}
        return dict.fromkeys(HASHES, value) if isinstance(value, str) else value

    @field_validator("on_conflict", mode="before")
    @classmethod
    def _one_policy_for_all(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {"default": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ExportConfig:
        found = self._key_problems() + self._partial_problems() + account_config_problems(self)
        found += [
            problem(
                ("on_conflict", "fields", path),
                f"'{path}' is not a field this sync maps; mapped: {', '.join(self.fields) or 'none'}",
            )
            for path in self.on_conflict.fields
            if path not in self.fields
        ]
        if bool(self.model_sql) == bool(self.model_file):
            found.append(
                problem(
                    ("model",),
                    "give exactly one of `model` (SQL) or `model_file` (a .sql path next to "
                    "defs.yaml)",
                )
            )
        elif self.model_file:
            base = (info.context or {}).get("defs_dir")
            path = Path(base) / self.model_file if base else Path(self.model_file)
            if path.is_file():
                self.model_sql = clean_sql(path.read_text(encoding="utf-8"))
            else:
                found.append(problem(("model_file",), f"{path} does not exist", self.model_file))
        if not found and not clean_sql(self.model_sql or ""):
            found.append(problem(("model_file" if self.model_file else "model",), "the model SQL is empty"))
        self.model_sql = clean_sql(self.model_sql or "")
        raise_problems("ExportConfig", found)
        return self

    def _key_problems(self) -> list[Any]:
        key, found = self.key, []
        if key.stripe_field == "id" and self.behavior != "update_only":
            found.append(
                problem(
                    ("key", "stripe_field"),
                    "a Stripe id cannot be chosen on create, so key 'id' needs behavior: "
                    f"update_only (behavior is {self.behavior})",
                )
            )
        mapped = self.fields.get(key.stripe_field)
        if mapped is not None and mapped != key.column:
            found.append(
                problem(
                    ("fields", key.stripe_field),
                    f"maps column '{mapped}' but the key writes column '{key.column}' there",
                )
            )
        metadata = {p for p in self.fields if p.startswith("metadata.")} | (
            {key.stripe_field} if key.metadata_key else set()
        )
        if len(metadata) > METADATA_MAX_KEYS:
            found.append(
                problem(
                    ("fields",), f"maps {len(metadata)} metadata keys; Stripe allows {METADATA_MAX_KEYS}"
                )
            )
        return found

    def _partial_problems(self) -> list[Any]:
        """Stripe replaces ``address`` and ``shipping`` whole on update: for a hash the sync
        maps only in part, the YAML says what happens to the other parts."""
        found, chosen = [], self.partial_address
        partial = partially_mapped(self.fields)
        for group, (mapped, unmapped) in partial.items():
            if group in chosen:
                continue
            found.append(
                problem(
                    ("fields", mapped[0]),
                    f"maps {', '.join(mapped)} but not {', '.join(unmapped)}; Stripe replaces "
                    f"{group} as a whole, so say what happens to the parts the sync does not "
                    "map: partial_address: keep_stripe (merge the mapped parts into the "
                    f"customer's current {group}) or clear (send the others empty); or map "
                    "every part",
                )
            )
        if chosen.get("shipping") == "clear" and "shipping" in partial and "shipping.name" not in self.fields:
            found.append(
                problem(
                    ("partial_address",),
                    "clear would send shipping without a name, which Stripe refuses: map "
                    "shipping.name or keep Stripe's (keep_stripe)",
                )
            )
        self.partial_address = {g: c for g, c in chosen.items() if g in partial}
        return found


def _field_problem(path: str) -> str | None:
    if stripe_field(path) is not None:
        return None
    if path.startswith("metadata."):
        return metadata_key_problem(path[len("metadata.") :]) or "invalid metadata key"
    close = get_close_matches(path, writable_paths(), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"'{path}' is not a customer field an export can write; {hint}use one of: " + (
        ", ".join(writable_paths())
    )


def _or_one_choice(schema: dict[str, Any]) -> None:
    """``partial_address: keep_stripe`` is short for the same choice for both hashes."""
    mapping = dict(schema)
    schema.clear()
    schema.update(
        anyOf=[{"enum": ["keep_stripe", "clear"]}, mapping], description=mapping.get("description")
    )


def _or_one_policy(schema: dict[str, Any]) -> None:
    """``on_conflict: keep_stripe`` is short for ``{default: keep_stripe}``."""
    mapping = dict(schema)
    schema.clear()
    schema.update(
        anyOf=[{"enum": ["overwrite", "keep_stripe", "fill_if_empty"]}, mapping],
        description=mapping.get("description"),
    )


def parse_config(attributes: dict[str, Any], base_dir: Path | None = None) -> ExportConfig:
    """``ExportConfig`` from defs.yaml attributes; ``base_dir`` is where ``model_file`` is."""
    return ExportConfig.model_validate(attributes, context={"defs_dir": base_dir})


def partially_mapped(fields: dict[str, str]) -> dict[str, tuple[list[str], list[str]]]:
    """hash -> (mapped parts, unmapped parts), for each hash mapped in part only."""
    out = {}
    for group in HASHES:
        parts = hash_parts(group)
        mapped = [p for p in parts if p in fields]
        if mapped and len(mapped) < len(parts):
            out[group] = (mapped, [p for p in parts if p not in fields])
    return out


def clean_sql(sql: str) -> str:
    """Strip whitespace and trailing semicolons so the model nests as a subquery."""
    sql = sql.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql

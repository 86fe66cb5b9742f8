"""The configuration of an import pipeline, as written under ``attributes:`` in its defs.yaml.

These models check the shape only (fields, nesting, YAML types). What the values mean
(operators, property paths, types, cron, code) is checked by ``pipeline.validation``, which
reports every problem with the field it belongs to.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

OPERATORS = (
    "is",
    "is_not",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
    "is_one_of",
    "greater_than",
    "less_than",
)
MATCHES = ("all", "any")
PROPERTY_TYPES = ("string", "integer", "number", "boolean", "timestamp", "json")

DEFAULT_JS_TIMEOUT_MS = 500
DEFAULT_JS_MEMORY_MB = 64
DEFAULT_MAX_REJECT_RATE = 0.01


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(_Strict):
    """One test on a customer property."""

    property: str = Field(
        description="A Stripe customer path: email, name, created, currency, delinquent, balance, "
        "address.country, metadata.<key>, ..."
    )
    operator: str = Field(json_schema_extra={"enum": list(OPERATORS)})
    value: Any = Field(
        default=None,
        description="A string, number, boolean or timestamp; a list for is_one_of; none for "
        "is_empty / is_not_empty.",
    )
    ignore_case: bool = Field(default=False, description="Compare text case-insensitively.")


def _condition_or_group(value: Any) -> str:
    if isinstance(value, FilterGroup):
        return "group"
    if isinstance(value, dict) and ("conditions" in value or "match" in value):
        return "group"
    return "condition"


class FilterGroup(_Strict):
    """Conditions joined by ``match``: ``all`` (and) or ``any`` (or); groups nest."""

    match: str = Field(default="all", json_schema_extra={"enum": list(MATCHES)})
    conditions: list[
        Annotated[
            Annotated[Condition, Tag("condition")] | Annotated[FilterGroup, Tag("group")],
            Discriminator(_condition_or_group),
        ]
    ] = Field(default_factory=list)


class Transformation(_Strict):
    """How a Stripe customer becomes a row: mapping, then python, then javascript."""

    mapping: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description="Model property -> expression over the Stripe customer, e.g. "
        "'lower(trim(email))', 'default(metadata.plan, \"free\")'. Non-string values are constants.",
    )
    python: str | None = Field(
        default=None,
        description="'module:function' called once per customer with the customer dict; returns "
        "a dict of model properties, or None to leave the customer out.",
    )
    javascript: str | None = Field(
        default=None,
        description="JavaScript source defining `function transform(customer)`; runs in a V8 "
        "isolate with no I/O; returns an object of model properties, or null.",
    )
    javascript_timeout_ms: int = Field(
        default=DEFAULT_JS_TIMEOUT_MS, description="Time limit of transform() for one customer."
    )
    javascript_max_memory_mb: int = Field(
        default=DEFAULT_JS_MEMORY_MB, description="Heap limit of the JavaScript isolate."
    )


class PropertySpec(_Strict):
    """One property of the customer model (one column of the table)."""

    type: str = Field(json_schema_extra={"enum": list(PROPERTY_TYPES)})
    nullable: bool = True
    description: str | None = None


class PipelineConfig(_Strict):
    """Everything that defines one import pipeline."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    table: str
    description: str | None = None
    filters: FilterGroup | None = None
    incremental: bool = True
    transformation: Transformation = Field(default_factory=Transformation)
    properties: dict[str, PropertySpec | str] = Field(alias="schema")
    schedule: str | None = None
    enabled: bool = True
    max_reject_rate: float = DEFAULT_MAX_REJECT_RATE


FilterGroup.model_rebuild()
PipelineConfig.model_rebuild()

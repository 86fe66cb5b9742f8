"""An import pipeline's configuration: the attributes of its defs.yaml, checked once.

``PipelineConfig`` is the YAML schema of ``StripeCustomerImport`` (the component subclasses
it) and what ``compile_pipeline`` takes. Validating it checks everything a file can get wrong
and lists every problem at its attribute path: operators, Stripe customer paths (against
Stripe's customer object: ``address.countyr`` is refused), values against their operators,
mapping expressions, types, the cron expression, the Python and JavaScript code.

Validation context (optional): ``defs_module``, the Python package of the defs.yaml's
folder, against which ``python: .transform:fn`` is imported.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stripe_customer_assets.alerts.thresholds import AlertThresholds
from stripe_customer_assets.config_model import StrictModel, check_cron, problem, raise_problems
from stripe_customer_assets.pipeline.filters.operands import operands_for
from stripe_customer_assets.pipeline.model import KEY_COLUMN, PROPERTY_NAME
from stripe_customer_assets.pipeline.properties import parse_path
from stripe_customer_assets.pipeline.transforms.javascript import check_javascript
from stripe_customer_assets.pipeline.transforms.mapping import compile_expression
from stripe_customer_assets.pipeline.transforms.python import CustomerFunction, load_function
from stripe_customer_assets.warehouse import WarehouseError, quote_table

Operator = Literal[
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
]
PropertyType = Literal["string", "integer", "number", "boolean", "timestamp", "json"]
PROPERTY_TYPES: tuple[str, ...] = get_args(PropertyType)

DEFAULT_JS_TIMEOUT_MS = 500
DEFAULT_JS_MEMORY_MB = 64
DEFAULT_MAX_REJECT_RATE = 0.01
PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Condition(StrictModel):
    """One test on a customer property."""

    property: str = Field(
        description="A Stripe customer path: email, name, created, currency, delinquent, balance, "
        "address.country, metadata.<key>, ..."
    )
    operator: Operator
    value: Any = Field(
        default=None,
        description="A string, number, boolean or timestamp; a list for is_one_of; none for "
        "is_empty / is_not_empty.",
    )
    ignore_case: bool = Field(default=False, description="Compare text case-insensitively.")

    @field_validator("property")
    @classmethod
    def _a_customer_field(cls, value: str) -> str:
        parse_path(value)
        return value

    @model_validator(mode="after")
    def _value_fits_the_operator(self) -> Condition:
        try:
            operands_for(parse_path(self.property), self.operator, self.value)
        except ValueError as err:
            raise_problems("Condition", [problem(("value",), str(err), self.value)])
        return self


class FilterGroup(StrictModel):
    """Conditions joined by ``match``: ``all`` (and) or ``any`` (or); groups nest."""

    match: Literal["all", "any"] = "all"
    conditions: list[Condition | FilterGroup] = Field(
        description="{property, operator, value} conditions or nested {match, conditions} groups."
    )

    @field_validator("conditions", mode="before")
    @classmethod
    def _each_a_condition_or_a_group(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, list):
            return value
        if not value:
            raise ValueError("a filter group needs at least one condition")
        items, found = [], []
        for index, item in enumerate(value):
            is_group = isinstance(item, dict) and ("conditions" in item or "match" in item)
            kind = FilterGroup if is_group else Condition
            try:
                items.append(kind.model_validate(item, context=info.context))
            except ValidationError as err:
                found += [{**e, "loc": (index, *e["loc"])} for e in err.errors()]
        raise_problems("FilterGroup", found)
        return items


class Transformation(StrictModel):
    """How a Stripe customer becomes a row: mapping, then python, then javascript."""

    mapping: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description="Model property -> expression over the Stripe customer, e.g. "
        "'lower(trim(email))', 'default(metadata.plan, \"free\")'. Non-string values are constants.",
    )
    python: str | None = Field(
        default=None,
        description="'module:function', or '.module:function' for a module beside the defs.yaml, "
        "called once per customer with the customer dict; returns a dict of model properties, "
        "or None to leave the customer out.",
    )
    javascript: str | None = Field(
        default=None,
        description="JavaScript source defining `function transform(customer)`; runs in a V8 "
        "isolate with no I/O; returns an object of model properties, or null.",
    )
    javascript_timeout_ms: int = Field(
        default=DEFAULT_JS_TIMEOUT_MS, gt=0, description="Time limit of transform() for one customer."
    )
    javascript_max_memory_mb: int = Field(
        default=DEFAULT_JS_MEMORY_MB, ge=8, description="Heap limit of the JavaScript isolate (MB)."
    )

    _function: CustomerFunction | None = PrivateAttr(default=None)

    @property
    def function(self) -> CustomerFunction | None:
        """The Python transform, imported when the configuration was checked."""
        return self._function

    @field_validator("mapping")
    @classmethod
    def _expressions_compile(cls, mapping: dict[str, Any]) -> dict[str, Any]:
        found = []
        for prop, expression in mapping.items():
            try:
                compile_expression(expression)
            except ValueError as err:
                found.append(problem((prop,), str(err), expression))
        raise_problems("Transformation", found)
        return mapping

    @model_validator(mode="after")
    def _code_loads(self, info: ValidationInfo) -> Transformation:
        found = []
        if self.python is not None:
            package = (info.context or {}).get("defs_module")
            try:
                self._function = load_function(self.python, package)
            except ValueError as err:
                found.append(problem(("python",), str(err), self.python))
        if self.javascript is not None:
            try:
                check_javascript(self.javascript, self.javascript_timeout_ms)
            except ValueError as err:
                found.append(problem(("javascript",), f"JavaScript {err}", "..."))
        raise_problems("Transformation", found)
        return self


class PropertySpec(StrictModel):
    """One property of the customer model (one column of the table)."""

    type: PropertyType
    nullable: bool = True
    description: str | None = None


def _shorthand_in_schema(schema: dict[str, Any]) -> None:
    """``email: string`` is short for ``email: {type: string}``."""
    schema["additionalProperties"] = {
        "anyOf": [schema.get("additionalProperties", {}), {"enum": list(PROPERTY_TYPES)}]
    }


class PipelineConfig(StrictModel):
    """An import pipeline: Stripe customers from the mirror, filtered and transformed into a
    typed table of the warehouse, incrementally, on a schedule."""

    name: str = Field(description="Pipeline name: lower-case letters, digits and '_'.")
    description: str | None = Field(default=None, description="What the table is for.")
    table: str = Field(description="Target table, e.g. analytics.pro_customers.")
    filters: FilterGroup | None = Field(
        default=None,
        description="match: all | any, and conditions ({property, operator, value} or nested "
        "groups). None: every customer.",
    )
    incremental: bool = Field(
        default=True,
        description="Apply only customers changed since the last run; false rebuilds every run.",
    )
    history: bool = Field(
        default=False,
        description="Keep every version of each row (valid_from, valid_to, is_current), like a "
        "dbt snapshot, built from the mirror's customer history; false keeps one row per customer.",
    )
    properties: dict[str, PropertySpec] = Field(
        alias="schema",
        description="The customer model: property -> type, or {type, nullable, description}.",
        json_schema_extra=_shorthand_in_schema,
    )
    transformation: Transformation = Field(
        default_factory=Transformation, description="mapping, then python, then javascript."
    )
    schedule: str | None = Field(
        default=None, description="Cron expression (UTC), e.g. '0 * * * *'."
    )
    enabled: bool = Field(
        default=True, description="false: the schedule is stopped and runs refuse to start."
    )
    max_reject_rate: float = Field(
        default=DEFAULT_MAX_REJECT_RATE,
        ge=0.0,
        le=1.0,
        description="The reject_rate check fails when a run rejects more than this share of "
        "customers (a fraction between 0 and 1).",
    )
    alerts: AlertThresholds | None = Field(default=None, description="Limits that send an alert.")

    @field_validator("name")
    @classmethod
    def _a_plain_name(cls, name: str) -> str:
        if not PIPELINE_NAME.match(name):
            raise ValueError(
                f"'{name}' must start with a lower-case letter and hold only lower-case letters, "
                "digits and '_'"
            )
        return name

    @field_validator("table")
    @classmethod
    def _a_table_name(cls, table: str) -> str:
        try:
            quote_table(table)
        except WarehouseError as err:
            raise ValueError(str(err)) from None
        return table

    @field_validator("properties", mode="before")
    @classmethod
    def _typed_properties(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if not value:
            raise ValueError("the customer model needs at least one property")
        found = []
        for name in value:
            message = _property_name_problem(str(name))
            if message:
                found.append(problem((name,), message, name))
        raise_problems("schema", found)
        return {k: {"type": v} if isinstance(v, str) else v for k, v in value.items()}

    @field_validator("transformation")
    @classmethod
    def _maps_declared_properties(cls, value: Transformation, info: ValidationInfo) -> Transformation:
        declared = info.data.get("properties")
        if declared is None:  # the schema itself is wrong: reported there
            return value
        raise_problems(
            "Transformation",
            [
                problem(
                    ("mapping", prop),
                    f"'{prop}' is not a property of the schema; declare it under schema: or "
                    f"remove it (the schema has: {', '.join(declared)})",
                    prop,
                )
                for prop in value.mapping
                if prop not in declared
            ],
        )
        return value

    @field_validator("schedule")
    @classmethod
    def _a_cron_expression(cls, value: str | None) -> str | None:
        return check_cron(value)


def _property_name_problem(name: str) -> str | None:
    if name == KEY_COLUMN:
        return f"'{KEY_COLUMN}' is the table's key and always present; choose another property name"
    if not PROPERTY_NAME.match(name):
        return (
            f"property name '{name}' must start with a lower-case letter and hold only lower-case "
            "letters, digits and '_' (at most 63); names starting with '_' are reserved"
        )
    return None


FilterGroup.model_rebuild()

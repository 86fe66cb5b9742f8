"""Check a pipeline's configuration once, at load, and report every problem with its field.

The schedule is Dagster's to read; the component checks its cron expression.
"""

from __future__ import annotations

from stripe_customer_assets.pipeline.config import MATCHES, OPERATORS, FilterGroup, PipelineConfig
from stripe_customer_assets.pipeline.filters.operands import operands_for
from stripe_customer_assets.pipeline.model import property_problem
from stripe_customer_assets.pipeline.problems import ConfigProblem, FieldPath
from stripe_customer_assets.pipeline.properties import parse_path
from stripe_customer_assets.pipeline.transforms.javascript import check_javascript
from stripe_customer_assets.pipeline.transforms.mapping import compile_expression
from stripe_customer_assets.pipeline.transforms.python import load_function
from stripe_customer_assets.warehouse import WarehouseError, quote_table

PIPELINE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def find_problems(config: PipelineConfig) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    problems += _identity(config)
    if config.filters is not None:
        problems += _group(config.filters, ("filters",))
    problems += _schema(config)
    problems += _transformation(config)
    if not 0.0 <= config.max_reject_rate <= 1.0:
        problems.append(
            ConfigProblem(
                ("max_reject_rate",), f"{config.max_reject_rate} is not a fraction between 0 and 1"
            )
        )
    return problems


def _identity(config: PipelineConfig) -> list[ConfigProblem]:
    problems = []
    if (
        not config.name
        or not set(config.name) <= PIPELINE_NAME_CHARS
        or not config.name[0].isalpha()
    ):
        problems.append(
            ConfigProblem(
                ("name",),
                f"'{config.name}' must start with a lower-case letter and hold only lower-case "
                "letters, digits and '_'",
            )
        )
    try:
        quote_table(config.table)
    except WarehouseError as err:
        problems.append(ConfigProblem(("table",), str(err)))
    return problems


def _group(group: FilterGroup, path: FieldPath) -> list[ConfigProblem]:
    problems = []
    if group.match not in MATCHES:
        problems.append(
            ConfigProblem((*path, "match"), f"unknown match '{group.match}'; use all or any")
        )
    if not group.conditions:
        problems.append(
            ConfigProblem((*path, "conditions"), "a filter group needs at least one condition")
        )
    for index, item in enumerate(group.conditions):
        here = (*path, "conditions", index)
        if isinstance(item, FilterGroup):
            problems += _group(item, here)
            continue
        if item.operator not in OPERATORS:
            problems.append(
                ConfigProblem(
                    (*here, "operator"),
                    f"unknown operator '{item.operator}'; use one of {', '.join(OPERATORS)}",
                )
            )
            continue
        try:
            customer_path = parse_path(item.property)
        except ValueError as err:
            problems.append(ConfigProblem((*here, "property"), str(err)))
            continue
        try:
            operands_for(customer_path, item.operator, item.value)
        except ValueError as err:
            problems.append(ConfigProblem((*here, "value"), str(err)))
    return problems


def _schema(config: PipelineConfig) -> list[ConfigProblem]:
    if not config.properties:
        return [ConfigProblem(("schema",), "the customer model needs at least one property")]
    problems = []
    for name, spec in config.properties.items():
        found = property_problem(name, spec)
        if found:
            field, message = found
            problems.append(
                ConfigProblem(("schema", name, field) if field else ("schema", name), message)
            )
    return problems


def _transformation(config: PipelineConfig) -> list[ConfigProblem]:
    transformation = config.transformation
    problems = []
    for prop, expression in transformation.mapping.items():
        here: FieldPath = ("transformation", "mapping", prop)
        if prop not in config.properties:
            problems.append(
                ConfigProblem(
                    here,
                    f"'{prop}' is not a property of the schema; declare it under schema: or remove it",
                )
            )
            continue
        try:
            compile_expression(expression)
        except ValueError as err:
            problems.append(ConfigProblem(here, str(err)))
    if transformation.python is not None:
        try:
            load_function(transformation.python)
        except ValueError as err:
            problems.append(ConfigProblem(("transformation", "python"), str(err)))
    if transformation.javascript_timeout_ms <= 0:
        problems.append(
            ConfigProblem(
                ("transformation", "javascript_timeout_ms"), "must be a positive number of ms"
            )
        )
    if transformation.javascript_max_memory_mb < 8:
        problems.append(
            ConfigProblem(("transformation", "javascript_max_memory_mb"), "must be at least 8 (MB)")
        )
    if transformation.javascript is not None and transformation.javascript_timeout_ms > 0:
        try:
            check_javascript(transformation.javascript, transformation.javascript_timeout_ms)
        except ValueError as err:
            problems.append(ConfigProblem(("transformation", "javascript"), f"JavaScript {err}"))
    return problems

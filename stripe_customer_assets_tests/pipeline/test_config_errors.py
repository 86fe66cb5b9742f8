"""Bad configuration fails at load, naming the defs.yaml, the line, the field and what is wrong."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from stripe_customer_assets.pipeline import PipelineConfig, PipelineConfigError, compile_pipeline
from stripe_customer_assets_tests.pipeline.component_support import load_defs_yaml

VALID = """
type: stripe_customer_assets.components.stripe_import.StripeCustomerImport
attributes:
  name: broken
  table: analytics.broken
  filters:
    conditions:
      - {property: metadata.plan, operator: is, value: pro}
  transformation:
    mapping:
      email: lower(email)
  schema:
    email: string
    seats: integer
  schedule: "0 * * * *"
"""


def load_error(yaml_text: str) -> str:
    """The message of the configuration error raised while loading ``yaml_text``."""
    with (
        pytest.raises(Exception) as caught,
        load_defs_yaml(textwrap.dedent(yaml_text), folder="broken"),
    ):
        pass
    error = caught.value
    while error is not None and not isinstance(error, (PipelineConfigError, ValidationError)):
        error = error.__cause__ or error.__context__
    assert error is not None, f"no configuration error in {caught.value!r}"
    return str(error)


def line_of(yaml_text: str, needle: str) -> int:
    return next(
        i for i, line in enumerate(textwrap.dedent(yaml_text).splitlines(), 1) if needle in line
    )


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        pytest.param(
            "operator: is,",
            "operator: equals,",
            "filters.conditions[0].operator",
            "unknown operator 'equals'; use one of is, is_not",
            id="unknown-operator",
        ),
        pytest.param(
            "seats: integer",
            "seats: int",
            "schema.seats",
            "unknown property type 'int'; use one of string, integer",
            id="unknown-property-type",
        ),
        pytest.param(
            "email: lower(email)",
            "full_name: lower(name)",
            "transformation.mapping.full_name",
            "'full_name' is not a property of the schema",
            id="mapping-to-undefined-property",
        ),
        pytest.param(
            'schedule: "0 * * * *"',
            'schedule: "every hour"',
            "schedule",
            "'every hour' is not a valid cron expression",
            id="bad-cron",
        ),
        pytest.param(
            "email: lower(email)",
            "email: lowr(email)",
            "transformation.mapping.email",
            "unknown function 'lowr'",
            id="unknown-mapping-function",
        ),
        pytest.param(
            "property: metadata.plan",
            "property: emial",
            "filters.conditions[0].property",
            "unknown customer property 'emial'",
            id="unknown-customer-property",
        ),
        pytest.param(
            "value: pro}",
            "value: [pro]}",
            "filters.conditions[0].value",
            "is compares one value, not a list",
            id="wrong-value-shape",
        ),
        pytest.param(
            "table: analytics.broken",
            "table: a.b.c",
            "table",
            "invalid table name 'a.b.c'",
            id="bad-table-name",
        ),
    ],
)
def test_a_bad_field_is_reported_with_file_line_field_and_reason(old, new, field, reason):
    broken = VALID.replace(old, new)
    message = load_error(broken)
    assert "Import pipeline 'broken' in " in message and "defs/broken/defs.yaml" in message
    assert f"line {line_of(broken, new)}, attributes.{field}: {reason}" in message


@pytest.mark.parametrize(
    ("python", "reason"),
    [
        pytest.param(
            "stripe_customer_assets.pipeline.examples:nope",
            "module 'stripe_customer_assets.pipeline.examples' has no function 'nope'",
            id="missing-function",
        ),
        pytest.param(
            "no_such_module_here:transform",
            "cannot import module 'no_such_module_here'",
            id="missing-module",
        ),
        pytest.param(
            "just_a_name", "'just_a_name' must be 'module:function'", id="not-module-function"
        ),
    ],
)
def test_a_python_transform_that_cannot_be_found_is_reported(python, reason):
    broken = VALID.replace(
        "      email: lower(email)\n", f"      email: lower(email)\n    python: {python}\n"
    )
    message = load_error(broken)
    assert (
        f"line {line_of(broken, 'python:')}, attributes.transformation.python: {reason}" in message
    )


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        pytest.param(
            "function transform(c) {\\n  return ( ;\\n}",
            "JavaScript does not compile: line 2: SyntaxError",
            id="syntax-error",
        ),
        pytest.param(
            "function tranform(c) { return {}; }",
            "JavaScript must define a function transform(customer)",
            id="no-transform",
        ),
        pytest.param(
            "while (true) {}", "JavaScript its top-level code did not finish", id="top-level-loop"
        ),
    ],
)
def test_javascript_that_does_not_compile_is_reported(source, reason):
    broken = VALID.replace(
        "      email: lower(email)\n", f'      email: lower(email)\n    javascript: "{source}"\n'
    )
    message = load_error(broken)
    assert (
        f"line {line_of(broken, 'javascript:')}, attributes.transformation.javascript: {reason}"
        in message
    )


def test_every_problem_is_reported_at_once_in_file_order():
    broken = VALID.replace("operator: is,", "operator: equals,").replace(
        "seats: integer", "seats: int"
    )
    message = load_error(broken)
    assert message.index("operator") < message.index("schema.seats")
    assert message.count("\n  - ") == 2


def test_a_misspelled_field_is_reported_by_the_yaml_schema_with_its_line():
    broken = VALID.replace("operator: is,", "opertor: is,")
    message = load_error(broken)
    assert "opertor" in message and "defs.yaml:" in message


def test_plain_python_configuration_errors_name_the_field_and_source():
    config = PipelineConfig.model_validate(
        {"name": "Bad Name", "table": "t", "schema": {"_hidden": "string"}, "max_reject_rate": 2}
    )
    with pytest.raises(PipelineConfigError) as caught:
        compile_pipeline(config, source="pipelines/bad.yaml")
    message = str(caught.value)
    assert message.startswith("Import pipeline 'Bad Name' in pipelines/bad.yaml is invalid:")
    assert "attributes.name: 'Bad Name' must start with a lower-case letter" in message
    assert (
        "attributes.schema._hidden: property name '_hidden' must start with a lower-case letter"
        in message
    )
    assert "attributes.max_reject_rate: 2.0 is not a fraction between 0 and 1" in message

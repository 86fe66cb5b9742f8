"""Bad configuration fails at load: every problem at once, each with the defs.yaml, its line,
the attribute and what would be valid (placed by Dagster)."""

from __future__ import annotations

import re
import textwrap

import dagster as dg
import pytest
from pydantic import ValidationError

from stripe_customer_assets.pipeline import PipelineConfig
from stripe_customer_assets_tests.pipeline.component_support import load_defs_yaml, with_warehouse

ASSET = dg.AssetKey(["analytics", "broken"])
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


def load_error(yaml_text: str, files: dict[str, str] | None = None) -> str:
    """The message of the configuration error raised while loading ``yaml_text``."""
    with (
        pytest.raises(Exception) as caught,
        load_defs_yaml(textwrap.dedent(yaml_text), folder="broken", files=files),
    ):
        pass
    error = caught.value
    while error is not None and not isinstance(error, ValidationError):
        error = error.__cause__ or error.__context__
    assert error is not None, f"no configuration error in {caught.value!r}"
    return str(error)


def line_of(yaml_text: str, needle: str) -> int:
    return next(
        i for i, line in enumerate(textwrap.dedent(yaml_text).splitlines(), 1) if needle in line
    )


def assert_placed(message: str, field: str, line: int, reason: str) -> None:
    """``attributes.<field> at <...>/defs/broken/defs.yaml:<line>`` followed by the reason."""
    where = re.escape(f"attributes.{field} at ") + r"\S*defs/broken/defs\.yaml:" + str(line) + "`"
    match = re.search(where + r"\n  (.*)", message)
    assert match, f"attributes.{field} at line {line} not in:\n{message}"
    assert reason in match.group(1), match.group(1)


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        pytest.param(
            "operator: is,",
            "operator: equals,",
            "filters.conditions.0.operator",
            "Input should be 'is', 'is_not', 'contains', 'not_contains', 'starts_with'",
            id="unknown-operator",
        ),
        pytest.param(
            "seats: integer",
            "seats: int",
            "schema.seats.type",
            "Input should be 'string', 'integer', 'number', 'boolean', 'timestamp' or 'json'",
            id="unknown-property-type",
        ),
        pytest.param(
            "email: lower(email)",
            "full_name: lower(name)",
            "transformation.mapping.full_name",
            "'full_name' is not a property of the schema; declare it under schema: or remove it "
            "(the schema has: email, seats)",
            id="mapping-to-undefined-property",
        ),
        pytest.param(
            'schedule: "0 * * * *"',
            'schedule: "every hour"',
            "schedule",
            "'every hour' is not a valid cron expression; use five fields",
            id="bad-cron",
        ),
        pytest.param(
            "email: lower(email)",
            "email: lowr(email)",
            "transformation.mapping.email",
            "unknown function 'lowr'; use one of",
            id="unknown-mapping-function",
        ),
        pytest.param(
            "email: lower(email)",
            "email: upper(address.countyr)",
            "transformation.mapping.email",
            "unknown field 'countyr' in 'address.countyr'; did you mean 'country'? address has: "
            "city, country, line1, line2, postal_code, state",
            id="mapping-sub-path-typo",
        ),
        pytest.param(
            "property: metadata.plan",
            "property: shipping.address.cty",
            "filters.conditions.0.property",
            "unknown field 'cty' in 'shipping.address.cty'; did you mean 'city'?",
            id="filter-sub-path-typo",
        ),
        pytest.param(
            "property: metadata.plan",
            "property: emial",
            "filters.conditions.0.property",
            "unknown field 'emial'; did you mean 'email'? a Stripe customer has: address, balance",
            id="unknown-customer-property",
        ),
        pytest.param(
            "property: metadata.plan",
            "property: email.domain",
            "filters.conditions.0.property",
            "'email' has no fields; use 'email' alone",
            id="sub-field-of-a-value",
        ),
        pytest.param(
            "value: pro}",
            "value: [pro]}",
            "filters.conditions.0.value",
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
        pytest.param(
            'schedule: "0 * * * *"',
            'schedule: "0 * * * *"\n  max_reject_rate: lots',
            "max_reject_rate",
            "Input should be a valid number",
            id="wrong-type",
        ),
        pytest.param(
            'schedule: "0 * * * *"',
            'schedule: "0 * * * *"\n  enabeld: false',
            "enabeld",
            "unknown attribute 'enabeld'; did you mean 'enabled'? use one of: name, description, "
            "table, filters, incremental, history, schema, transformation, schedule, enabled, max_reject_rate",
            id="unknown-attribute",
        ),
        pytest.param(
            "operator: is,",
            "opertor: is,",
            "filters.conditions.0.opertor",
            "unknown attribute 'opertor'; did you mean 'operator'? use one of: property, "
            "operator, value, ignore_case",
            id="unknown-nested-attribute",
        ),
    ],
)
def test_a_bad_attribute_is_reported_with_file_line_field_and_what_is_valid(old, new, field, reason):
    broken = VALID.replace(old, new)
    assert broken != VALID
    assert_placed(load_error(broken), field, line_of(broken, new.split("\n")[-1]), reason)


@pytest.mark.parametrize(
    ("python", "reason"),
    [
        pytest.param(
            "stripe_customer_assets.defs.pro_customers.transform:nope",
            "module 'stripe_customer_assets.defs.pro_customers.transform' has no function 'nope'",
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
        pytest.param(
            ".transform:nope", "has no function 'nope'", id="relative-missing-function"
        ),
        pytest.param(".elsewhere:row", "cannot import module '", id="relative-missing-module"),
    ],
)
def test_a_python_transform_that_cannot_be_found_is_reported(python, reason):
    broken = VALID.replace(
        "      email: lower(email)\n", f"      email: lower(email)\n    python: {python}\n"
    )
    message = load_error(broken, files={"transform.py": "def row(customer):\n    return {}\n"})
    assert_placed(message, "transformation.python", line_of(broken, "python:"), reason)


def test_a_python_transform_beside_the_defs_yaml_is_loaded_relative_to_it():
    yaml_text = VALID.replace(
        "      email: lower(email)\n", "      email: lower(email)\n    python: .transform:row\n"
    )
    files = {"transform.py": "def row(customer):\n    return {'seats': 3}\n"}
    with load_defs_yaml(textwrap.dedent(yaml_text), folder="broken", files=files) as defs:
        resolved = with_warehouse(defs, "duckdb:///:memory:", "stripe")
        spec = resolved.resolve_assets_def(ASSET).specs_by_key[ASSET]
    assert spec.metadata["dagster/table_name"] == "analytics.broken"


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
    assert_placed(
        load_error(broken), "transformation.javascript", line_of(broken, "javascript:"), reason
    )


def test_every_problem_is_reported_at_once_in_file_order():
    broken = (
        VALID.replace("operator: is,", "operator: equals,")
        .replace("seats: integer", "seats: int")
        .replace('schedule: "0 * * * *"', 'schedule: "hourly"\n  enabeld: true')
        .replace("lower(email)", "lower(address.countyr)")
    )
    message = load_error(broken)
    fields = re.findall(r"`attributes\.(\S+) at ", message)
    assert fields == [
        "filters.conditions.0.operator",
        "transformation.mapping.email",
        "schema.seats.type",
        "schedule",
        "enabeld",
    ]
    assert message.startswith("5 validation errors for StripeCustomerImport")


def test_a_template_is_rendered_before_it_is_checked(monkeypatch):
    monkeypatch.setenv("BROKEN_CRON", "not a cron")
    broken = VALID.replace('schedule: "0 * * * *"', 'schedule: "{{ env.BROKEN_CRON }}"')
    assert_placed(
        load_error(broken), "schedule", line_of(broken, "BROKEN_CRON"), "'not a cron' is not"
    )
    monkeypatch.setenv("BROKEN_CRON", "*/5 * * * *")
    with load_defs_yaml(textwrap.dedent(broken), folder="broken") as defs:
        assert defs is not None  # the rendered cron is valid: the file loads


def test_plain_python_configuration_errors_name_the_field():
    with pytest.raises(ValidationError) as caught:
        PipelineConfig.model_validate(
            {"name": "Bad Name", "table": "t", "schema": {"_hidden": "string"}, "max_reject_rate": 2}
        )
    errors = {e["loc"]: e["msg"] for e in caught.value.errors()}
    assert "'Bad Name' must start with a lower-case letter" in errors[("name",)]
    assert "property name '_hidden' must start with a lower-case letter" in errors[
        ("schema", "_hidden")
    ]
    assert errors[("max_reject_rate",)] == "Input should be less than or equal to 1"

"""The table of a Stripe customer's fields equals Stripe's OpenAPI description (spec3.yaml)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from stripe_customer_assets.export.fields import writable_paths
from stripe_customer_assets.stripe_api.customer_fields import (
    CUSTOMER_FIELDS,
    FREE,
    LEAF,
    NEWER_FIELDS,
    ListOf,
    field_problem,
)
from stripe_standin.spec import find_spec, load_spec


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    path = find_spec()
    if path is None:
        message = "Stripe's spec3.yaml not found (set STRIPE_OPENAPI_SPEC)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return load_spec(path)["components"]["schemas"]


def shape(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """The spec's schema in the table's terms: a dict of fields, ListOf, LEAF or FREE."""
    if "$ref" in schema:
        return shape(schemas[schema["$ref"].split("/")[-1]], schemas)
    if "anyOf" in schema:  # a nullable object; or an id or the object it expands to (free)
        options = schema["anyOf"]
        if len(options) == 1 and "$ref" in options[0]:
            return shape(options[0], schemas)
        return FREE
    if schema.get("type") == "array":
        return ListOf(shape(schema.get("items", {}), schemas))
    if schema.get("type") == "object":
        if schema.get("x-expandableFields") is not None and "properties" not in schema:
            return FREE
        properties = schema.get("properties")
        if not properties or "data" in properties and "has_more" in properties:
            return FREE  # a map of the account's own keys, or a list object
        return {name: shape(s, schemas) for name, s in properties.items()}
    return LEAF


def test_the_table_is_stripes_customer_object(schemas):
    spec = schemas["customer"]["properties"]
    assert set(CUSTOMER_FIELDS) == set(spec)
    for name, entry in CUSTOMER_FIELDS.items():
        if entry is FREE:  # an object or an expandable id: not a plain value
            assert spec[name].get("type") != "string" or "anyOf" in spec[name], name
            assert spec[name].get("type") not in ("integer", "boolean", "number"), name
        else:
            assert entry == shape(spec[name], schemas), name


def test_fields_of_newer_api_versions_are_not_in_the_pinned_one(schemas):
    assert not set(NEWER_FIELDS) & set(schemas["customer"]["properties"])


def test_every_field_an_export_writes_is_a_customer_field():
    for path in writable_paths():
        segments = tuple(path.replace("<key>", "k").split("."))
        assert field_problem(segments) is None, path


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        (("address", "countyr"), "unknown field 'countyr' in 'address.countyr'; did you mean 'country'?"),
        (("invoice_settings", "rendering_options", "tax"), "rendering_options has: amount_tax_display"),
        (("preferred_locales", "first"), "is a list: index it with a number"),
        (("email", "domain"), "'email' has no fields"),
        (("metadata", "any", "thing"), None),
        (("invoice_settings", "custom_fields", 0, "value"), None),
        (("tax", "location", "country"), None),
        (("discount", "coupon", "id"), None),
    ],
)
def test_a_path_is_checked_to_its_last_segment(path, problem):
    found = field_problem(path)
    assert (found is None) if problem is None else (problem in (found or "")), found

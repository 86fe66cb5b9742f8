"""The customer model: each type lands typed on both dialects; misfits are rejected with a reason."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from stripe_customer_assets.pipeline.coercion import TypeMismatch, coerce
from stripe_customer_assets.pipeline.model import ModelProperty
from stripe_customer_assets_tests.pipeline.support import customer, pipeline, run, table_rows

TYPED = customer(
    1,
    metadata={"seats": "42", "ratio": "3.5", "vip": "yes", "renews": "2025-03-01T12:00:00Z"},
    balance=-1250,
    delinquent=False,
)


@pytest.fixture(scope="module")
def typed_row(module_mirror):
    module_mirror.put([TYPED])
    table = f"{module_mirror.target_schema}.typed"
    p = pipeline(
        table,
        schema={
            "name": "string",
            "seats": "integer",
            "balance": "integer",
            "ratio": "number",
            "vip": "boolean",
            "delinquent": "boolean",
            "created": "timestamp",
            "renews": "timestamp",
            "metadata": "json",
            "preferred_locales": "json",
        },
        transformation={
            "mapping": {
                "seats": "metadata.seats",
                "ratio": "metadata.ratio",
                "vip": "metadata.vip",
                "renews": "metadata.renews",
            }
        },
    )
    result = run(p, module_mirror)
    assert result.rejected == 0, result.reject_sample
    return table_rows(module_mirror.warehouse, table)["cus_00001"]


def test_strings_land_as_text(typed_row):
    assert typed_row["name"] == "Customer 1"


def test_integers_land_as_integers_also_from_text(typed_row):
    assert (typed_row["seats"], typed_row["balance"]) == (42, -1250)


def test_numbers_land_as_floats(typed_row):
    assert typed_row["ratio"] == pytest.approx(3.5)


def test_booleans_land_as_booleans_also_from_yes_no(typed_row):
    assert (typed_row["vip"], typed_row["delinquent"]) == (True, False)


def test_timestamps_land_in_utc_from_epoch_and_iso(typed_row):
    assert typed_row["created"] == dt.datetime(2023, 11, 15, 22, 13, 20, tzinfo=dt.UTC)
    assert typed_row["renews"] == dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)


def test_json_lands_as_json(typed_row):
    metadata, locales = (
        json.loads(v) if isinstance(v, str) else v
        for v in (typed_row["metadata"], typed_row["preferred_locales"])
    )
    assert metadata["seats"] == "42"
    assert locales == ["en", "fr"]


@pytest.mark.parametrize(
    ("type_name", "value", "reason"),
    [
        ("integer", "abc", "'abc' is not an integer"),
        ("integer", 2.5, "2.5 is not a whole number"),
        ("integer", True, "True is not an integer"),
        ("integer", 2**64, "does not fit a 64-bit integer"),
        ("number", "n/a", "'n/a' is not a number"),
        ("number", float("inf"), "is not a finite number"),
        ("boolean", "maybe", "'maybe' is not a boolean"),
        ("timestamp", "next week", "'next week' is not a timestamp"),
        ("string", {"a": 1}, "is not text (declare the property as json to keep it)"),
    ],
)
def test_values_that_do_not_fit_their_type_are_rejected_with_the_reason(type_name, value, reason):
    with pytest.raises(TypeMismatch) as caught:
        coerce(ModelProperty("field", type_name), value)
    assert str(caught.value).startswith("property field: ")
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("integer", "7", 7),
        ("integer", 7.0, 7),
        ("number", "1e3", 1000.0),
        ("boolean", 0, False),
        ("boolean", "TRUE", True),
        ("string", 12, "12"),
        ("string", False, "false"),
        ("timestamp", "2024-01-31", dt.datetime(2024, 1, 31, tzinfo=dt.UTC)),
        ("json", "text", '"text"'),
    ],
)
def test_values_are_coerced_to_their_type(type_name, value, expected):
    assert coerce(ModelProperty("field", type_name), value) == expected


def test_a_missing_value_of_a_non_nullable_property_is_rejected(mirror, table):
    mirror.put([customer(1), customer(2, email=None)])
    p = pipeline(table, schema={"email": {"type": "string", "nullable": False}}, max_reject_rate=1)
    result = run(p, mirror)
    assert (result.inserted, result.rejected) == (1, 1)
    assert result.reject_sample[0].customer_id == "cus_00002"
    assert (
        result.reject_sample[0].reason
        == "property email: missing, but the schema says nullable: false"
    )
    assert list(table_rows(mirror.warehouse, table)) == ["cus_00001"]


def test_the_table_has_the_key_the_properties_and_the_bookkeeping_columns(mirror, table):
    mirror.put([customer(1)])
    p = pipeline(
        table, schema={"email": "string", "balance": {"type": "integer", "nullable": False}}
    )
    run(p, mirror)
    frame = mirror.warehouse.read_frame(f'SELECT * FROM "{table.split(".")[0]}"."customers"')
    assert list(frame.columns) == [
        "stripe_customer_id",
        "email",
        "balance",
        "_synced_at",
        "_mirror_version",
        "_row_hash",
    ]

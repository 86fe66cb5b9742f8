"""Mapping functions: each lands its value through a pipeline on DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest

from stripe_customer_assets.pipeline.transforms.mapping import compile_expression
from stripe_customer_assets.pipeline.transforms.mapping_functions import FUNCTIONS, MappingError
from stripe_customer_assets_tests.pipeline.support import customer, pipeline, run, table_rows

# property -> (expression, expected for ANN, expected for NOBODY)
CASES = {
    "lowered": ("lower(email)", "ann@acme.com", None),
    "uppered": ("upper(address.country)", "FR", None),
    "trimmed": ("trim(name)", "Ann Lee", None),
    "joined": ('concat(trim(name), " <", email, ">")', "Ann Lee <Ann@ACME.com>", " <>"),
    "plan": ('default(metadata.plan, "free")', "pro", "free"),
    "signup": ("date(created)", "2023-11-14", None),
    "signup_month": ('date(created, "%Y/%m")', "2023/11", None),
    "dashed": ('replace(phone, " ", "-")', "+1-415-555-0100", None),
    "domain": ('split_part(lower(email), "@", 2)', "acme.com", None),
    "nested": ("lower(trim(concat(name, '!')))", "ann lee  !", "!"),
}

ANN = customer(
    1,
    email="Ann@ACME.com",
    name="  Ann Lee  ",
    phone="+1 415 555 0100",
    created=1_700_000_000,
    metadata={"plan": "pro"},
    address={"country": "fr"},
)
NOBODY = customer(2, email=None, name=None, phone=None, created=None, metadata={}, address=None)


@pytest.fixture(scope="module")
def landed(module_mirror):
    module_mirror.put([ANN, NOBODY])
    table = f"{module_mirror.target_schema}.mapped"
    p = pipeline(
        table,
        schema={prop: "string" for prop in CASES},
        transformation={"mapping": {prop: expr for prop, (expr, _, _) in CASES.items()}},
    )
    result = run(p, module_mirror)
    assert result.rejected == 0, result.reject_sample
    return table_rows(module_mirror.warehouse, table)


@pytest.mark.parametrize("prop", list(CASES))
def test_each_mapping_function_lands_its_value(landed, prop):
    _, for_ann, for_nobody = CASES[prop]
    assert landed["cus_00001"][prop] == for_ann
    assert landed["cus_00002"][prop] == for_nobody


def test_every_documented_function_is_exercised():
    used = {name for expr, _, _ in CASES.values() for name in FUNCTIONS if f"{name}(" in expr}
    assert used == set(FUNCTIONS)


def test_non_string_mapping_values_are_constants(mirror, table):
    mirror.put([ANN])
    p = pipeline(
        table,
        schema={"source": "string", "tier": "integer", "active": "boolean"},
        transformation={"mapping": {"source": "'stripe'", "tier": 2, "active": True}},
    )
    run(p, mirror)
    assert table_rows(mirror.warehouse, table)["cus_00001"] == {
        "source": "stripe",
        "tier": 2,
        "active": True,
    }


def test_a_function_that_cannot_read_a_value_rejects_the_customer_with_its_property(mirror, table):
    mirror.put(
        [customer(1, metadata={"started": "soon"}), customer(2, metadata={"started": "2024-02-03"})]
    )
    p = pipeline(
        table,
        schema={"started": "string"},
        transformation={"mapping": {"started": "date(metadata.started)"}},
        max_reject_rate=1,
    )
    result = run(p, mirror)
    assert (result.inserted, result.rejected) == (1, 1)
    assert result.reject_sample[0].customer_id == "cus_00001"
    assert result.reject_sample[0].reason.startswith(
        "mapping started: date(): 'soon' is not a timestamp"
    )
    assert table_rows(mirror.warehouse, table)["cus_00002"] == {"started": "2024-02-03"}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("lowr(email)", "unknown function 'lowr'"),
        ("lower(email, name)", "lower() takes 1 argument"),
        ("split_part(email, '@')", "split_part() takes 3 arguments"),
        ("lower(emial)", "unknown field 'emial'; did you mean 'email'?"),
        ("address.countyr", "unknown field 'countyr' in 'address.countyr'; did you mean 'country'?"),
        ("lower(tax.location.county)", "tax.location has: country, source, state"),
        ("lower(email", "expected ',' or ')'"),
        ("'open", "unterminated string"),
        ("email name", "unexpected text"),
    ],
)
def test_bad_expressions_are_refused_with_the_reason(expression, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(expression)


def test_paths_reach_quoted_metadata_keys_and_list_items():
    body = customer(1, metadata={"my key": "v", "a.b": "dotted"}, preferred_locales=["de", "fr"])
    assert compile_expression('metadata."my key"').evaluate(body) == "v"
    assert compile_expression("metadata.a.b").evaluate(body) == "dotted"
    assert compile_expression("preferred_locales.1").evaluate(body) == "fr"
    assert compile_expression("tax.location.country").evaluate(body) is None  # absent: null


def test_split_part_refuses_an_index_below_one():
    with pytest.raises(MappingError, match="from 1"):
        compile_expression("split_part(email, '@', 0)").evaluate(customer(1))

"""Filters run as SQL in the warehouse: every operator, match any, nested groups, on both dialects."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from stripe_customer_assets.mirror.table import customers_table
from stripe_customer_assets.pipeline import FilterGroup
from stripe_customer_assets.pipeline.filters.sql import compile_filter
from stripe_customer_assets.pipeline.filters.words import describe_filter
from stripe_customer_assets_tests.pipeline.support import customer, pipeline, run, table_rows

ROBERT = "Robert'); DROP TABLE customers;--"
ODD = 'it\'s "quoted" -- ; DELETE FROM x'


def _ts(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


CUSTOMERS = [
    customer(
        1,
        email="ann@acme.com",
        name="Ann O'Brien",
        currency="usd",
        balance=0,
        delinquent=False,
        created=_ts("2024-01-01T00:00:00"),
        metadata={"plan": "pro", "seats": "10"},
        address={"country": "FR"},
    ),
    customer(
        2,
        email="BOB@Example.org",
        name="Bob",
        currency="eur",
        balance=-500,
        delinquent=True,
        created=_ts("2024-06-01T00:00:00"),
        metadata={"plan": "starter", "seats": "2"},
        address={"country": "DE"},
    ),
    customer(
        3,
        email=None,
        name=ROBERT,
        currency=None,
        balance=2500,
        delinquent=False,
        created=_ts("2023-03-15T00:00:00"),
        metadata={},
        address=None,
    ),
    customer(
        4,
        email="",
        name='Zoë "Z" Ångström',
        currency="usd",
        balance=100,
        delinquent=False,
        created=_ts("2025-01-01T00:00:00"),
        metadata={"plan": "pro", "seats": "abc", "odd key": ODD},
        address={"country": "US"},
    ),
]


@pytest.fixture(scope="module")
def seeded(module_mirror):
    """One mirror per dialect for the whole module: the filter tests only read it."""
    module_mirror.put(CUSTOMERS)
    return module_mirror


def matching(mirror, *conditions: dict[str, Any], match: str = "all") -> set[int]:
    """The customer numbers the filter selects, evaluated by the warehouse."""
    group = FilterGroup.model_validate({"match": match, "conditions": list(conditions)})
    where = compile_filter(group, mirror.warehouse.dialect)
    sql = f"SELECT m.id FROM {customers_table(mirror.schema)} m WHERE {where.sql} ORDER BY m.id"
    with mirror.warehouse.begin() as conn:
        ids = [row[0] for row in conn.execute(sa.text(sql), where.params)]
    return {int(i.removeprefix("cus_")) for i in ids}


def cond(prop: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    return {"property": prop, "operator": operator, "value": value, **extra}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param(cond("email", "is", "ann@acme.com"), {1}, id="is"),
        pytest.param(
            cond("email", "is", "bob@example.org", ignore_case=True), {2}, id="is-ignore-case"
        ),
        pytest.param(cond("currency", "is_not", "usd"), {2, 3}, id="is_not-matches-missing"),
        pytest.param(cond("email", "contains", "acme"), {1}, id="contains"),
        pytest.param(
            cond("email", "not_contains", "acme"), {2, 3, 4}, id="not_contains-matches-missing"
        ),
        pytest.param(cond("name", "starts_with", "Bo"), {2}, id="starts_with"),
        pytest.param(cond("email", "ends_with", ".org"), {2}, id="ends_with"),
        pytest.param(
            cond("email", "ends_with", "EXAMPLE.ORG", ignore_case=True),
            {2},
            id="ends_with-ignore-case",
        ),
        pytest.param(cond("email", "is_empty"), {3, 4}, id="is_empty-null-or-blank"),
        pytest.param(cond("email", "is_not_empty"), {1, 2}, id="is_not_empty"),
        pytest.param(cond("metadata.plan", "is_empty"), {3}, id="is_empty-json-path"),
        pytest.param(cond("address.country", "is_one_of", ["FR", "US"]), {1, 4}, id="is_one_of"),
        pytest.param(cond("balance", "is_one_of", [0, 100]), {1, 4}, id="is_one_of-numbers"),
        pytest.param(cond("balance", "greater_than", 0), {3, 4}, id="greater_than-number"),
        pytest.param(cond("balance", "less_than", 0), {2}, id="less_than-number"),
        pytest.param(
            cond("created", "greater_than", "2024-03-01"), {2, 4}, id="greater_than-timestamp"
        ),
        pytest.param(
            cond("created", "less_than", _ts("2024-01-01T00:00:00")), {3}, id="less_than-epoch"
        ),
        pytest.param(
            cond("created", "less_than", dt.date(2024, 1, 2)), {1, 3}, id="less_than-yaml-date"
        ),
        pytest.param(
            cond("created", "is", "2024-01-01T01:00:00+01:00"), {1}, id="is-timestamp-any-offset"
        ),
        pytest.param(
            cond("metadata.seats", "greater_than", 5), {1}, id="greater_than-metadata-as-number"
        ),
        pytest.param(cond("metadata.seats", "is", 2), {2}, id="is-metadata-number"),
        pytest.param(cond("delinquent", "is", True), {2}, id="is-boolean"),
        pytest.param(cond("metadata.plan", "is", "pro"), {1, 4}, id="is-metadata"),
        pytest.param(cond("preferred_locales.0", "is", "en"), {1, 2, 3, 4}, id="is-raw-list-index"),
    ],
)
def test_each_operator_selects_the_right_customers(seeded, condition, expected):
    assert matching(seeded, condition) == expected


def test_match_any_joins_conditions_with_or(seeded):
    assert matching(
        seeded,
        cond("email", "ends_with", ".org"),
        cond("balance", "greater_than", 1000),
        match="any",
    ) == {2, 3}


def test_match_all_joins_conditions_with_and(seeded):
    assert matching(seeded, cond("metadata.plan", "is", "pro"), cond("currency", "is", "usd")) == {
        1,
        4,
    }


def test_nested_groups_combine_all_and_any(seeded):
    nested = {
        "match": "any",
        "conditions": [cond("address.country", "is", "FR"), cond("balance", "greater_than", 50)],
    }
    assert matching(seeded, cond("metadata.plan", "is", "pro"), nested) == {1, 4}
    deeper = {
        "match": "all",
        "conditions": [
            cond("delinquent", "is", True),
            {
                "match": "any",
                "conditions": [cond("currency", "is", "eur"), cond("currency", "is_empty")],
            },
        ],
    }
    assert matching(seeded, deeper, cond("name", "is", "nobody"), match="any") == {2}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param(cond("name", "is", ROBERT), {3}, id="sql-in-value"),
        pytest.param(cond("name", "is", "Ann O'Brien"), {1}, id="single-quote"),
        pytest.param(cond("name", "contains", '"Z"'), {4}, id="double-quotes"),
        pytest.param(
            cond("metadata.odd key", "is", ODD), {4}, id="quoted-value-under-a-key-with-a-space"
        ),
        pytest.param(cond("name", "contains", "%"), set(), id="like-wildcard-is-literal"),
        pytest.param(cond("name", "starts_with", "_"), set(), id="underscore-is-literal"),
    ],
)
def test_filter_values_with_quotes_and_sql_are_data(seeded, condition, expected):
    assert matching(seeded, condition) == expected
    with seeded.warehouse.begin() as conn:
        assert (
            conn.exec_driver_sql(f"SELECT COUNT(*) FROM {customers_table(seeded.schema)}").scalar()
            == 4
        )


def test_filter_values_are_bound_parameters_never_sql_text():
    group = FilterGroup.model_validate(
        {"conditions": [cond("name", "is", ROBERT), cond("metadata.plan", "is", "pro")]}
    )
    for dialect in ("duckdb", "postgresql"):
        where = compile_filter(group, dialect)
        assert "DROP" not in where.sql and "plan" not in where.sql
        assert ROBERT in where.params.values()


def test_a_pipeline_lands_only_matching_customers(mirror, table):
    mirror.put(CUSTOMERS)
    p = pipeline(table, filters={"conditions": [cond("metadata.plan", "is", "pro")]})
    result = run(p, mirror)
    assert set(table_rows(mirror.warehouse, table)) == {"cus_00001", "cus_00004"}
    assert (result.inserted, result.row_count) == (2, 2)


def test_filters_read_in_words_for_the_ui():
    group = FilterGroup.model_validate(
        {
            "conditions": [
                cond("metadata.plan", "is", "pro"),
                {
                    "match": "any",
                    "conditions": [
                        cond("email", "ends_with", "@acme.com"),
                        cond("balance", "greater_than", 0),
                    ],
                },
                cond("email", "is_not_empty"),
            ]
        }
    )
    assert describe_filter(group) == (
        'metadata.plan is "pro" and (email ends with "@acme.com" or balance is greater than 0) and email is not empty'
    )
    assert describe_filter(None) == "all customers"

"""Transformations: Python and JavaScript agree, run in a fixed order, and fail one customer at a time."""

from __future__ import annotations

import time

import pytest

from stripe_customer_assets_tests.pipeline.support import customer, pipeline, run, table_rows
from stripe_customer_assets_tests.pipeline.transforms.samples import PRO_CUSTOMER_JS

MODULE = "stripe_customer_assets_tests.pipeline.transforms.samples"
PRO_MODEL = {"email": "string", "external_id": "string", "region": "string"}


def varied_customers(n: int) -> list[dict]:
    out = []
    for i in range(n):
        metadata: object = {"plan": "pro"}
        if i % 4 == 1:
            metadata = {"external_id": f"ext_{i}", "region": "emea"}
        elif i % 4 == 2:
            metadata = {"region": ""}
        elif i % 4 == 3:
            metadata = [["plan", "pro"]]  # malformed: a list
        email = [f"  Mixed.Case{i}@Example.COM ", None, "", "Zoë@Ünïcode.example"][
            i % 4 if i % 3 else 0
        ]
        out.append(customer(i, email=email, metadata=metadata))
    return out


def test_python_and_javascript_transforms_build_the_same_table(mirror, target_schema):
    mirror.put(varied_customers(40))
    python = pipeline(
        f"{target_schema}.by_python",
        name="by_python",
        schema=PRO_MODEL,
        transformation={"python": "stripe_customer_assets.defs.pro_customers.transform:pro_customer"},
    )
    javascript = pipeline(
        f"{target_schema}.by_javascript",
        name="by_javascript",
        schema=PRO_MODEL,
        transformation={"javascript": PRO_CUSTOMER_JS},
    )
    by_python, by_javascript = run(python, mirror), run(javascript, mirror)
    assert (by_python.inserted, by_python.rejected) == (40, 0)
    assert (by_javascript.inserted, by_javascript.rejected) == (40, 0)
    python_rows = table_rows(mirror.warehouse, python.table)
    assert python_rows == table_rows(mirror.warehouse, javascript.table)
    assert python_rows["cus_00009"] == {
        "email": "mixed.case9@example.com",
        "external_id": "ext_9",
        "region": "EMEA",
    }


def test_a_javascript_endless_loop_or_unbounded_allocation_is_stopped_and_rejected_while_others_land(
    mirror, table
):
    customers = [customer(i) for i in range(30)]
    customers[7] = customer(7, metadata={"mode": "loop"})
    customers[21] = customer(21, metadata={"mode": "hog"})
    mirror.put(customers)
    source = """
    function transform(customer) {
      if (customer.metadata.mode === "loop") { while (true) {} }
      if (customer.metadata.mode === "hog") { const kept = []; while (true) kept.push(new Array(100000).fill(7)); }
      return { email: customer.email.toLowerCase() };
    }
    """
    p = pipeline(
        table,
        schema={"email": "string"},
        transformation={
            "javascript": source,
            "javascript_timeout_ms": 100,
            "javascript_max_memory_mb": 16,
        },
        max_reject_rate=1,
    )
    started = time.monotonic()
    result = run(p, mirror)
    assert time.monotonic() - started < 10
    assert (result.inserted, result.rejected) == (28, 2)
    reasons = {r.customer_id: r.reason for r in result.reject_sample}
    assert reasons["cus_00007"] == (
        "javascript: transform(customer) was stopped after 100 ms (transformation.javascript_timeout_ms)"
    )
    assert reasons["cus_00021"] == (
        "javascript: transform(customer) was stopped at the 16 MB memory limit "
        "(transformation.javascript_max_memory_mb)"
    )
    rows = table_rows(mirror.warehouse, table)
    assert len(rows) == 28 and rows["cus_00008"] == {"email": "user8@example.com"}


def test_a_javascript_exception_rejects_that_customer_with_the_message(mirror, table):
    mirror.put([customer(1), customer(2, address=None)])
    p = pipeline(
        table,
        schema={"country": "string"},
        transformation={
            "javascript": "function transform(c) { return { country: c.address.country }; }"
        },
        max_reject_rate=1,
    )
    result = run(p, mirror)
    assert (result.inserted, result.rejected) == (1, 1)
    assert result.reject_sample[0].reason.startswith(
        "javascript: TypeError: Cannot read properties of null"
    )


@pytest.mark.parametrize(
    "transformation",
    [
        pytest.param({"python": f"{MODULE}:skip_starters"}, id="python-returns-None"),
        pytest.param(
            {
                "javascript": "function transform(c) { return c.metadata.plan === 'starter' ? null : {}; }"
            },
            id="javascript-returns-null",
        ),
    ],
)
def test_a_transform_returning_nothing_leaves_the_customer_out(mirror, table, transformation):
    mirror.put([customer(i) for i in range(6)])  # plan: pro for 0 and 3, starter otherwise
    p = pipeline(table, transformation=transformation)
    result = run(p, mirror)
    assert (result.inserted, result.skipped, result.rejected) == (2, 4, 0)
    assert set(table_rows(mirror.warehouse, table)) == {"cus_00000", "cus_00003"}


def test_later_steps_win_mapping_then_python_then_javascript(mirror, table):
    mirror.put([customer(1)])
    p = pipeline(
        table,
        schema={"plan": "string", "source": "string", "mapped": "string", "email": "string"},
        transformation={
            "mapping": {"plan": "'mapping'", "source": "'mapping'", "mapped": "'mapping'"},
            "python": f"{MODULE}:plan_from_python",
            "javascript": "function transform(c) { return { plan: 'javascript' }; }",
        },
    )
    run(p, mirror)
    assert table_rows(mirror.warehouse, table)["cus_00001"] == {
        "plan": "javascript",
        "source": "python",
        "mapped": "mapping",
        "email": "User1@Example.com",  # unset: the Stripe field of the same name
    }


def test_a_python_exception_rejects_only_that_customer(mirror, table):
    mirror.put([customer(i) for i in range(1, 11)])  # delinquent: 5 and 10
    p = pipeline(
        table,
        schema={"score": "integer"},
        transformation={"python": f"{MODULE}:fails_for_delinquent"},
        max_reject_rate=1,
    )
    result = run(p, mirror)
    assert (result.inserted, result.rejected) == (8, 2)
    assert sorted(r.reason for r in result.reject_sample) == [
        f"python {MODULE}:fails_for_delinquent: RuntimeError: cannot score cus_00005",
        f"python {MODULE}:fails_for_delinquent: RuntimeError: cannot score cus_00010",
    ]


def test_a_transform_returning_a_property_outside_the_schema_is_rejected(mirror, table):
    mirror.put([customer(1)])
    p = pipeline(
        table,
        schema={"email": "string"},
        transformation={"python": f"{MODULE}:returns_unknown_property"},
        max_reject_rate=1,
    )
    result = run(p, mirror)
    assert result.rejected == 1
    assert (
        "returned 'emial', not in the schema (properties: email)" in result.reject_sample[0].reason
    )

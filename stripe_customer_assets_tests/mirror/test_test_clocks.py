"""Customers on test clocks: Stripe lists them only clock by clock, so the full scan lists
the clocks and each clock's customers, and never takes them for deleted."""

from __future__ import annotations

from collections import Counter

from stripe_customer_assets.lib.metadata import mirror_metadata
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.mirror.test_sync import assert_mirror_equals_stripe, mirror_rows

FROZEN = 1_577_836_800


def clocked_account(standin, sizes=(4, 2)) -> dict[str, list[str]]:
    """Regular customers plus ``sizes`` customers on each of len(sizes) test clocks."""
    standin.seed_customers(150, seed=3)
    clocks: dict[str, list[str]] = {}
    for n, size in enumerate(sizes):
        clock = standin.create_test_clock(FROZEN + n * 86_400, name=f"clock {n}")
        clocks[clock["id"]] = [
            standin.create_customer(email=f"clock{n}.{i}@example.com", test_clock=clock["id"])["id"]
            for i in range(size)
        ]
    # Later on Stripe's clock: the scan must list these customers, not replay their events.
    standin.advance_clock(minutes=10)
    return clocks


def clock_calls(standin) -> Counter:
    calls: Counter = Counter()
    for r in standin.requests(clear=True):
        if r["endpoint"] == "test_clocks.list":
            calls["clocks"] += 1
        elif r["endpoint"] == "customers.list" and "test_clock" in r["params"]:
            calls["clock customers"] += 1
    return calls


def test_customers_on_test_clocks_are_mirrored_and_stay_live_after_a_full_refresh(
    standin, api, warehouse_url, mirror_schema
):
    clocks = clocked_account(standin)
    on_clocks = [cid for ids in clocks.values() for cid in ids]
    warehouse = Warehouse(warehouse_url)
    standin.requests(clear=True)

    first = refresh_mirror(api, warehouse, mirror_schema)
    assert first.mode == "full" and first.row_count == 156
    assert first.test_clocks.complete and sorted(first.test_clocks.clocks) == sorted(clocks)
    assert first.test_clocks.customers == 6
    assert mirror_metadata(first, mirror_schema)["test_clock_customers"] == 6
    assert clock_calls(standin) == {"clocks": 1, "clock customers": 2}  # one call a clock
    rows = mirror_rows(warehouse, mirror_schema)
    assert all(not rows[cid]["deleted"] for cid in on_clocks)
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)

    again = refresh_mirror(api, warehouse, mirror_schema, full_refresh=True)
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    rows = mirror_rows(warehouse, mirror_schema)
    assert all(not rows[cid]["deleted"] for cid in on_clocks)
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)


def test_a_deleted_clock_takes_its_customers_with_it(standin, api, warehouse_url, mirror_schema):
    clocks = clocked_account(standin)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    gone, kept = list(clocks)
    standin.delete_test_clock(gone)

    result = refresh_mirror(api, warehouse, mirror_schema)
    assert result.mode == "incremental" and result.deleted == 4  # the customer.deleted events
    assert_mirror_equals_stripe(warehouse, mirror_schema, standin)
    rescan = refresh_mirror(api, warehouse, mirror_schema, full_refresh=True)
    assert (rescan.inserted, rescan.updated, rescan.deleted) == (0, 0, 0)
    rows = mirror_rows(warehouse, mirror_schema)
    assert [rows[cid]["deleted"] for cid in clocks[gone]] == [True] * 4
    assert [rows[cid]["deleted"] for cid in clocks[kept]] == [False] * 2


def test_a_key_that_cannot_list_clocks_never_marks_their_customers_deleted(
    standin, api, warehouse_url, mirror_schema
):
    clocks = clocked_account(standin)
    warehouse = Warehouse(warehouse_url)
    refresh_mirror(api, warehouse, mirror_schema)
    standin.add_restricted_key("rk_test_no_clocks", {"customers": "read", "events": "read"})
    restricted = StripeApi(
        "rk_test_no_clocks", api_base=standin.base_url, rate_limit=10_000, endpoint_rate_limit=10_000
    )

    result = refresh_mirror(restricted, warehouse, mirror_schema, full_refresh=True)
    assert result.test_clocks is not None and not result.test_clocks.complete
    assert "test clock" in (result.test_clocks.problem or "")
    assert result.deleted == 0
    rows = mirror_rows(warehouse, mirror_schema)
    assert all(not rows[cid]["deleted"] for ids in clocks.values() for cid in ids)


def test_a_live_key_asks_for_no_test_clocks(standin, warehouse_url, mirror_schema):
    standin.dataset(livemode=True).seed_customers(40, seed=1)  # live mode: its own data set
    standin.add_api_key("sk_live_standin_mirror")
    live = StripeApi(
        "sk_live_standin_mirror", api_base=standin.base_url, rate_limit=10_000, endpoint_rate_limit=10_000
    )
    standin.requests(clear=True)
    result = refresh_mirror(live, Warehouse(warehouse_url), mirror_schema)
    assert result.row_count == 40 and result.test_clocks.complete
    assert clock_calls(standin) == {}

"""A full scan that would mark a large share of the mirror deleted stops and asks."""

from __future__ import annotations

import pytest

from stripe_customer_assets.mirror.mass_delete import DeleteGuard, MassDeleteRefused, judge
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets_tests.mirror.test_sync import assert_mirror_equals_stripe
from stripe_customer_assets_tests.reliability.support import dump_tables


@pytest.mark.parametrize(
    ("missing", "live", "guard", "full_refresh", "refused"),
    [
        (1, 3, DeleteGuard(), False, False),  # a tiny mirror: under the floor
        (3, 3, DeleteGuard(), False, False),
        (10, 10, DeleteGuard(), False, False),  # the floor itself is allowed
        (11, 11, DeleteGuard(), False, True),
        (100, 500, DeleteGuard(), False, False),  # exactly 20%
        (101, 500, DeleteGuard(), False, True),
        (101, 500, DeleteGuard(max_delete_percent=50), False, False),
        (500, 500, DeleteGuard(confirm=True), False, True),  # confirmed only with full_refresh
        (500, 500, DeleteGuard(confirm=True), True, False),
        (500, 500, DeleteGuard(), True, True),  # full_refresh alone does not confirm
        (5, 5, DeleteGuard(floor=0), False, True),
    ],
)
def test_the_guard_asks_past_the_share_and_the_floor(missing, live, guard, full_refresh, refused):
    message = judge(missing, live, guard, full_refresh=full_refresh, schema="stripe")
    assert (message is not None) == refused


def test_the_message_gives_counts_share_threshold_and_the_config_to_go_on():
    message = judge(500, 500, DeleteGuard(confirm=True), full_refresh=False, schema="stripe")
    assert message is not None
    for part in (
        "schema 'stripe' would mark 500 of its 500 live customers deleted (100.0%)",
        "max_delete_percent (20%)",
        "more than 10 customers",
        "Nothing was committed",
        "STRIPE_API_KEY",
        '"full_refresh": true, "confirm_mass_delete": true',
        "confirmed only together with full_refresh: true",
    ):
        assert part in message, part


def test_stripe_answering_empty_lists_changes_nothing_until_confirmed(standin, api, wh, mirror_schema):
    standin.seed_customers(500, seed=12, record_events=True)
    refresh_mirror(api, wh, mirror_schema)
    before = dump_tables(wh, [mirror_schema])
    standin.reset()  # an outage of sorts: same account and key, every list empty
    # An empty events list is "nothing changed"; a full scan comes with an old cursor.
    standin.advance_clock(days=31)

    for full_refresh, guard in [(False, None), (True, None), (False, DeleteGuard(confirm=True))]:
        with pytest.raises(MassDeleteRefused, match="would mark 500 of its 500 live customers deleted"):
            refresh_mirror(api, wh, mirror_schema, full_refresh=full_refresh, delete_guard=guard)
        assert dump_tables(wh, [mirror_schema]) == before, "mirror, cursor, no scan table left"

    result = refresh_mirror(
        api, wh, mirror_schema, full_refresh=True, delete_guard=DeleteGuard(confirm=True)
    )
    assert result.mode == "full" and result.deleted == 500 and result.row_count == 0


def test_a_full_refresh_within_the_share_commits_unasked(standin, api, wh, mirror_schema):
    standin.seed_customers(200, seed=13)
    refresh_mirror(api, wh, mirror_schema)
    for customer in standin.customers()[:40]:  # 20%: deleted, no event reached the mirror
        standin.delete_customer(customer["id"])
    result = refresh_mirror(api, wh, mirror_schema, full_refresh=True)
    assert result.deleted == 40
    assert_mirror_equals_stripe(wh, mirror_schema, standin)


def test_a_burst_of_delete_events_is_applied(standin, api, wh, mirror_schema):
    standin.seed_customers(300, seed=14, record_events=True)
    refresh_mirror(api, wh, mirror_schema)
    for customer in standin.customers()[:250]:
        standin.delete_customer(customer["id"])
    result = refresh_mirror(api, wh, mirror_schema)
    assert result.mode == "incremental" and result.deleted == 250
    assert_mirror_equals_stripe(wh, mirror_schema, standin)

"""The sweep sensor against the stand-in's Connect platform: discovery turns connected
accounts into partitions at once, a tick costs one call per account (plus the listing), runs
are requested only for ranges holding changed accounts, and a disconnected account's
partition is removed."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from stripe_customer_assets.defs.mirror import accounts as sweep_module
from stripe_customer_assets.defs.mirror.accounts import (
    account_due,
    accounts_pool_limit,
    plan_runs,
    sweep,
)
from stripe_customer_assets.lib.keys import ACCOUNTS_PARTITIONS_NAME, ACCOUNTS_POOL, MIRROR_KEY
from stripe_customer_assets.resources import StripeAccountEntry, StripeResource, WarehouseResource


@pytest.fixture
def platform(standin, monkeypatch):
    made = standin.create_platform(connected_accounts=3)
    monkeypatch.setenv("KEY_MARKET", made["api_key"])
    monkeypatch.setattr(sweep_module, "accounts_per_run", lambda: 2)
    return made


def resources(standin, tmp_path):
    stripe = StripeResource(
        api_base=standin.base_url,
        rate_limit=1000,
        endpoint_rate_limit=1000,
        accounts=[
            StripeAccountEntry(
                name="market", kind="platform", api_key_env="KEY_MARKET", max_parallel_runs=3
            )
        ],
    )
    warehouse = WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}", mirror_schema="stripe")
    return stripe, warehouse


def tick(instance, cursor, stripe, warehouse):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sweep(context, stripe, warehouse)
    for request in result.dynamic_partitions_requests or []:  # as the daemon would
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def ranges(result) -> list[tuple[str, str]]:
    return [
        (r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
        for r in result.run_requests
    ]


def test_the_sweep_discovers_accounts_and_requests_only_the_changed_ones(
    standin, platform, tmp_path
):
    stripe, warehouse = resources(standin, tmp_path)
    accts = sorted(platform["accounts"])
    with dg.instance_for_test() as instance:
        standin.reset_stats()
        first = tick(instance, None, stripe, warehouse)
        keys = list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
        assert sorted(keys) == accts
        assert len(first.run_requests) == 2  # 3 new accounts in runs of 2
        assert ranges(first) == [(keys[0], keys[1]), (keys[2], keys[2])]
        assert instance.event_log_storage.get_concurrency_info(ACCOUNTS_POOL).slot_count == 3
        calls = [r for r in standin.requests() if not r["path"].startswith("/_standin")]
        assert sorted(r["path"] for r in calls) == ["/v1/accounts"] + ["/v1/events"] * 3
        assert {
            r["headers"].get("stripe-context") for r in calls if r["path"] == "/v1/events"
        } == set(accts)

        idle = tick(instance, first.cursor, stripe, warehouse)
        assert idle.run_requests == [] and idle.skip_reason is not None

        standin.account(keys[2]).create_customer(email="new@example.com")
        changed = tick(instance, idle.cursor, stripe, warehouse)
        assert ranges(changed) == [(keys[2], keys[2])]
        assert json.loads(changed.cursor)["accounts"][keys[2]]["newest"].startswith("evt_")

        standin.delete_connected_account(keys[0])
        added = standin.add_connected_account(platform["platform"])["id"]
        moved = tick(instance, changed.cursor, stripe, warehouse)
        now = list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
        assert keys[0] not in now and added in now
        assert ranges(moved) == [(added, added)]  # order: keys[1], keys[2] | added (runs of 2)
        assert keys[0] not in json.loads(moved.cursor)["accounts"]


def test_an_account_is_due_when_new_changed_settling_or_quiet_for_a_week():
    event = {"id": "evt_1", "created": 1000}
    state, reason = account_due({}, event, 1010)
    assert reason == "new"
    assert account_due(state, event, 1020) == (state, None)  # inside the overlap
    settled, reason = account_due(state, event, 1000 + 121)
    assert reason == "settle" and settled["settled"]
    assert account_due(settled, event, 1200)[1] is None
    assert account_due(settled, {"id": "evt_2", "created": 1300}, 1301)[1] == "changed"
    assert account_due(settled, event, 1121 + 7 * 24 * 3600)[1] == "keepalive"


def test_runs_cover_ranges_holding_a_due_account():
    order = [f"acct_{i}" for i in range(7)]
    assert plan_runs(order, {"acct_1": "changed", "acct_6": "new"}, 3) == [
        ("acct_0", "acct_2", ["acct_1"]),
        ("acct_6", "acct_6", ["acct_6"]),
    ]
    assert plan_runs(order, {}, 3) == []


def test_the_pool_limit_is_the_smallest_shared_platform_budget():
    def entry(name, **kw):
        return StripeAccountEntry(name=name, kind="platform", api_key_env="K", **kw)

    shared = StripeResource(
        accounts=[entry("a", max_parallel_runs=4), entry("b", max_parallel_runs=2)]
    )
    assert accounts_pool_limit(shared) == 2
    own = StripeResource(accounts=[entry("a", max_parallel_runs=4, rate_budget="account")])
    assert accounts_pool_limit(own) == 4
    plain = StripeResource(accounts=[StripeAccountEntry(name="eu", kind="plain", api_key_env="K")])
    assert accounts_pool_limit(plain) == 1


def test_accounts_a_queued_or_running_mirror_run_covers_are_not_asked(standin, platform, tmp_path):
    """A backfill's runs read their accounts' events: the sweep leaves those accounts alone
    instead of spending the platform's budget on them."""
    from dagster._core.test_utils import create_run_for_test

    stripe, warehouse = resources(standin, tmp_path)
    with dg.instance_for_test() as instance:
        first = tick(instance, None, stripe, warehouse)
        keys = list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
        create_run_for_test(
            instance,
            status=dg.DagsterRunStatus.STARTED,
            asset_selection=frozenset([MIRROR_KEY]),
            tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[1]},
        )
        standin.account(keys[0]).create_customer(email="busy@example.com")
        standin.requests(clear=True)
        second = tick(instance, first.cursor, stripe, warehouse)
        asked = {
            r["headers"].get("stripe-context")
            for r in standin.requests()
            if r["path"] == "/v1/events"
        }
        assert asked == {keys[2]}
        assert second.run_requests == []  # keys[0] changed, but its queued run will read it
        assert json.loads(second.cursor)["accounts"][keys[0]] == json.loads(first.cursor)["accounts"][keys[0]]


def test_a_tick_out_of_time_leaves_the_longest_unchecked_accounts_to_the_next(
    standin, platform, tmp_path, monkeypatch
):
    stripe, warehouse = resources(standin, tmp_path)
    with dg.instance_for_test() as instance:
        first = tick(instance, None, stripe, warehouse)
        keys = list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
        checked = json.loads(first.cursor)["accounts"]
        monkeypatch.setattr(sweep_module, "CHECK_SECONDS", -1.0)  # no time: nobody is asked
        standin.requests(clear=True)
        idle = tick(instance, first.cursor, stripe, warehouse)
        assert not [r for r in standin.requests() if r["path"] == "/v1/events"]
        assert json.loads(idle.cursor)["accounts"] == checked  # nothing lost, nothing due
        assert "3 left for the next tick" in idle.skip_reason.skip_message

        # The next tick asks the longest unchecked first.
        monkeypatch.setattr(sweep_module, "CHECK_SECONDS", 30.0)
        aged = {k: {**checked[k], "checked": t} for k, t in zip(keys, (300, 100, 200))}
        asked: list[list[str]] = []
        real = sweep_module.check_accounts
        monkeypatch.setattr(
            sweep_module, "check_accounts", lambda s, wanted, st, **kw: asked.append(list(wanted)) or real(s, wanted, st, **kw)
        )
        tick(instance, json.dumps({"accounts": aged}), stripe, warehouse)
        assert asked == [[keys[1], keys[2], keys[0]]]

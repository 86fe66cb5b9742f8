"""Automation over the partitioned mirror: a pipeline's cron tick refreshes every account's
partition through the mirror's backfill policy (runs of many accounts, not one per account),
and the unpartitioned pipeline runs once after them."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster._core.definitions.automation_tick_evaluation_context import (
    build_run_requests_with_backfill_policies,
)
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from stripe_customer_assets.defs.mirror.assets import build_mirror_asset
from stripe_customer_assets.lib.automation import import_condition
from stripe_customer_assets.lib.keys import ACCOUNTS_PARTITIONS_NAME, MIRROR_KEY

PIPELINE = dg.AssetKey(["analytics", "customers"])
START = dt.datetime(2030, 1, 1, 0, 1, tzinfo=dt.UTC)
ACCOUNTS = [f"acct_{i:03d}" for i in range(60)]


def test_a_cron_tick_refreshes_every_account_in_runs_of_the_backfill_policy():
    spec = build_mirror_asset(partitioned=True)

    @dg.asset(
        key=MIRROR_KEY,
        partitions_def=spec.partitions_def,
        backfill_policy=spec.backfill_policy,
        automation_condition=spec.automation_conditions_by_key[MIRROR_KEY],
    )
    def mirror() -> None: ...

    @dg.asset(key=PIPELINE, deps=[MIRROR_KEY], automation_condition=import_condition("0 * * * *"))
    def pipeline() -> None: ...

    assets = [mirror, pipeline]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME, ACCOUNTS)
        first = dg.evaluate_automation_conditions(
            defs=assets, instance=instance, evaluation_time=START
        )
        assert first.total_requested == 0  # a deployment runs nothing at once
        tick = dg.evaluate_automation_conditions(
            defs=assets,
            instance=instance,
            evaluation_time=START + dt.timedelta(minutes=59.5),
            cursor=first.cursor,
        )
        assert tick.get_requested_partitions(MIRROR_KEY) == set(ACCOUNTS)
        # How the automation daemon turns them into runs: the mirror's backfill policy.
        graph = dg.Definitions(assets=assets).resolve_asset_graph()
        requested = {AssetKeyPartitionKey(MIRROR_KEY, key) for key in ACCOUNTS}
        with partition_loading_context(dynamic_partitions_store=instance):
            runs = build_run_requests_with_backfill_policies(requested, graph, instance)
        assert len(runs) == 3  # 60 accounts in runs of 25
        assert [
            (r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
            for r in runs
        ] == [
            ("acct_000", "acct_024"),
            ("acct_025", "acct_049"),
            ("acct_050", "acct_059"),
        ]

        for key in ACCOUNTS:  # the refresh runs end
            instance.report_runless_asset_event(dg.AssetMaterialization(MIRROR_KEY, partition=key))
        after = dg.evaluate_automation_conditions(
            defs=assets,
            instance=instance,
            evaluation_time=START + dt.timedelta(minutes=61),
            cursor=tick.cursor,
        )
        assert after.get_num_requested(PIPELINE) == 1 and after.get_num_requested(MIRROR_KEY) == 0
        quiet = dg.evaluate_automation_conditions(
            defs=assets,
            instance=instance,
            evaluation_time=START + dt.timedelta(minutes=62),
            cursor=after.cursor,
        )
        assert quiet.total_requested == 0

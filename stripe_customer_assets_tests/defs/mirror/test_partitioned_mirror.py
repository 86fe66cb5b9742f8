"""The mirror partitioned by account: one run covering two connected accounts refreshes
both, each through its own account header, and records a materialization per account."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from stripe_customer_assets.defs.mirror import assets as mirror_assets
from stripe_customer_assets.lib.keys import ACCOUNTS_PARTITIONS_NAME, ACCOUNTS_POOL, MIRROR_KEY
from stripe_customer_assets.resources import StripeAccountEntry, StripeResource, WarehouseResource


def platform_resources(standin, tmp_path) -> tuple[StripeResource, WarehouseResource]:
    """The platform "market" (its key in KEY_MARKET) and a DuckDB warehouse."""
    stripe = StripeResource(
        api_base=standin.base_url,
        rate_limit=1000,
        endpoint_rate_limit=1000,
        accounts=[StripeAccountEntry(name="market", kind="platform", api_key_env="KEY_MARKET")],
    )
    return stripe, WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}", mirror_schema="stripe")


def test_a_run_over_two_accounts_refreshes_both_with_a_materialization_each(
    standin, tmp_path, monkeypatch
):
    made = standin.create_platform(connected_accounts=2)
    first, second = made["accounts"]
    standin.account(first).seed_customers(3, seed=1)
    standin.account(second).seed_customers(5, seed=2)
    monkeypatch.setenv("KEY_MARKET", made["api_key"])
    asset = mirror_assets.build_mirror_asset(partitioned=True)
    assert asset.partitions_def.name == ACCOUNTS_PARTITIONS_NAME and asset.op.pool == ACCOUNTS_POOL
    assert asset.backfill_policy.max_partitions_per_run == mirror_assets.DEFAULT_ACCOUNTS_PER_RUN
    stripe, warehouse = platform_resources(standin, tmp_path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME, [first, second])
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"stripe": stripe, "warehouse": warehouse},
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: second},
        )
        assert result.success
        mats = {m.partition: m for m in result.asset_materializations_for_node("stripe__customers")}
        assert sorted(mats) == sorted([first, second])
        assert mats[first].metadata["rows_inserted"].value == 3
        assert mats[second].metadata["rows_inserted"].value == 5
        assert mats[first].metadata["account"].value == first
        assert mats[first].metadata["api_calls"].value >= 1
        assert instance.get_materialized_partitions(MIRROR_KEY) == {first, second}
    with warehouse.warehouse().begin() as conn:
        counts = dict(
            conn.exec_driver_sql(
                "SELECT account, count(*) FROM stripe.customers GROUP BY account"
            ).fetchall()
        )
    assert counts == {first: 3, second: 5}  # one table, keyed by account


def test_one_failing_account_fails_the_run_after_the_others_are_refreshed(
    standin, tmp_path, monkeypatch
):
    made = standin.create_platform(connected_accounts=2)
    good, gone = made["accounts"]
    standin.account(good).seed_customers(2, seed=3)
    standin.delete_connected_account(gone)
    monkeypatch.setenv("KEY_MARKET", made["api_key"])
    asset = mirror_assets.build_mirror_asset(partitioned=True)
    stripe, warehouse = platform_resources(standin, tmp_path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME, [good, gone])
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"stripe": stripe, "warehouse": warehouse},
            tags={ASSET_PARTITION_RANGE_START_TAG: good, ASSET_PARTITION_RANGE_END_TAG: gone},
            raise_on_error=False,
        )
        assert not result.success
        assert instance.get_materialized_partitions(MIRROR_KEY) == {good}
        failure = next(e for e in result.all_events if e.is_step_failure)
        text = str(failure.step_failure_data.error)
        assert (
            "1 of 2 accounts failed" in text
            and gone in text
            and "access may have been revoked" in text
        )

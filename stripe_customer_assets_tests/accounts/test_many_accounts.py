"""Many accounts in one deployment, end to end through the sweep sensor and the partitioned
mirror, as the daemon drives them: three plain accounts (each its own key) and a Connect
platform with 20 connected accounts.

After the first sweep's runs every account's mirror rows equal its Stripe data; after changes
in five accounts (creates, updates, deletes) only their runs are requested and every account
still equals its data, the other accounts' rows untouched; a connected account created later
is mirrored on the next sweep.
"""

from __future__ import annotations

import dagster as dg
import pytest

from stripe_customer_assets.defs.mirror import accounts as sweep_module
from stripe_customer_assets.defs.mirror import assets as mirror_assets
from stripe_customer_assets.defs.mirror.accounts import sweep
from stripe_customer_assets.lib.keys import ACCOUNTS_PARTITIONS_NAME, MIRROR_KEY
from stripe_customer_assets.resources import StripeAccountEntry, StripeResource, WarehouseResource

pytestmark = pytest.mark.slow  # 23 accounts' full scans and three sweeps: about a minute

PLAIN = {"eu": "acct_1PlainEu000001", "us": "acct_1PlainUs000001", "apac": "acct_1PlainApac00001"}
CONNECTED = 20


@pytest.fixture
def deployment(standin, tmp_path, monkeypatch):
    entries = []
    for i, (name, acct) in enumerate(PLAIN.items()):
        key = f"sk_test_plain_{name}"
        standin.add_api_key(key, acct)
        standin.account(acct).seed_customers(6 + i, seed=100 + i, record_events=True)
        monkeypatch.setenv(f"KEY_{name.upper()}", key)
        entries.append(
            StripeAccountEntry(name=name, kind="plain", api_key_env=f"KEY_{name.upper()}")
        )
    made = standin.create_platform(connected_accounts=CONNECTED)
    for i, acct in enumerate(made["accounts"]):
        standin.account(acct).seed_customers(3 + i % 5, seed=200 + i, record_events=True)
    monkeypatch.setenv("KEY_MARKET", made["api_key"])
    entries.append(
        StripeAccountEntry(
            name="market", kind="platform", api_key_env="KEY_MARKET", max_parallel_runs=4
        )
    )
    # Runs of 4 accounts: 23 accounts are 6 runs, as the backfill policy splits them.
    monkeypatch.setattr(sweep_module, "accounts_per_run", lambda: 4)
    stripe = StripeResource(
        api_base=standin.base_url, rate_limit=1000, endpoint_rate_limit=1000, accounts=entries
    )
    warehouse = WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}", mirror_schema="stripe")
    keys = {name: name for name in PLAIN} | {acct: acct for acct in made["accounts"]}
    stripe_ids = {name: acct for name, acct in PLAIN.items()} | {
        acct: acct for acct in made["accounts"]
    }
    return stripe, warehouse, made, keys, stripe_ids


def tick_and_run(instance, cursor, stripe, warehouse):
    """One sensor tick, its partition changes applied and its run requests executed, as the
    daemon does; returns (the tick's result, the accounts the runs covered)."""
    result = sweep(dg.build_sensor_context(instance=instance, cursor=cursor), stripe, warehouse)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    asset = mirror_assets.build_mirror_asset(partitioned=True)
    covered: list[str] = []
    for request in result.run_requests or []:
        run = dg.materialize(
            [asset],
            instance=instance,
            resources={"stripe": stripe, "warehouse": warehouse},
            tags=request.tags,
        )
        assert run.success
        covered += [m.partition for m in run.asset_materializations_for_node("stripe__customers")]
    return result, covered


def mirror_of(warehouse, account: str) -> dict[str, tuple]:
    with warehouse.warehouse().begin() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, email, name, deleted, mirror_version FROM stripe.customers WHERE account = ?",
            (account,),
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def assert_equal_to_stripe(standin, warehouse, key: str, stripe_id: str) -> None:
    live = {
        c["id"]: (c.get("email"), c.get("name")) for c in standin.account(stripe_id).customers()
    }
    rows = mirror_of(warehouse, key)
    mirrored_live = {cid: (r[0], r[1]) for cid, r in rows.items() if not r[2]}
    assert mirrored_live == live, f"account {key}"
    gone = {c["id"] for c in standin.account(stripe_id).all_customers() if c.get("deleted")}
    assert all(rows[cid][2] for cid in gone if cid in rows), (
        f"account {key}: a deleted customer is live"
    )


def test_three_plain_accounts_and_a_platform_of_twenty_mirror_exactly(standin, deployment):
    stripe, warehouse, made, keys, stripe_ids = deployment
    with dg.instance_for_test() as instance:
        first, covered = tick_and_run(instance, None, stripe, warehouse)
        assert sorted(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME)) == sorted(keys)
        assert len(first.run_requests) == 6 and sorted(covered) == sorted(keys)
        for key in keys:
            assert_equal_to_stripe(standin, warehouse, key, stripe_ids[key])
        assert instance.get_materialized_partitions(MIRROR_KEY) == set(keys)

        # Changes in five accounts: two plain, three connected.
        changed = ["eu", "apac", *made["accounts"][:3]]
        before = {key: mirror_of(warehouse, key) for key in keys}
        for key in changed:
            data = standin.account(stripe_ids[key])
            customers = data.customers()
            data.create_customer(email=f"new-{key}@example.com", name="New")
            data.update_customer(customers[0]["id"], name="Renamed")
            data.delete_customer(customers[1]["id"])
        second, covered = tick_and_run(instance, first.cursor, stripe, warehouse)
        assert set(changed) <= set(covered)
        for key in keys:
            assert_equal_to_stripe(standin, warehouse, key, stripe_ids[key])
        for key in set(keys) - set(changed):
            assert mirror_of(warehouse, key) == before[key], f"account {key} was touched"
        for key in changed:
            deleted = [cid for cid, row in mirror_of(warehouse, key).items() if row[2]]
            assert len(deleted) == 1  # its own delete, nothing of another account

        # A connected account created on the platform: mirrored on the next sweep.
        added = standin.add_connected_account(made["platform"])["id"]
        standin.account(added).seed_customers(4, seed=999, record_events=True)
        _, covered = tick_and_run(instance, second.cursor, stripe, warehouse)
        assert added in instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME)
        assert added in covered
        assert_equal_to_stripe(standin, warehouse, added, added)
        assert len(mirror_of(warehouse, added)) == 4

"""Customers on test clocks: mirrored, kept live by a full refresh, found by an email-keyed
export (no duplicates)."""

from __future__ import annotations

from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.table import customers_table
from stripe_customer_assets_tests.export.support import account, export_config, write_accounts

FROZEN = 1_577_836_800


def live_in_mirror(wh, schema, ids) -> dict[str, bool]:
    with wh.begin() as conn:
        rows = conn.exec_driver_sql(f"SELECT id, deleted FROM {customers_table(schema)}").all()
    found = {cid: not deleted for cid, deleted in rows}
    return {cid: found.get(cid, False) for cid in ids}


def test_four_and_two_customers_on_test_clocks_stay_live_and_an_email_export_creates_none(
    standin, api, syncer, wh, mirror_schema, accounts_table, schemas
):
    rows, on_clocks = [], []
    for n, size in enumerate((4, 2)):
        clock = standin.create_test_clock(FROZEN + n, name=f"simulation {n}")
        for i in range(size):
            row = account(10 * n + i + 1)
            rows.append(row)
            on_clocks.append(
                standin.create_customer(email=row["email"], name="Before", test_clock=clock["id"])["id"]
            )
    # Later on Stripe's clock: the first scan must list these customers, not replay their events.
    standin.advance_clock(minutes=10)

    first = refresh_mirror(api, wh, mirror_schema, concurrency=4)
    assert first.mode == "full" and first.test_clocks.customers == 6
    assert all(live_in_mirror(wh, mirror_schema, on_clocks).values())
    again = refresh_mirror(api, wh, mirror_schema, concurrency=4, full_refresh=True)
    assert again.mode == "full" and (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert all(live_in_mirror(wh, mirror_schema, on_clocks).values())

    write_accounts(wh, accounts_table, rows)
    config = export_config("clocks", accounts_table, schemas["state"], behavior="update_or_create")
    syncer.write_requests()
    run = syncer.run(config)

    assert run.plan.summary.counts["create"] == 0
    assert run.plan.summary.counts["update"] == 6
    sent = syncer.write_requests()
    assert {r["endpoint"] for r in sent} == {"customers.update"}
    assert sorted(r["path"].rsplit("/", 1)[1] for r in sent) == sorted(on_clocks)
    customers = standin.customers()
    assert len(customers) == 6  # nothing created
    assert {c["name"] for c in customers} == {row["full_name"] for row in rows}

    settled = syncer.run(config)
    assert settled.mirror.mode == "incremental"
    assert settled.plan.summary.counts["create"] == 0 and syncer.write_requests() == []

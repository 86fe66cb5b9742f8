"""An email-keyed export finds the customers on test clocks in the mirror: no duplicates."""

from __future__ import annotations

from stripe_customer_assets_tests.export.support import account, export_config, write_accounts

FROZEN = 1_577_836_800


def test_update_or_create_by_email_creates_no_customer_for_those_on_test_clocks(
    standin, syncer, wh, accounts_table, schemas
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
    write_accounts(wh, accounts_table, rows)
    config = export_config("clocks", accounts_table, schemas["state"], behavior="update_or_create")
    syncer.write_requests()

    run = syncer.run(config)

    assert run.mirror.mode == "full" and run.mirror.test_clocks.customers == 6
    assert run.plan.summary.counts["create"] == 0
    assert run.plan.summary.counts["update"] == 6
    sent = syncer.write_requests()
    assert {r["endpoint"] for r in sent} == {"customers.update"}
    assert sorted(r["path"].rsplit("/", 1)[1] for r in sent) == sorted(on_clocks)
    customers = standin.customers()
    assert len(customers) == 6  # nothing created
    assert {c["name"] for c in customers} == {row["full_name"] for row in rows}

    again = syncer.run(config, refresh=True)
    assert again.mirror.mode == "incremental"
    assert again.plan.summary.counts["create"] == 0 and syncer.write_requests() == []

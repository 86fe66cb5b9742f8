"""on_conflict against the stand-in: the sync writes, someone edits the customer in Stripe
(as the dashboard would), the model changes, and the next run writes per the policy."""

from __future__ import annotations

import pytest

from stripe_customer_assets.export import load_plan, read_state
from stripe_customer_assets_tests.export.support import account, export_config, write_accounts

FIELDS = {"name": "full_name", "phone": "phone"}


def sent(requests):
    """customer id -> the fields each update sent."""
    return {r["path"].rsplit("/", 1)[-1]: r["params"] for r in requests}


@pytest.mark.parametrize("policy", ["overwrite", "keep_stripe", "fill_if_empty"])
def test_a_customer_edited_in_stripe_after_the_last_write(
    standin, syncer, wh, accounts_table, schemas, policy
):
    ids = [standin.create_customer(email=f"user{i}@example.com")["id"] for i in (1, 2)]
    rows = [account(1), account(2)]
    write_accounts(wh, accounts_table, rows)
    config = export_config(
        "crm", accounts_table, schemas["state"], fields=FIELDS, on_conflict=policy
    )
    syncer.write_requests()
    first = syncer.run(config)  # Stripe holds nothing yet: every policy writes everything
    assert first.result.updated == 2 and syncer.write_requests()

    standin.update_customer(ids[0], name="Dashboard name")  # an edit in Stripe
    standin.update_customer(ids[1], phone="")  # a value cleared in Stripe
    write_accounts(
        wh,
        accounts_table,
        [
            account(1, full_name="Model name 1", phone="+1 415 555 9001"),
            account(2, full_name="Model name 2"),
        ],
    )
    run = syncer.run(config)
    writes = sent(syncer.write_requests())
    conflicts = {
        (e.stripe_id, path): values
        for e in load_plan(wh, config).entries
        if e.action == "conflict"
        for path, values in e.changes.items()
    }
    phone2 = account(2)["phone"]
    if policy == "overwrite":
        assert writes == {
            ids[0]: {"name": "Model name 1", "phone": "+1 415 555 9001"},
            ids[1]: {"name": "Model name 2", "phone": phone2},
        }
        assert conflicts == {}
    elif policy == "keep_stripe":
        assert writes == {ids[0]: {"phone": "+1 415 555 9001"}, ids[1]: {"name": "Model name 2"}}
        assert conflicts == {
            (ids[0], "name"): ("Dashboard name", "Model name 1"),
            (ids[1], "phone"): (None, phone2),
        }
        assert run.plan.summary.counts["conflict"] == 2
        assert run.plan.summary.writes == 2
    else:
        assert writes == {ids[1]: {"phone": phone2}}
        assert conflicts == {}
    stripe = {c["id"]: c for c in standin.customers()}
    edited_kept = policy != "overwrite"
    assert (stripe[ids[0]]["name"] == "Dashboard name") is edited_kept
    assert (stripe[ids[1]]["phone"] in (None, "")) is (policy == "keep_stripe")

    again = syncer.run(config)  # Stripe's values stay Stripe's: reported again, never sent
    assert syncer.write_requests() == []
    assert again.plan.summary.counts["conflict"] == (2 if policy == "keep_stripe" else 0)
    states = {r["stripe_id"]: r["status"] for r in read_state(wh, config)}
    expected = "conflict" if policy == "keep_stripe" else "unchanged"
    assert states == {ids[0]: expected, ids[1]: expected}


def test_tables_made_before_conflict_policies_get_their_new_columns(
    standin, syncer, wh, accounts_table, schemas
):
    config = export_config("crm", accounts_table, schemas["state"], fields=FIELDS)
    state, plans = f'"{schemas["state"]}"."crm"', f'"{schemas["state"]}"."crm_plans"'
    counts = ", ".join(
        f"{a} INTEGER NOT NULL" for a in ('"create"', '"update"', "unchanged", "skip", "reject")
    )
    with wh.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schemas["state"]}"')
        conn.exec_driver_sql(
            f"CREATE TABLE {state} (key VARCHAR NOT NULL, stripe_id VARCHAR NOT NULL, "
            "status VARCHAR NOT NULL, reason VARCHAR, changed_fields VARCHAR, last_write VARCHAR, "
            "payload_hash VARCHAR, idempotency_key VARCHAR, written_at TIMESTAMPTZ, plan_id VARCHAR, "
            "updated_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (key, stripe_id))"
        )
        conn.exec_driver_sql(
            f"CREATE TABLE {plans} (plan_id VARCHAR PRIMARY KEY, planned_at TIMESTAMPTZ NOT NULL, "
            f"model_rows INTEGER NOT NULL, {counts}, matched INTEGER NOT NULL, "
            "reject_percent DOUBLE PRECISION NOT NULL, change_percent DOUBLE PRECISION NOT NULL)"
        )
    standin.create_customer(email="user1@example.com", name="Someone")
    write_accounts(wh, accounts_table, [account(1)])
    run = syncer.run(
        config.model_copy(
            update={"on_conflict": config.on_conflict.model_copy(update={"default": "keep_stripe"})}
        )
    )
    assert run.plan.summary.counts["conflict"] == 1  # never pushed, and Stripe holds a name
    (row,) = read_state(wh, config)
    assert row["pushed_values"] == '{"phone": "' + account(1)["phone"] + '"}'
    with wh.begin() as conn:
        assert conn.exec_driver_sql(f"SELECT conflict FROM {plans}").scalar() == 1

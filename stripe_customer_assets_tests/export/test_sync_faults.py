"""Rows Stripe or the model get wrong, duplicates, guards, access errors and crashes."""

from __future__ import annotations

import pytest

from stripe_customer_assets.export import (
    ExportAccessError,
    ExportGuardError,
    apply_plan,
    read_state,
)
from stripe_customer_assets.export import apply as apply_module
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets_tests.export.support import (
    account,
    by_email,
    export_config,
    seed_customer,
    write_accounts,
)

BY_CRM_ID = {"column": "crm_id", "stripe_field": "metadata.crm_id"}


def state_by_key(wh, config):
    return {r["key"]: r for r in read_state(wh, config)}


@pytest.mark.parametrize("option", ["skip", "update_all", "update_newest"])
def test_customers_sharing_an_email_follow_on_duplicate_visibly(
    standin, syncer, wh, accounts_table, schemas, option
):
    write_accounts(wh, accounts_table, [account(1), account(2)])
    older = seed_customer(standin, 1)
    standin.advance_clock(seconds=10)
    newer = seed_customer(standin, 1, name="Twin")
    config = export_config("crm", accounts_table, schemas["state"], on_duplicate=option)
    syncer.write_requests()

    run = syncer.run(config)

    shared = [e for e in run.plan.entries if e.row == 1]
    assert all(
        f"2 Stripe customers share email 'user1@example.com' ({newer['id']}, {older['id']})"
        in e.reason
        for e in shared
    )
    updated = {
        r["path"].rsplit("/", 1)[-1]
        for r in syncer.write_requests()
        if r["endpoint"] == "customers.update"
    }
    expected = {
        "skip": set(),
        "update_newest": {newer["id"]},
        "update_all": {newer["id"], older["id"]},
    }[option]
    assert updated == expected
    assert [e.action for e in shared] == (
        ["skip"] if option == "skip" else ["update"] * len(expected)
    )
    names = {c["id"]: c["name"] for c in standin.customers()}
    assert names[older["id"]] == ("Customer 1" if option == "update_all" else "Old name 1")


def bad_model(n: int = 50):
    rows = [account(i) for i in range(1, n + 1)]
    rows[0]["email"] = "not-an-email"  # row 1: invalid email (a mapped field)
    rows[1]["crm_id"] = None  # row 2: null key
    rows[3]["crm_id"] = rows[2]["crm_id"]  # rows 3 and 4: duplicate key
    rows[4]["plan"] = "p" * 501  # row 5: metadata value too long
    return rows


def test_bad_rows_are_rejected_with_reasons_while_good_rows_sync(
    standin, syncer, wh, accounts_table, schemas
):
    write_accounts(wh, accounts_table, bad_model())
    fields = {"email": "email", "name": "full_name", "metadata.plan": "plan"}
    config = export_config(
        "crm", accounts_table, schemas["state"], key=BY_CRM_ID, fields=fields, max_reject_percent=20
    )
    syncer.write_requests()

    run = syncer.run(config)

    reasons = {e.row: e.reason for e in run.plan.entries if e.action == "reject"}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "column 'email' (email): 'not-an-email' is not a valid email address" in reasons[1]
    assert reasons[2] == "key column 'crm_id' is null"
    assert "key '3' appears in 2 model rows (3, 4)" in reasons[3] and reasons[3] == reasons[4]
    assert "column 'plan' (metadata.plan): 501 characters; Stripe allows 500" in reasons[5]
    assert len(syncer.write_requests()) == 45 and len(standin.customers()) == 45
    state = state_by_key(wh, config)
    assert state["3"]["status"] == "rejected" and "appears in 2 model rows" in state["3"]["reason"]
    assert state["1"]["status"] == "rejected" and state["6"]["status"] == "created"


def test_past_max_reject_percent_nothing_is_sent(standin, syncer, wh, accounts_table, schemas):
    write_accounts(wh, accounts_table, bad_model())
    config = export_config(
        "crm",
        accounts_table,
        schemas["state"],
        key=BY_CRM_ID,
        fields={"metadata.plan": "plan"},
        max_reject_percent=5,
    )
    syncer.write_requests()

    with pytest.raises(
        ExportGuardError,
        match=r"8.0% rows rejected \(4 of 50\) exceeds max_reject_percent: 5.*Nothing was sent",
    ):
        syncer.run(config)

    assert syncer.write_requests() == [] and standin.customers() == []


def test_past_max_change_percent_nothing_is_sent(standin, syncer, wh, accounts_table, schemas):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 11)])
    for i in range(1, 11):
        seed_customer(standin, i)
    config = export_config("crm", accounts_table, schemas["state"], max_change_percent=50)
    syncer.write_requests()

    with pytest.raises(ExportGuardError, match=r"100.0% matched customers changed \(10 of 10\)"):
        syncer.run(config)

    assert syncer.write_requests() == []


def test_a_row_stripe_refuses_is_recorded_with_stripes_message_and_the_rest_go_on(
    standin, syncer, wh, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 21)])
    for i in range(1, 11):
        seed_customer(standin, i)
    model = f"SELECT *, CASE WHEN crm_id = 15 THEN repeat('x', 5001) ELSE 'en' END AS locales FROM {accounts_table}"
    config = export_config(
        "crm",
        accounts_table,
        schemas["state"],
        model=model,
        fields={"name": "full_name", "preferred_locales": "locales"},
    )
    syncer.plan(config)
    gone = by_email(standin.customers())["user4@example.com"]["id"]
    standin.delete_customer(gone)  # deleted in Stripe after the plan saw it

    result = apply_plan(config, syncer.api, wh, concurrency=4)

    assert (result.created, result.updated, result.failed) == (9, 9, 2)
    state = state_by_key(wh, config)
    assert state["user15@example.com"]["status"] == "failed"
    assert "Stripe refused POST /v1/customers (400" in state["user15@example.com"]["reason"]
    assert "5000 characters" in state["user15@example.com"]["reason"]
    assert (
        state["user4@example.com"]["status"] == "failed"
        and "No such customer" in state["user4@example.com"]["reason"]
    )
    assert state["user5@example.com"]["status"] == "updated"
    assert len(standin.customers()) == 9 + 9


def test_a_key_without_write_permission_stops_the_sync_naming_the_permission(
    standin, syncer, wh, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 31)])
    config = export_config("crm", accounts_table, schemas["state"])
    syncer.plan(config)
    standin.add_restricted_key("rk_test_readonly", {"customers": "read", "events": "read"})
    readonly = StripeApi("rk_test_readonly", api_base=standin.base_url, rate_limit=5000, endpoint_rate_limit=5000)

    with pytest.raises(ExportAccessError) as err:
        apply_plan(config, readonly, wh, concurrency=2)

    assert "sync 'crm' stopped after 0 of 30 writes" in str(err.value)
    assert "rak_customer_write" in str(err.value)
    assert standin.customers() == []
    assert len(read_state(wh, config)) <= 4, "only the in-flight writes were tried"


def test_a_rerun_after_a_crash_repeats_no_create(
    standin, syncer, wh, accounts_table, schemas, monkeypatch
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 101)])
    for i in range(1, 41):
        seed_customer(standin, i)
    config = export_config("crm", accounts_table, schemas["state"])
    syncer.plan(config)
    real_record = apply_module.record_results
    flushes = []

    def crash_on_third_batch(*args, **kwargs):
        flushes.append(1)
        if len(flushes) == 3:
            raise RuntimeError("simulated crash between writes and their recording")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(apply_module, "record_results", crash_on_third_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        apply_plan(config, syncer.api, wh, concurrency=8, batch_size=10)
    monkeypatch.setattr(apply_module, "record_results", real_record)
    recorded = len(read_state(wh, config))
    sent = len(syncer.write_requests())
    assert recorded == 20 and sent > recorded

    rerun = apply_plan(config, syncer.api, wh, concurrency=8, batch_size=10)

    replays = [r for r in syncer.write_requests() if r["replayed"]]
    assert rerun.already_sent == 20 and rerun.writes == 80
    assert len(replays) == sent - recorded, (
        "writes made before the crash were replayed, not repeated"
    )
    assert len(standin.customers()) == 100 and len(by_email(standin.customers())) == 100
    after = syncer.run(config)
    assert after.plan.summary.writes == 0 and syncer.write_requests() == []


def test_an_empty_model_is_a_plan_with_nothing_to_send(
    standin, syncer, wh, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [])
    config = export_config("crm", accounts_table, schemas["state"])
    syncer.write_requests()

    run = syncer.run(config)

    assert run.plan.entries == [] and run.result.writes == 0 and run.result.api_calls == 0
    assert syncer.write_requests() == [] and read_state(wh, config) == []

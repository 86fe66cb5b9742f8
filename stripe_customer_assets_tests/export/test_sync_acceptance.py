"""The export against the Stripe stand-in: 1,000 model rows, 400 matching customers.

Each test pins one line of the acceptance list; the figures (write calls per scenario) are
asserted exactly.
"""

from __future__ import annotations

from collections import Counter

import pytest

from stripe_customer_assets.export import load_plan
from stripe_customer_assets_tests.export.support import (
    account,
    by_email,
    export_config,
    mapped_values,
    model_values,
    seed_customer,
    write_accounts,
)

pytestmark = pytest.mark.slow

ROWS, MATCHING = 1000, 400
BY_EMAIL = {"column": "email", "stripe_field": "email"}
BY_CRM_ID = {"column": "crm_id", "stripe_field": "metadata.crm_id"}


@pytest.fixture
def model(wh, accounts_table):
    rows = [account(i) for i in range(1, ROWS + 1)]
    write_accounts(wh, accounts_table, rows)
    return rows


def endpoints(requests) -> Counter:
    return Counter(r["endpoint"] for r in requests)


def by_crm_id(customers):
    return {
        int(c["metadata"]["crm_id"]): c
        for c in customers
        if (c.get("metadata") or {}).get("crm_id")
    }


@pytest.mark.parametrize("key", ["email", "metadata"])
def test_update_or_create_leaves_stripe_equal_to_the_model(
    standin, syncer, model, accounts_table, schemas, key
):
    for i in range(1, MATCHING + 1):
        seed_customer(standin, i, by=key)
    config = export_config(
        "crm", accounts_table, schemas["state"], key=BY_EMAIL if key == "email" else BY_CRM_ID
    )
    syncer.write_requests()

    run = syncer.run(config)

    assert run.plan.summary.counts == {
        "create": 600,
        "update": 400,
        "unchanged": 0,
        "skip": 0,
        "reject": 0,
        "conflict": 0,
    }
    assert endpoints(syncer.write_requests()) == {"customers.create": 600, "customers.update": 400}
    assert (run.result.created, run.result.updated, run.result.failed) == (600, 400, 0)
    customers = standin.customers()
    assert len(customers) == ROWS
    index = by_email(customers) if key == "email" else by_crm_id(customers)
    for row in model:
        found = index[row["email"] if key == "email" else row["crm_id"]]
        assert mapped_values(found) == model_values(row)


# Behaviour, not dialect: the warehouse paths these use are covered on both by the tests above.
@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_update_only_touches_only_the_matching_customers(
    standin, syncer, model, accounts_table, schemas
):
    seeded = {seed_customer(standin, i)["id"] for i in range(1, MATCHING + 1)}
    config = export_config("crm", accounts_table, schemas["state"], behavior="update_only")
    syncer.write_requests()

    run = syncer.run(config)

    writes = syncer.write_requests()
    assert endpoints(writes) == {"customers.update": 400}
    assert {r["path"].rsplit("/", 1)[-1] for r in writes} == seeded
    assert run.plan.summary.counts["skip"] == 600
    assert len(standin.customers()) == MATCHING


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_create_only_creates_only_the_missing_customers(
    standin, syncer, model, accounts_table, schemas
):
    for i in range(1, MATCHING + 1):
        seed_customer(standin, i)
    config = export_config("crm", accounts_table, schemas["state"], behavior="create_only")
    syncer.write_requests()

    syncer.run(config)

    assert endpoints(syncer.write_requests()) == {"customers.create": 600}
    customers = by_email(standin.customers())
    assert len(customers) == ROWS
    assert all(
        customers[f"user{i}@example.com"]["name"] == f"Old name {i}" for i in range(1, MATCHING + 1)
    )


def test_second_run_sends_nothing_and_seven_changes_send_seven_minimal_updates(
    standin, syncer, wh, model, accounts_table, schemas
):
    for i in range(1, MATCHING + 1):
        seed_customer(standin, i)
    config = export_config("crm", accounts_table, schemas["state"])
    syncer.run(config)
    syncer.write_requests()

    second = syncer.run(config)
    assert syncer.write_requests() == []
    assert second.plan.summary.writes == 0 and second.result.api_calls == 0

    changed = {
        3: {"full_name": "Renamed 3"},
        50: {"city": "Lyon"},
        401: {"plan": "enterprise"},
        402: {"full_name": "Renamed 402", "phone": "+33 1 00 00 00 00"},
        700: {"tax": "exempt" if model[699]["tax"] != "exempt" else "none"},
        999: {"city": "Osaka", "country": "JP"},
        1000: {"plan": "team"},
    }
    rows = [dict(r, **changed.get(r["crm_id"], {})) for r in model]
    write_accounts(wh, accounts_table, rows)

    third = syncer.run(config)

    writes = syncer.write_requests()
    assert endpoints(writes) == {"customers.update": 7} and third.result.updated == 7
    bodies = {r["path"].rsplit("/", 1)[-1]: r["params"] for r in writes}
    ids = {e.row: e.stripe_id for e in third.plan.entries if e.action == "update"}
    assert set(ids) == set(changed)
    expected_keys = {
        3: {"name"},
        50: {"address"},
        401: {"metadata"},
        402: {"name", "phone"},
        700: {"tax_exempt"},
        999: {"address"},
        1000: {"metadata"},
    }
    for row_number, keys in expected_keys.items():
        assert set(bodies[ids[row_number]]) == keys, row_number
    assert bodies[ids[401]]["metadata"] == {"plan": "enterprise"}
    assert (
        bodies[ids[999]]["address"]["city"] == "Osaka"
        and bodies[ids[999]]["address"]["country"] == "JP"
    )


def test_plan_names_every_change_and_changes_nothing_in_stripe(
    standin, syncer, wh, model, accounts_table, schemas
):
    for i in range(1, MATCHING + 1):
        seed_customer(standin, i)
    config = export_config("crm", accounts_table, schemas["state"])
    before = standin.stats()["writes_applied"]

    syncer.plan(config)

    assert standin.stats()["writes_applied"] == before
    stored = load_plan(wh, config)
    assert stored is not None and len(stored.entries) == ROWS
    updates = [e for e in stored.entries if e.action == "update"]
    assert len(updates) == MATCHING
    for entry in updates:
        row = model[entry.row - 1]
        assert entry.changes["name"] == (f"Old name {row['crm_id']}", row["full_name"])
        assert entry.changes["address.city"] == ("Nowhere", row["city"])
        assert set(entry.payload) <= {"name", "phone", "address", "metadata", "tax_exempt"}
    assert all(e.changes for e in stored.entries if e.action == "create")


def test_echo_events_reach_the_mirror_and_the_next_plan_is_empty(
    standin, syncer, wh, accounts_table, schemas
):
    rows = 200
    write_accounts(wh, accounts_table, [account(i) for i in range(1, rows + 1)])
    for i in range(1, 81):
        seed_customer(standin, i)
    # The updates land a second after the creates: two events of one customer in one second
    # would be read back (their order is not known), which is right but not what this pins.
    standin.advance_clock(seconds=2)
    config = export_config("crm", accounts_table, schemas["state"])
    syncer.run(config)

    mirror, plan = syncer.plan(config)

    assert mirror.mode == "incremental" and mirror.events == rows
    assert (mirror.inserted, mirror.updated) == (120, 80)
    assert mirror.api_calls <= rows // 100 + 2
    assert plan.summary.counts["unchanged"] == rows and plan.summary.writes == 0
    assert not any(e.reason for e in plan.entries), (
        "unchanged because the mirror matches, not from memory"
    )

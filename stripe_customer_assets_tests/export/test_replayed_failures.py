"""A 500 Stripe saved under the write's idempotency key: found out, never duplicated."""

from __future__ import annotations

import pytest

from stripe_customer_assets.export import read_state
from stripe_customer_assets.export.replayed import find_created, payload_applied
from stripe_customer_assets.stripe_api import StripeApi, StripeReplayedError
from stripe_customer_assets_tests.export.support import (
    account,
    by_email,
    export_config,
    seed_customer,
    write_accounts,
)
from stripe_standin import Fault


def test_the_client_stops_retrying_a_replayed_500(standin, api):
    standin.inject_fault(Fault.HTTP_500_SAVED, endpoints="customers.create")
    standin.requests(clear=True)
    with pytest.raises(StripeReplayedError) as err:
        api.request("post", "/v1/customers", {"name": "A"}, idempotency_key="k-1")
    assert err.value.idempotency_key == "k-1" and err.value.status == 500
    # the first answer is retried once; its replay is not retried again
    assert len(standin.requests()) == 2


def test_a_plain_500_is_still_retried(standin, api: StripeApi):
    standin.inject_fault(Fault.HTTP_500, count=3, endpoints="customers.create")
    api.request("post", "/v1/customers", {"name": "A"}, idempotency_key="k-2")
    assert len(standin.customers()) == 1


@pytest.mark.parametrize("happened", [True, False])
def test_a_create_answered_with_a_saved_500_creates_one_customer(
    standin, syncer, wh, accounts_table, schemas, happened
):
    write_accounts(wh, accounts_table, [account(1), account(2)])
    config = export_config("crm", accounts_table, schemas["state"])
    kind = Fault.HTTP_500_SAVED_APPLIED if happened else Fault.HTTP_500_SAVED
    standin.inject_fault(kind, endpoints="customers.create")
    syncer.write_requests()

    run = syncer.run(config)

    assert run.result.failed == 0 and run.result.created == 2 and run.result.replayed == 1
    customers = by_email(standin.customers())
    assert sorted(customers) == ["user1@example.com", "user2@example.com"]
    assert len(standin.customers()) == 2
    sent = syncer.write_requests()
    plan_keys = {e.idempotency_key for e in run.plan.writes()}
    resent = [r for r in sent if r["idempotency_key"] not in plan_keys]
    # 2 creates + 1 replayed retry, and one re-send under a new key when nothing happened
    assert len(sent) == (3 if happened else 4)
    assert [r["idempotency_key"].rsplit("-", 1)[-1] for r in resent] == ([] if happened else ["r1"])
    state = {r["key"]: r for r in read_state(wh, config)}
    assert {k: r["stripe_id"] for k, r in state.items()} == {
        e: c["id"] for e, c in customers.items()
    }
    assert all(r["last_write"] == "created" for r in state.values())

    rerun = syncer.run(config)
    assert syncer.write_requests() == [] and rerun.result.writes == 0
    assert len(standin.customers()) == 2


@pytest.mark.parametrize("happened", [True, False])
def test_an_update_answered_with_a_saved_500_is_read_back(
    standin, syncer, wh, accounts_table, schemas, happened
):
    write_accounts(wh, accounts_table, [account(1)])
    customer = seed_customer(standin, 1)
    # Seeded before the mirror's first scan starts: a customer changed in the second the
    # scan starts would be read back by the scan too, and this counts the export's reads.
    standin.advance_clock(seconds=3)
    config = export_config("crm", accounts_table, schemas["state"])
    kind = Fault.HTTP_500_SAVED_APPLIED if happened else Fault.HTTP_500_SAVED
    standin.inject_fault(kind, endpoints="customers.update")
    syncer.write_requests()

    run = syncer.run(config)

    assert (run.result.updated, run.result.failed, run.result.replayed) == (1, 0, 1)
    assert standin.customer(customer["id"])["name"] == "Customer 1"
    updates = [r for r in standin.requests() if r["endpoint"] == "customers.update"]
    assert len(updates) == (2 if happened else 3)
    reads = [r for r in standin.requests() if r["endpoint"] == "customers.retrieve"]
    assert len(reads) == 1
    assert len(standin.customers()) == 1


def test_a_create_is_found_by_the_idempotency_key_its_event_carries(standin, api):
    made = api.request("post", "/v1/customers", {"name": "A"}, idempotency_key="k-plan")
    resent = api.request("post", "/v1/customers", {"name": "B"}, idempotency_key="k-other-r1")
    other = {"name": "not what was sent"}  # so only the event's key can find it
    standin.requests(clear=True)

    assert find_created(api, "k-plan", other) == made["id"]
    assert find_created(api, "k-other", other) == resent["id"]  # a re-send's key
    assert find_created(api, "k-none", other) is None
    assert find_created(api, "k-none", {"name": "B"}) == resent["id"]  # a recent customer
    endpoints = {r["endpoint"] for r in standin.requests()}
    assert endpoints == {"events.list", "customers.list"}


def test_an_update_is_read_back_field_by_field():
    customer = {
        "name": "Ann",
        "address": {"city": "Lyon", "country": "FR", "line1": None},
        "metadata": {"crm.id": "7"},
        "preferred_locales": [],
    }
    sent = {
        "name": "Ann",
        "address": {"city": "Lyon", "country": "FR", "line1": ""},
        "metadata": {"crm.id": "7"},
        "preferred_locales": "",
    }
    assert payload_applied(sent, customer)
    assert not payload_applied({**sent, "name": "Bob"}, customer)
    assert not payload_applied({"metadata": {"crm.id": "8"}}, customer)
    assert not payload_applied(sent, {**customer, "deleted": True})

"""API versions: events keep the account's version of their creation; answers follow the
request's Stripe-Version, or the account's default version when it names none."""

from __future__ import annotations

from stripe_standin.versions import render_customer


def customer_events(standin, cid):
    return [e for e in reversed(standin.events()) if e["data"]["object"]["id"] == cid]


def test_by_default_everything_is_2023_08_16(standin, api):
    status, headers, created = api.post("/v1/customers", {"email": "a@example.com"})
    assert status == 200 and headers["stripe-version"] == "2023-08-16"
    assert created["balance"] == 0 and "account_balance" not in created and "sources" not in created
    [event] = customer_events(standin, created["id"])
    assert event["api_version"] == "2023-08-16" and event["data"]["object"] == created


def test_events_keep_the_account_version_of_their_creation(standin, api):
    _, _, first = api.post("/v1/customers", {"email": "first@example.com", "balance": 5})
    standin.configure(api_version="2019-05-16")
    assert standin.config()["api_version"] == "2019-05-16"
    _, _, second = api.post("/v1/customers", {"email": "second@example.com"}, headers={"Stripe-Version": "2023-08-16"})
    api.post(f"/v1/customers/{first['id']}", {"balance": 7}, headers={"Stripe-Version": "2023-08-16"})

    [created_then] = customer_events(standin, second["id"])
    assert created_then["api_version"] == "2019-05-16"
    old = created_then["data"]["object"]
    assert old["account_balance"] == 0 and "balance" not in old
    assert old["tax_info"] is None and old["tax_info_verification"] is None
    assert old["sources"]["object"] == "list" and old["subscriptions"]["data"] == []
    assert second["balance"] == 0  # the answer follows the request's Stripe-Version

    created_before, updated_after = customer_events(standin, first["id"])
    assert created_before["api_version"] == "2023-08-16"
    assert created_before["data"]["object"]["balance"] == 5  # an event never changes shape
    assert updated_after["api_version"] == "2019-05-16"
    assert updated_after["data"]["object"]["account_balance"] == 7
    assert updated_after["data"]["previous_attributes"] == {"account_balance": 5}

    # Listing events is not rendered in the request's version either.
    _, _, listed = api.get("/v1/events", {"limit": 10}, headers={"Stripe-Version": "2023-08-16"})
    assert {e["api_version"] for e in listed["data"]} == {"2019-05-16", "2023-08-16"}


def test_lists_and_retrieves_follow_stripe_version_or_the_account_default(standin, api):
    _, _, made = api.post("/v1/customers", {"email": "v@example.com", "balance": 3})
    standin.configure(api_version="2019-05-16")
    status, headers, default = api.get(f"/v1/customers/{made['id']}")
    assert status == 200 and headers["stripe-version"] == "2019-05-16"
    assert default["account_balance"] == 3 and "balance" not in default
    _, headers, pinned = api.get(f"/v1/customers/{made['id']}", headers={"Stripe-Version": "2023-08-16"})
    assert headers["stripe-version"] == "2023-08-16" and pinned == made
    _, _, between = api.get("/v1/customers", {"limit": 1}, headers={"Stripe-Version": "2019-11-05"})
    [row] = between["data"]
    assert row["balance"] == 3 and row["tax_info"] is None and "sources" in row
    _, _, newer = api.get("/v1/customers", {"limit": 1}, headers={"Stripe-Version": "2024-09-30.acacia"})
    assert newer["data"] == [made]  # no customer change after 2023-08-16 is modelled


def test_rendering_is_table_driven_and_leaves_the_current_shape_alone():
    current = {"id": "cus_1", "object": "customer", "balance": 1, "email": None}
    assert render_customer(current, "2023-08-16") is current
    assert render_customer(current, "2020-08-27") is current
    old = render_customer(current, "2018-01-01")
    assert old["account_balance"] == 1 and "balance" not in old
    assert list(old)[:2] == ["id", "object"]


def test_the_knob_is_a_constructor_keyword_and_survives_reset():
    from stripe_standin import StripeStandin

    with StripeStandin(api_version="2018-02-28") as standin:
        made = standin.create_customer(email="k@example.com", balance=2)
        [event] = standin.events()
        assert event["api_version"] == "2018-02-28"
        assert event["data"]["object"]["account_balance"] == 2 and made["balance"] == 2
        standin.reset()
        assert standin.config()["api_version"] == "2018-02-28"

import re

import pytest
import stripe


def test_create_returns_a_full_customer_with_stripe_defaults(client):
    c = client.v1.customers.create(params={"name": "Zoë Ångström"}).to_dict()
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", c["id"])
    assert c["object"] == "customer" and c["livemode"] is False
    assert c["name"] == "Zoë Ångström"
    assert c["balance"] == 0 and c["metadata"] == {} and c["preferred_locales"] == []
    assert c["tax_exempt"] == "none" and c["delinquent"] is False
    assert c["address"] is None and c["shipping"] is None and c["email"] is None
    assert c["next_invoice_sequence"] == 1 and re.fullmatch(r"[0-9A-F]{8}", c["invoice_prefix"])
    assert c["invoice_settings"] == {
        "custom_fields": None,
        "default_payment_method": None,
        "footer": None,
        "rendering_options": None,
    }
    assert isinstance(c["created"], int)


def test_create_accepts_the_fields_the_project_uses(client, standin):
    c = client.v1.customers.create(
        params={
            "name": "李雷",
            "email": "li.lei@example.cn",
            "phone": "+86 10 5555 0101",
            "description": "VIP",
            "balance": -500,
            "tax_exempt": "reverse",
            "preferred_locales": ["zh-Hans", "en"],
            "metadata": {"plan": "pro", "external_id": "ext_1"},
            "address": {"line1": "朝阳区建国路88号", "city": "北京", "country": "CN"},
            "shipping": {"name": "李雷", "phone": "+86 1", "address": {"city": "北京"}},
        }
    ).to_dict()
    assert c["balance"] == -500 and c["tax_exempt"] == "reverse"
    assert c["preferred_locales"] == ["zh-Hans", "en"]
    assert c["address"] == {
        "city": "北京",
        "country": "CN",
        "line1": "朝阳区建国路88号",
        "line2": None,
        "postal_code": None,
        "state": None,
    }
    assert c["shipping"]["name"] == "李雷" and c["shipping"]["address"]["city"] == "北京"
    assert standin.customers() == [c]


def test_retrieve_returns_the_stored_customer(client):
    c = client.v1.customers.create(params={"email": "a@example.com"})
    assert client.v1.customers.retrieve(c.id).to_dict() == c.to_dict()


def test_retrieve_unknown_customer_is_404_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.retrieve("cus_doesnotexist00")
    assert e.value.http_status == 404
    assert e.value.code == "resource_missing" and e.value.param == "id"
    assert "No such customer: 'cus_doesnotexist00'" in e.value.user_message


def test_update_changes_only_given_fields(client):
    c = client.v1.customers.create(params={"name": "A", "email": "a@example.com"})
    u = client.v1.customers.update(c.id, params={"name": "B"})
    assert u.name == "B" and u.email == "a@example.com"


def test_metadata_key_set_to_empty_string_is_unset(client):
    c = client.v1.customers.create(params={"metadata": {"plan": "pro", "region": "eu"}})
    u = client.v1.customers.update(c.id, params={"metadata": {"plan": "", "tier": "2"}})
    assert u.to_dict()["metadata"] == {"region": "eu", "tier": "2"}


def test_metadata_empty_string_unsets_all_keys(client):
    c = client.v1.customers.create(params={"metadata": {"plan": "pro", "region": "eu"}})
    assert client.v1.customers.update(c.id, params={"metadata": ""}).to_dict()["metadata"] == {}


def test_empty_string_clears_nullable_fields_address_and_shipping(client):
    c = client.v1.customers.create(
        params={
            "name": "N",
            "phone": "1",
            "address": {"city": "X"},
            "shipping": {"name": "N", "address": {"city": "X"}},
        }
    )
    u = client.v1.customers.update(
        c.id, params={"name": "", "phone": "", "address": "", "shipping": ""}
    ).to_dict()
    assert u["name"] is None and u["phone"] is None
    assert u["address"] is None and u["shipping"] is None


def test_address_update_replaces_the_whole_address(client):
    c = client.v1.customers.create(params={"address": {"line1": "1 Main", "city": "X"}})
    u = client.v1.customers.update(c.id, params={"address": {"city": "Y"}}).to_dict()
    assert u["address"]["city"] == "Y" and u["address"]["line1"] is None


@pytest.mark.parametrize(
    "metadata, param",
    [
        ({f"k{i}": "v" for i in range(51)}, "metadata"),
        ({"k" * 41: "v"}, "metadata[" + "k" * 41 + "]"),
        ({"k": "v" * 501}, "metadata[k]"),
        ({"a[b]": "v"}, "metadata"),
    ],
    ids=["51-keys", "key-41-chars", "value-501-chars", "square-brackets-in-key"],
)
def test_metadata_limits_answer_400(client, metadata, param):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"metadata": metadata})
    assert e.value.http_status == 400 and e.value.param == param


def test_metadata_limit_counts_existing_keys(client):
    c = client.v1.customers.create(params={"metadata": {f"k{i}": "v" for i in range(50)}})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.update(c.id, params={"metadata": {"one_more": "v"}})
    client.v1.customers.update(c.id, params={"metadata": {"k0": "", "one_more": "v"}})


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@example.com", "@example.com"])
def test_invalid_email_is_400_email_invalid(client, email):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"email": email})
    assert e.value.code == "email_invalid" and e.value.param == "email"


def test_tax_exempt_outside_enum_is_400(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"tax_exempt": "sometimes"})
    assert e.value.param == "tax_exempt" and "must be one of" in e.value.user_message


def test_spec_length_limits_are_enforced(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"phone": "1" * 21})
    assert e.value.param == "phone"
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"name": "n" * 257})
    assert e.value.param == "name"


def test_non_integer_balance_is_400_parameter_invalid_integer(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"balance": "ten"})
    assert e.value.code == "parameter_invalid_integer" and e.value.param == "balance"


def test_shipping_requires_name_and_address(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"shipping": {"address": {"city": "X"}}})
    assert e.value.code == "parameter_missing" and e.value.param == "shipping[name]"


def test_balance_cannot_be_unset_with_empty_string(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"balance": ""})
    assert e.value.code == "parameter_invalid_empty"


def test_references_to_objects_the_standin_does_not_hold_are_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.customers.create(params={"coupon": "SPRING"})
    assert e.value.code == "resource_missing" and e.value.param == "coupon"


def test_delete_answers_deleted_stub_and_retrieve_then_returns_deleted_true(client, standin):
    c = client.v1.customers.create(params={"email": "gone@example.com"})
    assert client.v1.customers.delete(c.id).to_dict() == {
        "id": c.id,
        "object": "customer",
        "deleted": True,
    }
    assert client.v1.customers.retrieve(c.id).to_dict() == {
        "id": c.id,
        "object": "customer",
        "deleted": True,
    }
    assert standin.customers() == []
    assert [x["deleted"] for x in standin.all_customers()] == [True]


def test_update_or_delete_of_deleted_customer_is_404(client):
    c = client.v1.customers.create()
    client.v1.customers.delete(c.id)
    for call in (
        lambda: client.v1.customers.update(c.id, params={"name": "x"}),
        lambda: client.v1.customers.delete(c.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as e:
            call()
        assert e.value.http_status == 404 and e.value.code == "resource_missing"


def test_expand_adds_expandable_fields_and_rejects_others(api):
    status, _, c = api.post("/v1/customers", {"expand": ["tax", "sources"]})
    assert status == 200
    assert c["tax"]["automatic_tax"] == "unrecognized_location"
    assert c["sources"] == {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": f"/v1/customers/{c['id']}/sources",
    }
    status, _, err = api.get(f"/v1/customers/{c['id']}", {"expand": ["email"]})
    assert status == 400 and err["error"]["param"] == "expand"
    status, _, err = api.get("/v1/customers", {"expand": ["tax"]})
    assert status == 400 and "data.tax" in err["error"]["message"]
    status, _, page = api.get("/v1/customers", {"expand": ["data.tax"]})
    assert status == 200 and page["data"][0]["tax"]["ip_address"] is None


def test_out_of_band_changes_through_the_python_api_record_events(standin):
    c = standin.create_customer(name="Dashboard", metadata={"plan": "free"})
    standin.update_customer(c["id"], metadata={"plan": "pro"})
    standin.delete_customer(c["id"])
    types = [e["type"] for e in standin.events()]
    assert types == ["customer.deleted", "customer.updated", "customer.created"]
    assert standin.events()[0]["request"] == {"id": None, "idempotency_key": None}


def test_a_nul_character_in_a_name_or_metadata_value_is_stored_and_returned_escaped(client, standin):
    # Stripe's metadata values "can contain any characters" (docs.stripe.com/api/metadata);
    # the stand-in keeps U+0000 and writes it in its JSON as the escape \u0000.
    c = client.v1.customers.create(params={"name": "a\x00b", "metadata": {"note": "\x00"}}).to_dict()
    assert (c["name"], c["metadata"]) == ("a\x00b", {"note": "\x00"})
    [event] = [e for e in standin.events() if e["data"]["object"]["id"] == c["id"]]
    assert event["data"]["object"]["name"] == "a\x00b"

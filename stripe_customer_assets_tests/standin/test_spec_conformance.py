"""Responses of the stand-in validated against Stripe's OpenAPI spec (spec3.yaml)."""

import pytest

from stripe_standin import Fault
from stripe_standin.openapi import SchemaValidator
from stripe_standin.params import OPERATION_SCHEMAS
from stripe_standin.spec import extract_subset, load_subset

FULL_PARAMS = {
    "name": "Zoë Ångström",
    "email": "zoe@example.com",
    "phone": "+46 8 123 456",
    "description": "VIP",
    "balance": -1200,
    "tax_exempt": "exempt",
    "preferred_locales": ["sv", "en"],
    "metadata": {"plan": "enterprise", "external_id": "ext_9"},
    "address": {
        "line1": "Drottninggatan 1",
        "line2": "",
        "city": "Stockholm",
        "postal_code": "111 51",
        "country": "SE",
    },
    "shipping": {"name": "Zoë", "phone": "+46 1", "address": {"city": "Uppsala"}},
    "invoice_prefix": "ZOE1",
    "next_invoice_sequence": 7,
    "invoice_settings": {
        "footer": "Tack!",
        "custom_fields": [{"name": "VAT", "value": "SE1"}],
        "rendering_options": {"amount_tax_display": "exclude_tax"},
    },
}


@pytest.fixture(scope="module")
def strict(spec):
    return SchemaValidator(spec, strict=True)


def _ok(errors):
    assert errors == [], "\n".join(errors[:20])


def test_shipped_request_schemas_match_spec3(spec):
    assert load_subset() == extract_subset(spec)


def test_every_operation_the_standin_serves_exists_in_the_spec(spec):
    for name, op in OPERATION_SCHEMAS.items():
        assert op["method"] in spec["paths"][op["path"]], name


def test_customer_responses_conform(strict, api):
    for params in ({}, FULL_PARAMS, {"email": "x@example.com", "metadata": {"a": "b"}}):
        status, _, c = api.post("/v1/customers", params)
        assert status == 200, c
        _ok(strict.validate_component(c, "customer"))
        _ok(strict.validate_response(c, "/v1/customers", "post"))
        status, _, got = api.get(f"/v1/customers/{c['id']}")
        _ok(strict.validate_response(got, "/v1/customers/{customer}", "get"))
    status, _, c = api.post(
        "/v1/customers", {"expand": ["tax", "sources", "subscriptions", "tax_ids", "cash_balance"]}
    )
    assert status == 200
    _ok(strict.validate_component(c, "customer"))


def test_updated_customer_conforms(strict, api):
    _, _, c = api.post("/v1/customers", FULL_PARAMS)
    status, _, u = api.post(
        f"/v1/customers/{c['id']}", {"address": "", "shipping": "", "metadata": "", "phone": ""}
    )
    assert status == 200
    _ok(strict.validate_response(u, "/v1/customers/{customer}", "post"))


def test_deleted_customer_conforms(strict, api):
    _, _, c = api.post("/v1/customers", {"name": "x"})
    _, _, d = api.delete(f"/v1/customers/{c['id']}")
    _ok(strict.validate_component(d, "deleted_customer"))
    _ok(strict.validate_response(d, "/v1/customers/{customer}", "delete"))
    _, _, got = api.get(f"/v1/customers/{c['id']}")
    _ok(strict.validate_response(got, "/v1/customers/{customer}", "get"))
    assert strict.validate_component(got, "customer") != []  # it is the deleted form


def test_list_responses_conform(strict, api, standin):
    standin.seed_customers(60, seed=5)
    status, _, page = api.get("/v1/customers", {"limit": 100})
    assert status == 200 and len(page["data"]) == 60
    _ok(strict.validate_response(page, "/v1/customers", "get"))


def test_seeded_customers_conform(strict, standin):
    standin.seed_customers(2000, seed=21)
    for c in standin.customers():
        _ok(strict.validate_component(c, "customer"))


def test_event_responses_conform(strict, api):
    _, _, c = api.post("/v1/customers", FULL_PARAMS, headers={"Idempotency-Key": "conf"})
    api.post(f"/v1/customers/{c['id']}", {"name": "B", "metadata": {"plan": ""}})
    api.delete(f"/v1/customers/{c['id']}")
    status, _, page = api.get("/v1/events")
    assert status == 200 and len(page["data"]) == 3
    _ok(strict.validate_response(page, "/v1/events", "get"))
    for ev in page["data"]:
        _ok(strict.validate_component(ev, "event"))
        _ok(strict.validate_component(ev["data"]["object"], "customer"))
        status, _, got = api.get(f"/v1/events/{ev['id']}")
        _ok(strict.validate_response(got, "/v1/events/{id}", "get"))


def test_balance_conforms(strict, api):
    _, _, b = api.get("/v1/balance")
    _ok(strict.validate_response(b, "/v1/balance", "get"))


def test_error_responses_conform(strict, api, standin):
    errors = [
        api.get("/v1/customers", key=None),
        api.get("/v1/customers", key="sk_test_nope"),
        api.get("/v1/customers", {"bogus": 1}),
        api.get("/v1/customers/cus_missing"),
        api.get("/v1/nothing"),
        api.post("/v1/customers", {"email": "bad"}),
    ]
    standin.inject_fault(Fault.LOCK_TIMEOUT)
    errors.append(api.post("/v1/customers", {}))
    standin.inject_fault(Fault.HTTP_500)
    errors.append(api.get("/v1/customers"))
    standin.configure(rate_limit=1)
    api.get("/v1/balance")
    errors.append(api.get("/v1/balance"))
    standin.configure(rate_limit=None)
    api.post("/v1/customers", {"name": "a"}, headers={"Idempotency-Key": "e"})
    errors.append(api.post("/v1/customers", {"name": "b"}, headers={"Idempotency-Key": "e"}))
    for status, _, body in errors:
        assert status >= 400
        _ok(strict.validate_component(body, "error"))
        _ok(strict.validate_response(body, "/v1/customers", "get", status))


def test_validator_catches_schema_violations(strict):
    bad = {
        "id": "cus_x",
        "object": "customer",
        "created": "yesterday",
        "livemode": False,
        "metadata": {"a": 1},
        "tax_exempt": "maybe",
        "invented": True,
    }
    errors = strict.validate_component(bad, "customer")
    joined = "\n".join(errors)
    assert "created" in joined and "metadata.a" in joined and "tax_exempt" in joined
    assert "invented" in joined
    assert strict.validate_component({"object": "customer"}, "deleted_customer")


def test_malformed_customers_really_violate_the_schema(strict, standin):
    from stripe_standin import MALFORMED_KINDS

    for kind in MALFORMED_KINDS:
        (cid,) = standin.inject_malformed_customers(1, kind=kind)
        if kind == "missing_fields":
            continue  # the spec requires only id/object/created/livemode
        assert strict.validate_component(standin.customer(cid), "customer"), kind


def test_account_responses_conform(strict, api, standin):
    ids = standin.create_platform(2, connect_rate_limit_on="account")["accounts"]
    _, _, own = api.get("/v1/account")
    _ok(strict.validate_response(own, "/v1/account", "get"))
    _, _, connected = api.get("/v1/account", headers={"Stripe-Account": ids[0]})
    assert connected["id"] == ids[0]
    _ok(strict.validate_response(connected, "/v1/account", "get"))
    status, _, made = api.post(
        "/v1/accounts",
        {"type": "express", "email": "m@example.com", "metadata": {"k": "v"}, "country": "se",
         "capabilities": {"card_payments": {"requested": True}}},
    )
    assert status == 200 and made["country"] == "SE"
    _ok(strict.validate_response(made, "/v1/accounts", "post"))
    status, _, page = api.get("/v1/accounts", {"limit": 100, "expand": ["data.settings"]})
    assert status == 200 and [a["id"] for a in page["data"]] == [made["id"], *ids[::-1]]
    _ok(strict.validate_response(page, "/v1/accounts", "get"))
    _, _, got = api.get(f"/v1/accounts/{ids[1]}")
    _ok(strict.validate_response(got, "/v1/accounts/{account}", "get"))
    _, _, gone = api.delete(f"/v1/accounts/{ids[1]}")
    _ok(strict.validate_component(gone, "deleted_account"))
    _ok(strict.validate_response(gone, "/v1/accounts/{account}", "delete"))
    status, _, err = api.get("/v1/customers", headers={"Stripe-Account": ids[1]})
    assert status == 403
    _ok(strict.validate_component(err, "error"))


def test_connected_account_events_conform(strict, api, standin):
    (acct,) = standin.create_platform(1)["accounts"]
    api.post("/v1/customers", {"name": "x"}, headers={"Stripe-Context": acct})
    _, _, page = api.get("/v1/events", headers={"Stripe-Context": acct})
    assert [e["account"] for e in page["data"]] == [acct]
    _ok(strict.validate_response(page, "/v1/events", "get"))

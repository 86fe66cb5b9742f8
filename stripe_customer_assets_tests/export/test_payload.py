"""Request bodies: only what changed, whole address objects, metadata key by key."""

from __future__ import annotations

import pytest

from stripe_customer_assets.export import parse_config
from stripe_customer_assets.export.diff import changes_for
from stripe_customer_assets.export.payload import (
    PayloadProblem,
    create_fields,
    idempotency_key,
    payload_hash,
    update_payload,
)

CUSTOMER = {
    "id": "cus_1",
    "name": "Ann",
    "email": "ann@example.com",
    "phone": None,
    "address": {
        "city": "Paris",
        "country": "FR",
        "line1": "1 Rue",
        "line2": None,
        "postal_code": "75001",
        "state": None,
    },
    "shipping": None,
    "metadata": {"plan": "pro", "crm_id": "7"},
    "preferred_locales": [],
    "tax_exempt": "none",
}


def body(desired):
    return update_payload(desired, changes_for(desired, CUSTOMER), CUSTOMER)


def test_unchanged_fields_are_not_sent():
    assert changes_for({"name": "Ann", "metadata.plan": "pro", "phone": ""}, CUSTOMER) == {}


def test_update_carries_only_changed_fields():
    assert body({"name": "Anne", "metadata.plan": "pro", "email": "ann@example.com"}) == {
        "name": "Anne"
    }


def test_metadata_changes_are_per_key_and_clearing_sends_empty_string():
    assert body({"metadata.plan": "team", "metadata.crm_id": None}) == {
        "metadata": {"plan": "team", "crm_id": ""}
    }


def test_address_is_sent_whole_filled_from_current_values():
    assert body({"address.city": "Lyon"}) == {
        "address": {
            "city": "Lyon",
            "country": "FR",
            "line1": "1 Rue",
            "line2": "",
            "postal_code": "75001",
            "state": "",
        }
    }


def test_clearing_every_address_part_clears_the_address():
    parts = {f"address.{p}": None for p in ("city", "country", "line1", "postal_code")}
    assert body(parts) == {"address": ""}


def test_shipping_needs_a_name():
    with pytest.raises(PayloadProblem, match="shipping.name"):
        body({"shipping.address.city": "Lyon"})
    assert (
        body({"shipping.name": "Ann", "shipping.address.city": "Lyon"})["shipping"]["name"] == "Ann"
    )


def test_metadata_beyond_fifty_keys_after_merge_is_a_problem():
    customer = {**CUSTOMER, "metadata": {f"k{i}": "v" for i in range(50)}}
    desired = {"metadata.extra": "x"}
    with pytest.raises(PayloadProblem, match="51 keys"):
        update_payload(desired, changes_for(desired, customer), customer)


def test_locales_and_tax_exempt_clear_to_stripe_defaults():
    assert body({"preferred_locales": ["fr", "en"]}) == {"preferred_locales": ["fr", "en"]}
    assert body({"preferred_locales": [], "tax_exempt": "none"}) == {}


def test_create_writes_the_external_id_into_metadata():
    config = parse_config(
        {
            "name": "crm",
            "model": "SELECT 1",
            "key": {"column": "ext", "stripe_field": "metadata.crm_id"},
        }
    )
    assert create_fields({"name": "Bo", "phone": None, "tax_exempt": "none"}, config, "42") == {
        "name": "Bo",
        "metadata.crm_id": "42",
    }


def test_idempotency_keys_are_deterministic_and_change_with_the_starting_point():
    digest = payload_hash({"name": "Anne"})
    assert digest == payload_hash({"name": "Anne"}) != payload_hash({"name": "Ann"})
    first = idempotency_key("crm", "update", "ann@example.com", digest, "cus_1@3")
    assert first == idempotency_key("crm", "update", "ann@example.com", digest, "cus_1@3")
    assert first != idempotency_key("crm", "update", "ann@example.com", digest, "cus_1@4")
    assert first != idempotency_key("other", "update", "ann@example.com", digest, "cus_1@3")
    assert first.startswith("sca-export-") and len(first) < 255

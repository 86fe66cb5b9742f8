"""A sync that maps only some parts of address / shipping says what happens to the others."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from stripe_customer_assets.export import parse_config
from stripe_customer_assets.export.preview import markdown_preview
from stripe_customer_assets_tests.components.test_stripe_export import YAML, load
from stripe_customer_assets_tests.export.support import account, export_config, write_accounts

COUNTRY_ONLY = {"name": "full_name", "address.country": "country"}
HOME = {
    "line1": "1 Main St",
    "line2": None,
    "city": "Springfield",
    "state": "IL",
    "postal_code": "62701",
    "country": "US",
}


def attrs(**overrides):
    base = {
        "name": "crm",
        "model": "SELECT 1",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": dict(COUNTRY_ONLY),
    }
    base.update(overrides)
    return base


def test_a_partly_mapped_address_without_a_choice_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as err:
        parse_config(attrs())
    [error] = err.value.errors()
    assert error["loc"] == ("fields", "address.country")
    message = error["msg"]
    assert "maps address.country but not" in message
    assert "address.city, address.line1" in message
    assert "Stripe replaces address as a whole" in message
    assert "partial_address: keep_stripe" in message and "clear" in message


@pytest.mark.parametrize(
    ("fields", "choice", "expected"),
    [
        (COUNTRY_ONLY, "keep_stripe", {"address": "keep_stripe"}),
        (COUNTRY_ONLY, {"address": "clear"}, {"address": "clear"}),
        ({"name": "full_name"}, None, {}),  # no part mapped: Stripe's address is left alone
        ({f"address.{p}": p for p in HOME}, None, {}),  # every part mapped: nothing to choose
        (
            {"shipping.name": "n", "shipping.address.city": "c", "address.city": "c"},
            {"address": "clear", "shipping": "keep_stripe"},
            {"address": "clear", "shipping": "keep_stripe"},
        ),
    ],
)
def test_the_choice_is_needed_only_for_a_hash_mapped_in_part(fields, choice, expected):
    config = parse_config(attrs(fields=fields, partial_address=choice))
    assert config.partial_address == expected


@pytest.mark.parametrize(
    ("fields", "choice", "path", "fragment"),
    [
        (
            COUNTRY_ONLY,
            "merge",
            ("partial_address", "address"),
            "Input should be 'keep_stripe' or 'clear'",
        ),
        (
            COUNTRY_ONLY,
            {"billing": "clear"},
            ("partial_address", "billing", "[key]"),
            "Input should be 'address' or 'shipping'",
        ),
        (
            {"shipping.address.city": "c"},
            "clear",
            ("partial_address",),
            "clear would send shipping without a name",
        ),
        (
            {"address.city": "c", "shipping.address.city": "c", "shipping.name": "n"},
            {"address": "clear"},
            ("fields", "shipping.name"),
            "Stripe replaces shipping as a whole",
        ),
    ],
)
def test_bad_choices_name_the_field(fields, choice, path, fragment):
    with pytest.raises(ValidationError) as err:
        parse_config(attrs(fields=fields, partial_address=choice))
    found = {e["loc"]: e["msg"] for e in err.value.errors()}
    assert fragment in found[path]


def test_loading_the_defs_asks_for_the_choice_with_the_file_and_line():
    yaml = YAML.format(enabled="true").replace(
        "    metadata.plan: plan\n", "    metadata.plan: plan\n    address.country: country\n"
    )
    with pytest.raises(Exception) as err:
        load(yaml)
    message = str(err.value) + str(err.value.__cause__ or "")
    assert re.search(r"attributes\.fields\.address\.country at \S*crm/defs\.yaml:\d+`", message)
    assert "partial_address" in message
    defs, _ = load(yaml + "  partial_address: keep_stripe\n")
    assert defs.resolve_job_def("crm_job") is not None


@pytest.mark.parametrize("choice", ["keep_stripe", "clear"])
def test_a_country_only_sync_keeps_or_clears_the_other_parts_and_shows_the_whole_address(
    standin, syncer, wh, accounts_table, schemas, choice
):
    write_accounts(wh, accounts_table, [account(1, country="FR"), account(2, country="DE")])
    customer = standin.create_customer(
        email="user1@example.com", name="Customer 1", address={k: v for k, v in HOME.items() if v}
    )
    config = export_config(
        "crm",
        accounts_table,
        schemas["state"],
        fields=dict(COUNTRY_ONLY),
        partial_address=choice,
    )
    syncer.write_requests()

    run = syncer.run(config)

    sent = {r["endpoint"]: r["params"] for r in syncer.write_requests()}
    kept = choice == "keep_stripe"
    expected = {**HOME, "country": "FR"} if kept else {**dict.fromkeys(HOME), "country": "FR"}
    assert standin.customer(customer["id"])["address"] == expected
    assert sent["customers.update"]["address"] == {k: v or "" for k, v in expected.items()}
    created = {k: v or "" for k, v in {**dict.fromkeys(HOME), "country": "DE"}.items()}
    assert sent["customers.create"]["address"] == created
    [update] = [e for e in run.plan.entries if e.action == "update"]
    if kept:
        assert update.changes == {"address.country": ("US", "FR")}
    else:
        assert update.changes["address.line1"] == ("1 Main St", None)
    preview = markdown_preview(run.plan)
    assert "address sent whole: " in preview
    whole = (
        "city 'Springfield', country 'FR', line1 '1 Main St'" if kept else "city ∅, country 'FR'"
    )
    assert whole in preview

    again = syncer.run(config)
    assert syncer.write_requests() == [] and again.plan.summary.writes == 0

"""Metadata keys with dots: ``metadata.crm.id`` is the key ``crm.id`` everywhere."""

from __future__ import annotations

from stripe_customer_assets.export.diff import changes_for
from stripe_customer_assets.export.fields import current_value, split_path, stripe_field
from stripe_customer_assets.export.payload import update_payload
from stripe_customer_assets.export.preview import markdown_preview
from stripe_customer_assets_tests.export.support import account, export_config, write_accounts

DOTTED_KEY = {"column": "crm_id", "stripe_field": "metadata.crm.id"}
DOTTED_FIELDS = {"name": "full_name", "metadata.hubspot.tier": "plan"}


def test_a_metadata_path_names_one_key_whatever_it_holds():
    assert split_path("metadata.crm.id") == ("metadata", "crm.id")
    assert split_path("shipping.address.city") == ("shipping", "address", "city")
    assert stripe_field("metadata.hubspot.tier").leaf == "hubspot.tier"
    customer = {"metadata": {"tier": "other", "hubspot.tier": "gold"}}
    assert current_value(customer, "metadata.hubspot.tier") == "gold"
    desired = {"metadata.hubspot.tier": "silver"}
    changes = changes_for(desired, customer)
    assert changes == {"metadata.hubspot.tier": ("gold", "silver")}
    assert update_payload(desired, changes, customer) == {"metadata": {"hubspot.tier": "silver"}}


def test_dotted_metadata_keys_are_written_whole_and_found_again(
    standin, syncer, wh, accounts_table, schemas
):
    rows = [account(1, plan="pro"), account(2, plan="starter")]
    write_accounts(wh, accounts_table, rows)
    # An unrelated customer whose keys are the last names of the dotted ones.
    bystander = standin.create_customer(name="Bystander", metadata={"id": "1", "tier": "keep"})
    config = export_config(
        "crm", accounts_table, schemas["state"], key=DOTTED_KEY, fields=DOTTED_FIELDS
    )
    syncer.write_requests()

    first = syncer.run(config)

    sent = syncer.write_requests()
    assert [r["endpoint"] for r in sent] == ["customers.create"] * 2
    assert sorted(r["params"]["metadata"]["crm.id"] for r in sent) == ["1", "2"]
    assert all(set(r["params"]["metadata"]) == {"crm.id", "hubspot.tier"} for r in sent)
    assert "metadata.crm.id" in markdown_preview(first.plan)
    created = {
        c["metadata"]["crm.id"]: c for c in standin.customers() if c["id"] != bystander["id"]
    }
    assert {k: c["metadata"] for k, c in created.items()} == {
        "1": {"crm.id": "1", "hubspot.tier": "pro"},
        "2": {"crm.id": "2", "hubspot.tier": "starter"},
    }

    # A second run finds both customers: nothing to send.
    second = syncer.run(config)
    assert syncer.write_requests() == []
    assert {e.action for e in second.plan.entries} == {"unchanged"}

    # A changed value updates the same customer, under its whole key.
    write_accounts(wh, accounts_table, [account(1, plan="enterprise"), rows[1]])
    third = syncer.run(config)
    sent = syncer.write_requests()
    assert [(r["endpoint"], r["params"]) for r in sent] == [
        ("customers.update", {"metadata": {"hubspot.tier": "enterprise"}})
    ]
    assert [e.stripe_id for e in third.plan.entries if e.action == "update"] == [created["1"]["id"]]
    assert len(standin.customers()) == 3
    assert standin.customer(bystander["id"])["metadata"] == {"id": "1", "tier": "keep"}

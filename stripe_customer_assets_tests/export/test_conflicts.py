"""on_conflict: the YAML forms, and which changes the plan sends, keeps or reports."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pydantic import ValidationError

from stripe_customer_assets.export import Plan, build_plan, markdown_preview, parse_config
from stripe_customer_assets.export.conflicts import LastWrite
from stripe_customer_assets.export.reconcile import final_state
from stripe_customer_assets.export.report import plan_figures
from stripe_customer_assets.export.resolve import Match, ModelRow
from stripe_customer_assets_tests.export.test_preview import table_rows

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FIELDS = {"name": "name", "phone": "phone", "address.city": "city", "address.country": "country"}


def config(on_conflict=None, **overrides):
    base = {
        "name": "crm",
        "model": "SELECT 1",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": FIELDS,
        "partial_address": "keep_stripe",
    }
    if on_conflict is not None:
        base["on_conflict"] = on_conflict
    base.update(overrides)
    return parse_config(base)


STRIPE = {
    "id": "cus_1",
    "email": "a@x.io",
    "name": "Edited in Stripe",
    "phone": "+1 555 0001",
    "address": {"city": "Lyon", "country": "FR", "line1": "1 rue X"},
}
MODEL = {"email": "a@x.io", "name": "Model name", "phone": "+1 555 0002", "city": "Paris", "country": "FR"}
# The sync last wrote the name and the phone; Stripe's name was changed since, its phone not.
PUSHED = {("default", "a@x.io", "cus_1"): LastWrite({"name": "Pushed name", "phone": "+1 555 0001"}, T0)}
SYNCED = T0 + dt.timedelta(hours=1)  # the mirror read the customer after that write


def rows(customer=STRIPE, synced_at=SYNCED):
    return [ModelRow(1, "a@x.io", dict(MODEL), [Match("cus_1", T0, 2, customer, synced_at)])]


def by_action(entries):
    return {e.action: e for e in entries}


def test_one_policy_for_the_sync_or_a_default_and_per_field_ones():
    assert config().on_conflict.for_field("name") == "overwrite"
    short = config("keep_stripe").on_conflict
    assert (short.for_field("name"), short.for_field("phone")) == ("keep_stripe", "keep_stripe")
    mixed = config({"default": "fill_if_empty", "fields": {"name": "keep_stripe"}}).on_conflict
    assert (mixed.for_field("name"), mixed.for_field("phone")) == ("keep_stripe", "fill_if_empty")


def test_a_per_field_policy_must_name_a_mapped_field():
    with pytest.raises(ValidationError) as err:
        config({"fields": {"description": "keep_stripe"}})
    (error,) = err.value.errors()
    assert error["loc"] == ("on_conflict", "fields", "description")
    assert "'description' is not a field this sync maps; mapped: name, phone" in error["msg"]
    with pytest.raises(ValidationError, match="keep_stripe"):
        config("keep_theirs")


def test_overwrite_sends_every_change():
    (update,) = build_plan(config(), rows(), pushed=PUSHED)
    assert update.action == "update"
    assert update.payload["name"] == "Model name" and update.payload["phone"] == "+1 555 0002"


def test_keep_stripe_keeps_a_value_edited_in_stripe_and_reports_both_values():
    entries = build_plan(config("keep_stripe"), rows(), pushed=PUSHED)
    assert [e.action for e in entries] == ["update", "conflict"]
    update, conflict = entries
    # The phone is still what the sync pushed: its own to change. The name was edited in
    # Stripe. The city was never pushed and Stripe holds one: Stripe's too.
    assert update.changes == {"phone": ("+1 555 0001", "+1 555 0002")}
    assert update.payload == {"phone": "+1 555 0002"}
    assert conflict.changes == {
        "name": ("Edited in Stripe", "Model name"),
        "address.city": ("Lyon", "Paris"),
    }
    assert conflict.payload is None and conflict.stripe_id == "cus_1"
    figures = plan_figures(Plan("crm", "p1", T0, entries))
    assert (figures["update"], figures["conflict"], figures["writes"]) == (1, 1, 1)


def test_keep_stripe_only_for_one_field_sends_the_others_and_keeps_the_hash_parts():
    entries = build_plan(config({"fields": {"address.city": "keep_stripe"}}), rows(), pushed=PUSHED)
    update, conflict = entries
    assert conflict.changes == {"address.city": ("Lyon", "Paris")}
    assert set(update.changes) == {"name", "phone"}
    assert "address" not in update.payload


def test_keep_stripe_with_a_hash_sent_whole_carries_stripes_kept_part():
    customer = dict(STRIPE, address={"city": "Lyon", "country": "DE"})
    entries = build_plan(config({"fields": {"address.city": "keep_stripe"}}), rows(customer), pushed=PUSHED)
    update = next(e for e in entries if e.action == "update")
    assert update.payload["address"]["city"] == "Lyon"  # kept, though the country is sent
    assert update.payload["address"]["country"] == "FR"


def test_keep_stripe_writes_its_own_values_and_fields_stripe_holds_empty():
    customer = {"id": "cus_1", "email": "a@x.io", "name": "Pushed name", "phone": "+1 555 0001"}
    (update,) = build_plan(config("keep_stripe"), rows(customer), pushed=PUSHED)
    assert set(update.changes) == {"name", "phone", "address.city", "address.country"}


def test_a_value_the_sync_cleared_and_stripe_set_again_is_an_edit():
    pushed = {("default", "a@x.io", "cus_1"): LastWrite({"phone": None}, T0)}
    customer = {"id": "cus_1", "email": "a@x.io", "phone": "+1 555 0001"}
    entries = build_plan(config({"fields": {"phone": "keep_stripe"}}), rows(customer), pushed=pushed)
    assert by_action(entries)["conflict"].changes == {"phone": ("+1 555 0001", "+1 555 0002")}


def test_a_mirror_not_yet_past_the_last_write_shows_no_edit():
    """The mirror still holds the value from before the sync's write: not a Stripe edit."""
    entries = build_plan(config("keep_stripe"), rows(synced_at=T0 - dt.timedelta(minutes=1)), pushed=PUSHED)
    assert [e.action for e in entries] == ["update"]


def test_fill_if_empty_writes_only_fields_stripe_holds_no_value_in():
    customer = {"id": "cus_1", "email": "a@x.io", "name": "Edited in Stripe", "phone": ""}
    (update,) = build_plan(config("fill_if_empty"), rows(customer))
    assert set(update.changes) == {"phone", "address.city", "address.country"}
    assert update.payload["phone"] == "+1 555 0002"


def test_fill_if_empty_with_nothing_empty_is_unchanged_not_a_conflict():
    (entry,) = build_plan(config("fill_if_empty"), rows())
    assert entry.action == "unchanged"
    assert "Stripe already holds name, phone, address.city (on_conflict: fill_if_empty)" in entry.reason


def test_only_conflicts_make_a_conflict_entry_and_a_preview_row_per_field():
    customer = dict(STRIPE, phone="+1 555 0002", address={"city": "Paris", "country": "FR"})
    entries = build_plan(config("keep_stripe"), rows(customer), pushed=PUSHED)
    assert [e.action for e in entries] == ["conflict"]
    plan = Plan("crm", "p1", T0, entries)
    assert plan.writes() == []
    preview = markdown_preview(plan)
    assert "**1** conflict" in preview
    assert "| row | key | customer | conflict: field | Stripe's value (kept) | model's value (not sent) |" in preview
    assert table_rows(preview) == [["1", "'a@x.io'", "cus_1", "name", "'Edited in Stripe'", "'Model name'"]]


def test_the_state_keeps_what_was_pushed_through_a_conflict():
    entries = build_plan(config("keep_stripe"), rows(dict(STRIPE, phone="+1 555 0002")), pushed=PUSHED)
    previous = [
        {"account": "default", "key": "a@x.io", "stripe_id": "cus_1", "last_write": "updated", "pushed_values": '{"name": "Pushed name"}'}
    ]
    (state,) = final_state(Plan("crm", "p1", T0, entries), previous, T0)
    assert state["status"] == "conflict"
    assert state["pushed_values"] == '{"name": "Pushed name"}'


def test_defs_yaml_takes_both_forms_and_names_the_file_and_line_of_an_unmapped_field():
    from stripe_customer_assets_tests.components.test_stripe_export import YAML, load

    yaml = YAML.format(enabled="true")
    for form in ("  on_conflict: keep_stripe\n", "  on_conflict: {default: fill_if_empty, fields: {name: keep_stripe}}\n"):
        defs, _ = load(yaml + form)
        assert defs.resolve_job_def("crm_job") is not None
    with pytest.raises(Exception) as err:
        load(yaml + "  on_conflict:\n    fields: {phone: keep_stripe}\n")
    message = str(err.value) + str(err.value.__cause__ or "")
    assert re.search(r"attributes\.on_conflict\.fields\.phone at \S*crm/defs\.yaml:\d+`", message)
    assert "'phone' is not a field this sync maps; mapped: name, metadata.plan" in message

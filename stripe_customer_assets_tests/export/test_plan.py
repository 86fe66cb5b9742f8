"""Classification: create, update, unchanged, skip, reject; duplicates; guards."""

from __future__ import annotations

import datetime as dt

import pytest

from stripe_customer_assets.export import (
    ExportGuardError,
    Plan,
    build_plan,
    check_guards,
    markdown_preview,
    parse_config,
)
from stripe_customer_assets.export.resolve import Match, ModelRow

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def config(**overrides):
    base = {
        "name": "crm",
        "model": "SELECT 1",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": {"name": "name"},
    }
    base.update(overrides)
    return parse_config(base)


def match(cid: str, name: str, days: int = 0, version: int = 1) -> Match:
    return Match(
        cid, T0 + dt.timedelta(days=days), version, {"id": cid, "name": name, "email": "x"}
    )


def row(n: int, key: str | None, name: str | None, *matches: Match, deleted=()) -> ModelRow:
    return ModelRow(n, key, {"email": key, "name": name}, list(matches), list(deleted))


def actions(entries):
    return [(e.row, e.action, e.stripe_id) for e in entries]


def test_rows_are_classified_by_behavior():
    rows = [
        row(1, "a@x.io", "A", match("cus_a", "old")),
        row(2, "b@x.io", "B"),
        row(3, "c@x.io", "C", match("cus_c", "C")),
    ]
    assert actions(build_plan(config(), rows)) == [
        (1, "update", "cus_a"),
        (2, "create", None),
        (3, "unchanged", "cus_c"),
    ]
    assert actions(build_plan(config(behavior="update_only"), rows)) == [
        (1, "update", "cus_a"),
        (2, "skip", None),
        (3, "unchanged", "cus_c"),
    ]
    assert actions(build_plan(config(behavior="create_only"), rows)) == [
        (1, "skip", "cus_a"),
        (2, "create", None),
        (3, "skip", "cus_c"),
    ]


def test_update_names_each_change_current_to_new():
    [entry] = build_plan(config(), [row(1, "a@x.io", "Anne", match("cus_a", "Ann"))])
    assert entry.changes == {"name": ("Ann", "Anne")} and entry.payload == {"name": "Anne"}
    assert entry.idempotency_key and entry.payload_hash


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("skip", [(1, "skip", None)]),
        ("update_newest", [(1, "update", "cus_new")]),
        ("update_all", [(1, "update", "cus_new"), (1, "update", "cus_old")]),
    ],
)
def test_customers_sharing_a_key_follow_on_duplicate(option, expected):
    shared = row(1, "a@x.io", "A", match("cus_new", "n", days=5), match("cus_old", "o", days=1))
    entries = build_plan(config(on_duplicate=option), [shared])
    assert actions(entries) == expected
    assert "2 Stripe customers share email 'a@x.io' (cus_new, cus_old)" in entries[0].reason
    assert f"on_duplicate: {option}" in entries[0].reason


def test_null_duplicate_and_invalid_keys_are_rejected_with_reasons():
    rows = [
        row(1, None, "A"),
        row(2, "dup@x.io", "B"),
        row(3, "DUP@x.io ", "C"),
        row(4, "bad", "D"),
        row(5, "ok@x.io", "E"),
    ]
    entries = build_plan(config(), rows)
    assert [e.action for e in entries] == ["reject", "reject", "reject", "reject", "create"]
    assert entries[0].reason == "key column 'email' is null"
    assert "appears in 2 model rows (2, 3)" in entries[1].reason
    assert "not a valid email" in entries[3].reason


def test_a_write_an_earlier_run_sent_is_not_planned_again():
    rows = [row(1, "a@x.io", "Anne", match("cus_a", "Ann"))]
    [first] = build_plan(config(), rows)
    [again] = build_plan(config(), rows, sent_keys={first.idempotency_key})
    assert again.action == "unchanged" and "earlier run" in again.reason


def test_a_deleted_customer_makes_a_new_create_request():
    [before] = build_plan(config(), [row(1, "a@x.io", "A")])
    [after] = build_plan(config(), [row(1, "a@x.io", "A", deleted=["cus_gone"])])
    assert before.action == after.action == "create"
    assert before.payload == after.payload and before.idempotency_key != after.idempotency_key


def plan_of(entries) -> Plan:
    return Plan("crm", "p1", T0, entries)


def test_guards_stop_past_the_limits_and_name_the_field():
    rows = [
        row(1, None, "A"),
        row(2, "b@x.io", "B", match("cus_b", "old")),
        row(3, "c@x.io", "C", match("cus_c", "C")),
    ]
    summary = plan_of(build_plan(config(), rows)).summary
    assert summary.reject_percent == pytest.approx(100 / 3) and summary.change_percent == 50
    check_guards(config(max_reject_percent=34, max_change_percent=50), summary)
    with pytest.raises(
        ExportGuardError, match=r"33.3% rows rejected \(1 of 3\) exceeds max_reject_percent: 30"
    ):
        check_guards(config(max_reject_percent=30), summary)
    with pytest.raises(
        ExportGuardError,
        match=r"50.0% matched customers changed \(1 of 2\) exceeds max_change_percent: 40",
    ):
        check_guards(config(max_change_percent=40), summary)


def test_preview_shows_field_changes_and_reasons():
    rows = [row(1, "a@x.io", "Anne", match("cus_a", "Ann")), row(2, None, "B")]
    text = markdown_preview(plan_of(build_plan(config(), rows)))
    assert "name: 'Ann' -> 'Anne'" in text and "cus_a" in text
    assert "key column 'email' is null" in text and "**1** update" in text

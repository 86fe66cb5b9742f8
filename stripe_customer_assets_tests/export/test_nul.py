"""A model value holding a NUL character (U+0000) is a rejected row, never a request."""

from __future__ import annotations

from stripe_customer_assets.export import build_plan, parse_config
from stripe_customer_assets.export.resolve import Match, ModelRow

REASON = "holds a NUL character (U+0000), which is not sent to Stripe; remove it in the model"


def config():
    return parse_config(
        {
            "name": "crm",
            "model": "SELECT 1",
            "key": {"column": "ext", "stripe_field": "metadata.crm_id"},
            "fields": {"name": "name", "metadata.note": "note", "preferred_locales": "locales"},
        }
    )


def test_a_nul_in_a_value_or_the_key_rejects_the_row_naming_column_and_key():
    current = Match("cus_1", None, 1, {"id": "cus_1", "name": "Old", "metadata": {"crm_id": "e1"}})
    rows = [
        ModelRow(1, "e1", {"ext": "e1", "name": "Ada\x00", "note": "ok"}, [current]),
        ModelRow(2, "e2", {"ext": "e2", "name": "Bob", "note": "x\x00y"}),
        ModelRow(3, "e3", {"ext": "e3", "name": "Cy", "locales": ["fr\x00"]}),
        ModelRow(4, "e\x004", {"ext": "e\x004", "name": "Di"}),
        ModelRow(5, "e5", {"ext": "e5", "name": "Eve"}),
    ]
    entries = {e.row: e for e in build_plan(config(), rows)}
    assert [(e.key, e.action) for e in entries.values()] == [
        ("e1", "reject"),
        ("e2", "reject"),
        ("e3", "reject"),
        ("e\x004", "reject"),
        ("e5", "create"),
    ]
    assert entries[1].reason == f"column 'name' (name): {REASON}"
    assert entries[1].stripe_id == "cus_1"
    assert entries[2].reason == f"column 'note' (metadata.note): {REASON}"
    assert entries[3].reason == f"column 'locales' (preferred_locales): {REASON}"
    assert entries[4].reason == f"key column 'ext': {REASON}"

"""The plan's preview reads as one line per field change in Dagster's UI, whose markdown drops
HTML (a ``<br>`` joined the fields into one line): each change is its own table row."""

from __future__ import annotations

import datetime as dt
import re

from stripe_customer_assets.export import Plan, markdown_preview
from stripe_customer_assets.export.plan import PlanEntry

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every table row (header and separator lines left out); ``\\|`` is a pipe
    inside a cell, as GitHub-flavoured markdown (and Dagster's UI) reads it."""
    rows = []
    for line in markdown.splitlines():
        if not line.startswith("|") or line.startswith(("|---", "| row |")):
            continue
        cells = re.split(r"(?<!\\)\|", line)
        assert cells[0] == "" and cells[-1] == "", line
        rows.append([c.strip() for c in cells[1:-1]])
    return rows


def test_each_field_change_of_a_write_is_its_own_table_row():
    update = PlanEntry(
        row=4,
        key="ann@x.io",
        action="update",
        stripe_id="cus_A",
        reason="2 Stripe customers share email 'ann@x.io' (cus_A, cus_B); on_duplicate: update_newest updates cus_A",
        changes={
            "name": ("Ann", "Anne | Smith"),
            "phone": (None, "+4930123"),
            "metadata.tier": ("gold", "vip"),
            "address.city": ("Berlin", "Paris"),
        },
        payload={"name": "Anne | Smith", "address": {"city": "Paris", "country": "FR"}},
    )
    create = PlanEntry(row=7, key="bo@x.io", action="create", changes={"name": (None, "Bo")})
    preview = markdown_preview(Plan("crm", "p1", T0, [update, create]))

    assert "<" not in preview, "no HTML: Dagster's UI drops it"
    header = "| row | key | action | customer | change |"
    assert header in preview
    rows = table_rows(preview)
    assert all(len(r) == 5 for r in rows), rows
    assert rows == [
        ["4", "'ann@x.io'", "update", "cus_A", "name: 'Ann' -> 'Anne \\| Smith'"],
        ["4", "", "", "", "phone: ∅ -> '+4930123'"],
        ["4", "", "", "", "metadata.tier: 'gold' -> 'vip'"],
        ["4", "", "", "", "address.city: 'Berlin' -> 'Paris'"],
        ["4", "", "", "", "address sent whole: city 'Paris', country 'FR'"],
        ["4", "", "", "", "_2 Stripe customers share email 'ann@x.io' (cus_A, cus_B); on_duplicate: update_newest updates cus_A_"],
        ["7", "'bo@x.io'", "create", "new", "name: ∅ -> 'Bo'"],
    ]


def test_the_first_writes_are_shown_and_the_rest_counted():
    entries = [
        PlanEntry(row=n, key=f"c{n}@x.io", action="create", changes={"name": (None, "A"), "phone": (None, "1")})
        for n in range(1, 5)
    ]
    preview = markdown_preview(Plan("crm", "p1", T0, entries), limit=3)
    rows = table_rows(preview)
    assert [r[0] for r in rows] == ["1", "1", "2", "2", "3", "3"]
    assert "_… and 1 more writes (see the plan table)_" in preview

"""Conflict policies: which of a row's changes a write may make to the values Stripe holds.

``on_conflict`` (config.py) names a policy for the whole sync and per mapped field:

overwrite      Stripe gets the model's value (the default).
fill_if_empty  only a field Stripe holds no value in is written; a value Stripe holds is
               left alone, silently: Stripe's value wins by design, so it is no conflict.
keep_stripe    the sync overwrites only its own values: a field whose value in Stripe is
               still what the sync last pushed there (per key, customer and field, in the
               state table's ``pushed_values``), or a field the sync never pushed that
               Stripe holds no value in. Any other value was set in Stripe (a dashboard
               edit, another integration): it is kept and reported as a conflict, with
               Stripe's value and the model's.

Stripe's value is the mirror's. A mirror that has not read the customer since the sync's
last write to it (its ``synced_at`` is not later than the write) still holds the value from
before the write, so it cannot show an edit: no conflict is reported from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.diff import Changes, comparable, same


@dataclass(frozen=True)
class LastWrite:
    """What the sync last pushed to one customer for one key: field -> value, and when."""

    values: dict[str, Any] = field(default_factory=dict)
    written_at: dt.datetime | None = None


def edited_in_stripe(path: str, current: Any, last: LastWrite | None, stale: bool) -> bool:
    """Whether Stripe's ``current`` value at ``path`` is not the sync's to overwrite."""
    if stale:
        return False
    if last is not None and path in last.values:
        return not same(current, last.values[path])
    return comparable(current) is not None


def split_changes(
    config: ExportConfig,
    changes: Changes,
    last: LastWrite | None = None,
    synced_at: dt.datetime | None = None,
) -> tuple[Changes, Changes, Changes]:
    """``changes`` (current -> new) as (to send, conflicts, left to Stripe by fill_if_empty)."""
    stale = bool(
        last is not None
        and last.written_at is not None
        and synced_at is not None
        and synced_at <= last.written_at
    )
    send: Changes = {}
    conflicts: Changes = {}
    kept: Changes = {}
    for path, (current, new) in changes.items():
        policy = config.on_conflict.for_field(path)
        if policy == "fill_if_empty" and comparable(current) is not None:
            kept[path] = (current, new)
        elif policy == "keep_stripe" and edited_in_stripe(path, current, last, stale):
            conflicts[path] = (current, new)
        else:
            send[path] = (current, new)
    return send, conflicts, kept

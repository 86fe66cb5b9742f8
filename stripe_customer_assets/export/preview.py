"""The plan in words: counts per class and the field-level changes, as markdown.

Dagster's UI renders metadata markdown without HTML (a ``<br>`` is dropped), so each field
change is its own table row: the first row of a write names it (row, key, action, customer),
the rows below it, with the same row number, hold its other changes."""

from __future__ import annotations

import json
from typing import Any

from stripe_customer_assets.export.fields import HASHES
from stripe_customer_assets.export.plan import (
    CONFLICT,
    CREATE,
    REJECT,
    SKIP,
    UPDATE,
    Plan,
    PlanEntry,
)

EMPTY = "∅"


def show(value: Any, width: int = 40) -> str:
    """A value as it reads in a table cell: ∅ for nothing, quotes for text."""
    if value is None or value == "" or value == []:
        return EMPTY
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ").replace("|", "\\|")
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"'{text}'" if isinstance(value, str) else text


def cell(text: str, width: int = 200) -> str:
    """Free text in a table cell: one line, pipes escaped, shortened."""
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def change_lines(entry: PlanEntry) -> list[str]:
    """``field: old -> new`` for each changed field."""
    return [f"{path}: {show(old)} -> {show(new)}" for path, (old, new) in entry.changes.items()]


def markdown_preview(plan: Plan, limit: int = 50) -> str:
    """Creates and updates with their changes, then conflicts (one row per field, Stripe's
    value and the model's), then skipped and rejected rows with reasons. A sync that names
    accounts gets the counts of each account and an account column."""
    writes = [e for e in plan.entries if e.action in (CREATE, UPDATE)]
    conflicts = [e for e in plan.entries if e.action == CONFLICT]
    others = [e for e in plan.entries if e.action in (SKIP, REJECT)]
    parts = [_counts_line(plan)]
    acct = plan.accounts
    if acct:
        parts.append(_account_counts(plan))
    if writes:
        columns = ["row", *(["account"] if acct else []), "key", "action", "customer", "change"]
        parts.append(f"| {' | '.join(columns)} |\n|" + "---|" * len(columns))
        parts[-1] += "".join(_write_rows(e, acct) for e in writes[:limit])
        if len(writes) > limit:
            parts.append(f"_… and {len(writes) - limit} more writes (see the plan table)_")
    if conflicts:
        parts.append(
            "| row | key | customer | conflict: field | Stripe's value (kept) | model's value "
            "(not sent) |\n|---|---|---|---|---|---|"
        )
        parts[-1] += "".join(
            f"\n| {e.row} | {show(e.key)} | {e.stripe_id} | {path} | {show(stripe)} | {show(model)} |"
            for e in conflicts[:limit]
            for path, (stripe, model) in e.changes.items()
        )
        if len(conflicts) > limit:
            parts.append(f"_… and {len(conflicts) - limit} more conflicts (see the plan table)_")
    if others:
        if acct:
            parts.append("| row | account | key | action | reason |\n|---|---|---|---|---|")
        else:
            parts.append("| row | key | action | reason |\n|---|---|---|---|")
        parts[-1] += "".join(
            f"\n| {e.row} |{_account_cell(e, acct)} {show(e.key)} | {e.action} | {cell(e.reason or '')} |"
            for e in others[:limit]
        )
        if len(others) > limit:
            parts.append(f"_… and {len(others) - limit} more skipped or rejected rows_")
    if not writes and not others and not conflicts:
        parts.append("_Stripe already matches the model: nothing to send._")
    return "\n\n".join(parts)


def hash_lines(entry: PlanEntry) -> list[str]:
    """The whole ``address`` / ``shipping`` the write sends (Stripe replaces them whole)."""
    lines = []
    for group in HASHES:
        sent = (entry.payload or {}).get(group)
        if sent is not None:
            lines.append(f"{group} sent whole: {_hash_text(sent)}")
    return lines


def _hash_text(value: Any) -> str:
    if not isinstance(value, dict):
        return f"{EMPTY} (cleared)"
    return ", ".join(
        f"{part} ({_hash_text(v)})" if isinstance(v, dict) else f"{part} {show(v)}"
        for part, v in value.items()
    )


def _account_cell(entry: PlanEntry, shown: bool) -> str:
    return f" {cell(entry.account or EMPTY)} |" if shown else ""


def _account_counts(plan: Plan) -> str:
    """One line per target account: its counts per action."""
    by_account = plan.by_account()
    actions = [a for a in plan.summary.counts if any(s.counts[a] for s in by_account.values())]
    head = "| account | " + " | ".join(actions) + " |\n|---|" + "---|" * len(actions)
    return head + "".join(
        f"\n| {cell(account or EMPTY)} | " + " | ".join(str(s.counts[a]) for a in actions) + " |"
        for account, s in by_account.items()
    )


def _write_rows(entry: PlanEntry, accounts: bool = False) -> str:
    """One table row per field change of a write (then the whole hashes it sends, then its
    reason); the first names the write, the others repeat only its row number."""
    lines = change_lines(entry) + hash_lines(entry)  # values already escaped by show()
    if entry.reason:  # e.g. which of several customers sharing the key is updated
        lines.append(f"_{cell(entry.reason)}_")
    first, *more = lines or [EMPTY]
    head = (
        f"| {entry.row} |{_account_cell(entry, accounts)} {show(entry.key)} | {entry.action} | "
        f"{entry.stripe_id or 'new'} |"
    )
    blank = "| | | |" if accounts else "| | |"
    return f"\n{head} {first} |" + "".join(f"\n| {entry.row} {blank} | {line} |" for line in more)


def _counts_line(plan: Plan) -> str:
    counts = plan.summary.counts
    return " · ".join(f"**{n}** {action}" for action, n in counts.items())

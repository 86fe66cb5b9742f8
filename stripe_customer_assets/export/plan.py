"""The plan: every model row classified before anything is sent.

create     no live customer carries the key (and the behavior creates)
update     the customer differs on mapped fields: the changes (current -> new) and the body
unchanged  Stripe already holds what the model says (or an earlier run already sent it)
skip       update_only with no match, create_only with a match, or a key shared by several
           customers under ``on_duplicate: skip``
reject     the row cannot be sent: null / duplicate / invalid key, a value Stripe refuses
conflict   fields Stripe changed since the sync last wrote them, kept under
           ``on_conflict: keep_stripe``: the changes hold (Stripe's value, the model's);
           never sent. A row can have an update (its other fields) and a conflict.

``build_plan`` is pure (rows in, entries out); ``make_plan`` reads the model and the mirror.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from stripe_customer_assets.export.accounts import Accounts, names_accounts, row_account
from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.conflicts import LastWrite, split_changes
from stripe_customer_assets.export.diff import Changes, changes_for
from stripe_customer_assets.export.payload import (
    PayloadProblem,
    create_fields,
    idempotency_key,
    payload_hash,
    update_payload,
)
from stripe_customer_assets.export.resolve import Match, ModelRow, resolve_rows
from stripe_customer_assets.export.rows import desired_values, key_problems, normalized_key
from stripe_customer_assets.export.state_table import last_pushed
from stripe_customer_assets.warehouse import Warehouse

CREATE, UPDATE, UNCHANGED, SKIP, REJECT = "create", "update", "unchanged", "skip", "reject"
CONFLICT = "conflict"
ACTIONS = (CREATE, UPDATE, UNCHANGED, SKIP, REJECT, CONFLICT)
WRITES = (CREATE, UPDATE)


@dataclass
class PlanEntry:
    row: int
    key: str | None
    action: str
    stripe_id: str | None = None
    reason: str | None = None
    changes: Changes = field(default_factory=dict)
    payload: dict[str, Any] | None = None
    payload_hash: str | None = None
    idempotency_key: str | None = None
    matched_ids: list[str] = field(default_factory=list)
    account: str | None = None  # the target Stripe account (None: a rejected row names none)


@dataclass(frozen=True)
class PlanSummary:
    rows: int
    counts: dict[str, int]
    matched: int  # distinct live customers matched by rows that were not rejected
    updating: int  # distinct customers an update would touch

    @property
    def reject_percent(self) -> float:
        return 100.0 * self.counts.get(REJECT, 0) / self.rows if self.rows else 0.0

    @property
    def change_percent(self) -> float:
        return 100.0 * self.updating / self.matched if self.matched else 0.0

    @property
    def writes(self) -> int:
        return self.counts.get(CREATE, 0) + self.counts.get(UPDATE, 0)


@dataclass
class Plan:
    sync: str
    plan_id: str
    planned_at: dt.datetime
    entries: list[PlanEntry]
    accounts: bool = False  # the sync names each row's target account (the preview shows it)

    @property
    def summary(self) -> PlanSummary:
        return summarize(self.entries)

    def writes(self) -> list[PlanEntry]:
        return [e for e in self.entries if e.action in WRITES]

    def by_account(self) -> dict[str, PlanSummary]:
        """Each target account's summary (rows naming no valid account under '')."""
        groups: dict[str, list[PlanEntry]] = {}
        for e in self.entries:
            groups.setdefault(e.account or "", []).append(e)
        return {a: summarize(groups[a]) for a in sorted(groups)}


def summarize(entries: list[PlanEntry]) -> PlanSummary:
    counts = Counter(e.action for e in entries)
    matched = {i for e in entries if e.action != REJECT for i in e.matched_ids}
    updating = {e.stripe_id for e in entries if e.action == UPDATE}
    return PlanSummary(
        rows=len({e.row for e in entries}),
        counts={a: counts.get(a, 0) for a in ACTIONS},
        matched=len(matched),
        updating=len(updating),
    )


def make_plan(
    warehouse: Warehouse,
    config: ExportConfig,
    mirror_schema: str,
    *,
    sent_keys: set[str] | frozenset[str] = frozenset(),
    plan_id: str | None = None,
    planned_at: dt.datetime | None = None,
    accounts: Accounts | None = None,
) -> Plan:
    """Read the model joined with the mirror and classify every row (no Stripe calls).

    ``planned_at``: the plan's time on Stripe's clock (``age.mirror_stripe_time``: as the
    mirror last read it); its age decides whether it may still be applied (``age``).
    Default: now. ``accounts``: the deployment's account and the accounts a row may name.
    """
    scoped = accounts.scoped if accounts is not None else True
    rows = resolve_rows(warehouse, config, mirror_schema, scoped=scoped)
    pushed = last_pushed(warehouse, config) if "keep_stripe" in config.on_conflict.uses else {}
    return Plan(
        sync=config.name,
        plan_id=plan_id or uuid.uuid4().hex,
        planned_at=planned_at or dt.datetime.now(dt.UTC),
        entries=build_plan(config, rows, sent_keys, pushed, accounts),
        accounts=names_accounts(config),
    )


def build_plan(
    config: ExportConfig,
    rows: list[ModelRow],
    sent_keys: set[str] | frozenset[str] = frozenset(),
    pushed: dict[tuple[str, str, str], LastWrite] | None = None,
    accounts: Accounts | None = None,
) -> list[PlanEntry]:
    """Classify every model row; ``sent_keys``: idempotency keys earlier runs already sent;
    ``pushed``: what the sync last wrote per (account, key, Stripe id), for ``keep_stripe``.
    A key is unique per target account: the same email in two accounts is two customers."""
    accounts = accounts or Accounts()
    targeted: list[tuple[ModelRow, str | None]] = []
    for r in rows:
        account, problem = row_account(config, r.account, r.key, accounts)
        targeted.append((replace(r, account=account), problem))
    rows_by_key: dict[tuple[str | None, str], list[int]] = {}
    for r, problem in targeted:
        if not key_problems(config, r.key) and problem is None:
            rows_by_key.setdefault((r.account, normalized_key(config, r.key or "")), []).append(r.number)
    entries: list[PlanEntry] = []
    for row, account_problem in targeted:
        problems = key_problems(config, row.key)
        if account_problem is not None:
            problems.append(account_problem)
        same_key = [] if problems else rows_by_key[(row.account, normalized_key(config, row.key or ""))]
        if len(same_key) > 1:
            shown = ", ".join(str(n) for n in same_key[:5]) + (", ..." if len(same_key) > 5 else "")
            within = f" for account {row.account!r}" if names_accounts(config) else ""
            problems.append(
                f"key {row.key!r} appears in {len(same_key)} model rows ({shown}){within}; "
                "keys must be unique"
            )
        desired, field_problems = desired_values(config, row.values)
        problems += field_problems
        if problems:
            only = row.matches[0].id if len(row.matches) == 1 else None
            entries.append(_entry(row, REJECT, stripe_id=only, reason="; ".join(problems)))
        else:
            entries.extend(_classify(config, row, desired, sent_keys, pushed or {}))
    return entries


def _entry(row: ModelRow, action: str, **kwargs: Any) -> PlanEntry:
    return PlanEntry(
        row=row.number,
        key=row.key,
        action=action,
        matched_ids=[m.id for m in row.matches],
        account=row.account,
        **kwargs,
    )


def _classify(
    config: ExportConfig,
    row: ModelRow,
    desired: dict[str, Any],
    sent_keys: set[str] | frozenset[str],
    pushed: dict[tuple[str, str, str], LastWrite],
) -> list[PlanEntry]:
    key = row.key or ""
    label = f"{config.key.stripe_field} {key!r}"
    if not row.matches:
        if not config.creates:
            return [
                _entry(row, SKIP, reason=f"no Stripe customer has {label} (behavior: update_only)")
            ]
        return [_create(config, row, desired, sent_keys)]
    if not config.updates:
        ids = ", ".join(m.id for m in row.matches)
        return [
            _entry(
                row,
                SKIP,
                stripe_id=row.matches[0].id,
                reason=f"already in Stripe as {ids} (behavior: create_only)",
            )
        ]
    targets, note = _targets(config, row.matches, label)
    if not targets:
        return [_entry(row, SKIP, reason=note)]
    return [
        entry
        for match in targets
        for entry in _update(
            config, row, desired, match, note, sent_keys, pushed.get((row.account or "", key, match.id))
        )
    ]


def _targets(
    config: ExportConfig, matches: list[Match], label: str
) -> tuple[list[Match], str | None]:
    """Which of the customers sharing a key to update (matches are newest first)."""
    if len(matches) == 1:
        return matches, None
    ids = ", ".join(m.id for m in matches)
    shared = f"{len(matches)} Stripe customers share {label} ({ids})"
    if config.on_duplicate == "update_newest":
        return matches[:1], f"{shared}; on_duplicate: update_newest updates {matches[0].id}"
    if config.on_duplicate == "update_all":
        return matches, f"{shared}; on_duplicate: update_all"
    return [], f"{shared}; on_duplicate: skip"


def _update(
    config: ExportConfig,
    row: ModelRow,
    desired: dict[str, Any],
    match: Match,
    note: str | None,
    sent_keys: set[str] | frozenset[str],
    last: LastWrite | None,
) -> list[PlanEntry]:
    """The update of one matched customer (or unchanged), then its conflicts if any."""
    changes, conflicts, kept = split_changes(
        config, changes_for(desired, match.customer), last, match.synced_at
    )
    held = [
        _entry(
            row,
            CONFLICT,
            stripe_id=match.id,
            reason="changed in Stripe since the sync last wrote it; Stripe's value is kept "
            "(on_conflict: keep_stripe)",
            changes=conflicts,
        )
    ] if conflicts else []
    if not changes:
        if held:
            return held
        why = note if not kept else "; ".join(
            filter(None, [note, f"Stripe already holds {', '.join(kept)} (on_conflict: fill_if_empty)"])
        )
        return [_entry(row, UNCHANGED, stripe_id=match.id, reason=why)]
    # Fields left to Stripe are not asked for: a hash sent whole carries Stripe's parts.
    wanted = {p: v for p, v in desired.items() if p not in conflicts and p not in kept}
    return [_write(config, row, wanted, changes, match, note, sent_keys), *held]


def _write(
    config: ExportConfig,
    row: ModelRow,
    desired: dict[str, Any],
    changes: Changes,
    match: Match,
    note: str | None,
    sent_keys: set[str] | frozenset[str],
) -> PlanEntry:
    try:
        payload = update_payload(desired, changes, match.customer)
    except PayloadProblem as problem:
        return _entry(row, REJECT, stripe_id=match.id, reason=str(problem), changes=changes)
    digest = payload_hash(payload)
    ikey = idempotency_key(
        config.name, UPDATE, row.key or "", digest, f"{match.id}@{match.version}", _scope(config, row)
    )
    if ikey in sent_keys:
        return _entry(
            row,
            UNCHANGED,
            stripe_id=match.id,
            reason="sent by an earlier run; the mirror has not seen Stripe's echo yet",
        )
    return _entry(
        row,
        UPDATE,
        stripe_id=match.id,
        reason=note,
        changes=changes,
        payload=payload,
        payload_hash=digest,
        idempotency_key=ikey,
    )


def _create(
    config: ExportConfig,
    row: ModelRow,
    desired: dict[str, Any],
    sent_keys: set[str] | frozenset[str],
) -> PlanEntry:
    fields = create_fields(desired, config, row.key or "")
    changes = changes_for(fields, None)
    try:
        payload = update_payload(fields, changes, None)
    except PayloadProblem as problem:
        return _entry(row, REJECT, reason=str(problem), changes=changes)
    digest = payload_hash(payload)
    ikey = idempotency_key(
        config.name, CREATE, row.key or "", digest, ",".join(sorted(row.deleted_ids)), _scope(config, row)
    )
    if ikey in sent_keys:
        return _entry(
            row, UNCHANGED, reason="created by an earlier run; the mirror has not seen it yet"
        )
    return _entry(
        row, CREATE, changes=changes, payload=payload, payload_hash=digest, idempotency_key=ikey
    )


def _scope(config: ExportConfig, row: ModelRow) -> str | None:
    """The account in an idempotency key: only for a sync that names accounts."""
    return row.account if names_accounts(config) else None

"""The state after a run: exactly the plan's keys, each with its outcome.

Writes keep the rows their results were recorded in (found by idempotency key, so a write
an earlier, interrupted run already made is kept as it was). Other entries get their
status and reason, and keep what was last pushed to that customer. Rows are keyed by
(account, key, Stripe id): the same key in two accounts is two rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stripe_customer_assets.export.plan import CONFLICT, REJECT, SKIP, UNCHANGED, WRITES, Plan

STATUS = {UNCHANGED: "unchanged", SKIP: "skipped", REJECT: "rejected", CONFLICT: "conflict"}
_CARRIED = ("last_write", "payload_hash", "idempotency_key", "written_at", "pushed_values")


def final_state(
    plan: Plan, previous: list[dict[str, Any]], now: dt.datetime
) -> list[dict[str, Any]]:
    by_target = {(r["account"], r["key"], r["stripe_id"]): r for r in previous}
    by_write: dict[str, list[dict[str, Any]]] = {}
    created_by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in previous:
        if r.get("idempotency_key"):
            by_write.setdefault(r["idempotency_key"], []).append(r)
        if r.get("last_write") == "created":
            created_by_key.setdefault((r["account"], r["key"]), []).append(r)
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in plan.entries:
        if e.key is None:
            continue  # a NULL key has no state row; the plan table reports it
        account = e.account or ""
        if e.action in WRITES and by_write.get(e.idempotency_key or ""):
            for r in by_write[e.idempotency_key or ""]:
                out[(r["account"], r["key"], r["stripe_id"])] = r
            continue
        if e.action == UNCHANGED and not e.stripe_id and created_by_key.get((account, e.key)):
            # created earlier; the mirror has not seen it yet
            for r in created_by_key[(account, e.key)]:
                out[(r["account"], r["key"], r["stripe_id"])] = {
                    **r,
                    "status": "unchanged",
                    "reason": e.reason,
                    "plan_id": plan.plan_id,
                    "updated_at": now,
                }
            continue
        target = e.stripe_id or ""
        if e.action == CONFLICT and (account, e.key, target) in out:
            continue  # the same customer's update (its other fields) holds the outcome
        prev = by_target.get((account, e.key, target), {})
        out[(account, e.key, target)] = {
            "account": account,
            "key": e.key,
            "stripe_id": target,
            "status": STATUS.get(e.action, "pending"),
            "reason": e.reason,
            "changed_fields": None,
            **{c: prev.get(c) for c in _CARRIED},
            "plan_id": plan.plan_id,
            "updated_at": now,
        }
    return list(out.values())

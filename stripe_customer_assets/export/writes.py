"""Sending the plan's writes: one POST each, concurrent, creates and updates interleaved.

Every request goes through ``StripeApi.request`` (shared rate limiter, retries with backoff)
with the entry's deterministic idempotency key. A row Stripe refuses (4xx) becomes a
``failed`` result carrying Stripe's message and the others go on; a refused key or
permission (401 / 403) stops the sending: no new request starts, the ones in flight finish
and are recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from stripe_customer_assets.export.plan import CREATE, PlanEntry
from stripe_customer_assets.export.replayed import (
    MAX_RESENDS,
    find_created,
    resend_key,
    update_applied,
)
from stripe_customer_assets.stripe_api import (
    StripeAccessError,
    StripeApi,
    StripeReplayedError,
    StripeRequestError,
)


@dataclass(frozen=True)
class WriteResult:
    entry: PlanEntry
    status: str  # created, updated or failed
    stripe_id: str  # '' when a create failed
    error: str | None
    at: dt.datetime
    fatal: bool = False  # Stripe refused the key or a permission: stop everything
    note: str | None = None  # how a write answered with a replayed failure was settled
    replayed: int = 0  # answers Stripe replayed from a saved failure
    request_id: str | None = None  # Stripe's Request-Id of the last request sent

    def state_row(self, plan_id: str) -> dict[str, Any]:
        return {
            "account": self.entry.account or "",
            "key": self.entry.key,
            "stripe_id": self.stripe_id,
            "status": self.status,
            "reason": self.error or self.note,
            "changed_fields": ", ".join(self.entry.changes) or None,
            "last_write": self.status,
            "payload_hash": self.entry.payload_hash,
            "idempotency_key": self.entry.idempotency_key,
            "written_at": self.at,
            "plan_id": plan_id,
            "updated_at": self.at,
        }


def write_one(api: StripeApi, entry: PlanEntry) -> WriteResult:
    """Send one write; a failure Stripe replays from its idempotency key is settled by
    finding out whether the write happened (``replayed``), and re-sent under a new
    deterministic key when it did not."""
    creating = entry.action == CREATE
    path = "/v1/customers" if creating else f"/v1/customers/{entry.stripe_id}"
    target = "" if creating else entry.stripe_id or ""
    status = "created" if creating else "updated"
    payload = entry.payload or {}
    plan_key = entry.idempotency_key or ""
    replays = 0
    last: StripeReplayedError | None = None
    for attempt in range(MAX_RESENDS + 1):
        try:
            reply = api.fetch("post", path, payload, idempotency_key=resend_key(plan_key, attempt))
        except StripeAccessError as err:
            return WriteResult(entry, "failed", target, str(err), _now(), fatal=True)
        except StripeReplayedError as err:
            replays += 1
            try:
                found = (
                    find_created(api, plan_key, payload)
                    if creating
                    else (target if update_applied(api, target, payload) else None)
                )
            except StripeAccessError as access:
                return WriteResult(entry, "failed", target, str(access), _now(), fatal=True)
            except StripeRequestError as lookup:
                return WriteResult(
                    entry,
                    "failed",
                    target,
                    f"{err}; looking it up failed: {lookup}",
                    _now(),
                    replayed=replays,
                )
            if found is not None:
                note = (
                    f"Stripe replayed a saved {err.status} for key {err.idempotency_key}; "
                    f"the write had happened ({found})"
                )
                return WriteResult(entry, status, found, None, _now(), note=note, replayed=replays)
            last = err
            continue
        except StripeRequestError as err:
            return WriteResult(
                entry, "failed", target, str(err), _now(), replayed=replays, request_id=err.request_id
            )
        stripe_id = str(reply.data.get("id") or target)
        note = None
        if attempt:
            note = f"sent again under {resend_key(plan_key, attempt)}: the earlier attempt did not happen"
        return WriteResult(
            entry, status, stripe_id, None, _now(), note=note, replayed=replays, request_id=reply.request_id
        )
    message = (
        f"{last}; it did not happen, and {MAX_RESENDS} re-sends under new keys were answered "
        "the same way: the next run tries again"
    )
    return WriteResult(entry, "failed", target, message, _now(), replayed=replays)


def interleave(entries: list[PlanEntry]) -> list[PlanEntry]:
    """Creates and updates mixed evenly, so neither endpoint's rate budget idles."""
    creates = [e for e in entries if e.action == CREATE]
    updates = [e for e in entries if e.action != CREATE]
    ranked = [((i + 0.5) / len(creates), 0, i, e) for i, e in enumerate(creates)]
    ranked += [((i + 0.5) / len(updates), 1, i, e) for i, e in enumerate(updates)]
    return [e for *_, e in sorted(ranked, key=lambda t: t[:3])]


def send_writes(
    api: StripeApi,
    entries: Iterable[PlanEntry],
    *,
    concurrency: int,
    on_result: Callable[[WriteResult], None],
    write: Callable[[StripeApi, PlanEntry], WriteResult] = write_one,
) -> WriteResult | None:
    """Send every entry; ``on_result`` sees each result in this thread.

    Returns the fatal result that stopped the sending, or None when all were sent.
    At most ``2 * concurrency`` requests are queued at any time.
    """
    todo: Iterator[PlanEntry] = iter(entries)
    fatal: WriteResult | None = None
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="export") as pool:
        pending: set[Future[WriteResult]] = set()
        while True:
            while fatal is None and len(pending) < 2 * max(1, concurrency):
                entry = next(todo, None)
                if entry is None:
                    break
                pending.add(pool.submit(write, api, entry))
            if not pending:
                return fatal
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                on_result(result)
                if result.fatal and fatal is None:
                    fatal = result


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

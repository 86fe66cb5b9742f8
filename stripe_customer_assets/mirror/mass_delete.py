"""A full scan that would mark a large share of the mirror deleted stops and asks.

A full scan marks every mirrored customer that Stripe no longer lists as deleted (the
anti-join). That is right when customers were deleted while no event said so (expired from
Stripe's 30-day event retention), and wrong in every case where Stripe's lists are not the
mirror's data: a key of another account or mode (``identity.py`` stops those it can tell), a
Stripe-like endpoint or outage answering empty lists, a filter bug. Marking deleted empties
every import pipeline's table downstream and makes the next export create duplicates, so a
large share is a question, not an answer: the commit stops before writing anything, the
run fails with the counts, and going on takes ``full_refresh: true`` with
``confirm_mass_delete: true``.

"Large": more than ``max_delete_percent`` (default 20%) of the account's live customers AND more than
``floor`` (default 10) customers. The floor keeps small mirrors usable: a 3-customer test
account losing 1 customer (33%) is not questioned; a 500-customer mirror is questioned from
101 deletes on.

The incremental path is not guarded: it marks a customer deleted only for a
``customer.deleted`` event, which Stripe sends when someone deleted that customer. A burst
of them is real (a cleanup script, a Dashboard bulk delete) and stopping it would leave
deleted customers live in the mirror and in every pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_customer_assets.mirror.store import count_missing
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT
from stripe_customer_assets.warehouse import Warehouse

DEFAULT_MAX_DELETE_PERCENT = 20.0
DEFAULT_DELETE_FLOOR = 10


class MassDeleteRefused(RuntimeError):
    """A full scan would mark too many customers deleted without a confirmation."""


@dataclass(frozen=True)
class DeleteGuard:
    """How many deletes a full scan may commit unasked."""

    max_delete_percent: float = DEFAULT_MAX_DELETE_PERCENT
    floor: int = DEFAULT_DELETE_FLOOR
    confirm: bool = False  # confirm_mass_delete: counts only with full_refresh


def judge(
    missing: int, live: int, guard: DeleteGuard, *, full_refresh: bool, schema: str, account: str = DEFAULT_ACCOUNT
) -> str | None:
    """The refusal message when ``missing`` of ``live`` customers are too many, else None."""
    if missing <= guard.floor or missing * 100 <= guard.max_delete_percent * live:
        return None
    if guard.confirm and full_refresh:
        return None
    share = 100.0 * missing / live if live else 100.0
    config = '{"ops": {"stripe__customers": {"config": {"full_refresh": true, "confirm_mass_delete": true}}}}'
    asked = (
        " (confirm_mass_delete was set, but a mass delete is confirmed only together with "
        "full_refresh: true)"
        if guard.confirm
        else ""
    )
    whose = "" if account == DEFAULT_ACCOUNT else f" for the account '{account}'"
    return (
        f"The full scan of the Stripe mirror in schema '{schema}'{whose} would mark {missing} of its "
        f"{live} live customers deleted ({share:.1f}%), because Stripe no longer lists them; that "
        f"is more than max_delete_percent ({guard.max_delete_percent:g}%) and more than "
        f"{guard.floor} customers. Nothing was committed: the mirror, its cursor and the "
        "pipeline tables are as they were. Check STRIPE_API_KEY first: a key of another Stripe "
        "account or mode (live instead of test) lists other customers, and a Stripe outage or "
        "a Stripe-like endpoint may answer empty lists. If these customers really were deleted, "
        "run the mirror once with a full refresh and the confirmation, e.g. "
        f"`dg launch --assets stripe/customers --config-json '{config}'`{asked}."
    )


def guard_full_scan(
    warehouse: Warehouse,
    schema: str,
    scan: str,
    guard: DeleteGuard,
    *,
    full_refresh: bool,
    keep_test_clocks: bool = False,
    account: str = DEFAULT_ACCOUNT,
) -> None:
    """Before a full scan's commit: raise ``MassDeleteRefused`` when the anti-join against
    ``scan`` would mark too many live customers deleted.

    Runs under the refresh's lock (no other refresh writes the mirror meanwhile). A refused
    scan drops its working table too, so the mirror's schema is exactly as it was.
    """
    with warehouse.begin() as conn:
        live, missing = count_missing(conn, schema, scan, keep_test_clocks=keep_test_clocks, account=account)
        message = judge(missing, live, guard, full_refresh=full_refresh, schema=schema, account=account)
        if message is not None:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {scan}")
    if message is not None:
        raise MassDeleteRefused(message)

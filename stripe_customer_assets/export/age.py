"""A stored plan has an age: past Stripe's idempotency window it is never applied.

A plan's writes carry deterministic idempotency keys, and a write sent before a crash is
safe to send again only while Stripe still holds its key: Stripe keeps keys for 24 hours
(https://docs.stripe.com/api/idempotent_requests). After that a re-sent create creates
again. A plan's writes are all sent after the plan was made, so a plan younger than the
window has keys younger than the window too. ``MAX_PLAN_AGE`` (23 h) keeps an hour of
margin for a long apply and for the time between a write and the plan; an apply checks the
age before it starts and before each write, on Stripe's clock (the ``Date`` of its answers),
never this machine's.

The plan itself needs no Stripe call: its time (``mirror_stripe_time``) is Stripe's clock as
the mirror it is planned from last read it, the mirror's events watermark. The watermark is
at most ``STRIPE_EVENTS_OVERLAP_SECONDS`` behind Stripe's clock at that refresh and never
ahead of it, so a plan's age is never underestimated: a plan made from a mirror refreshed
long before counts as old as the mirror (``<sync>_job`` refreshes the mirror first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.errors import (
    ExportAccessError,
    ExportError,
    ExportPlanAgeError,
)
from stripe_customer_assets.export.plan import Plan, PlanEntry
from stripe_customer_assets.mirror.cursor import read_cursor
from stripe_customer_assets.mirror.migrate import lacks_account
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT, cursor_table
from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi, StripeRequestError
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.ddl import table_exists

STRIPE_KEY_WINDOW = dt.timedelta(hours=24)
MAX_PLAN_AGE = dt.timedelta(hours=23)


def stripe_now(api: StripeApi) -> dt.datetime:
    """Stripe's clock; one cheap read when this client has not heard from Stripe yet."""
    if not api.knows_stripe_time:
        api.fetch("get", "/v1/customers", {"limit": 1})
    return api.now()


def mirror_stripe_time(
    warehouse: Warehouse, mirror_schema: str, config: ExportConfig, account: str = DEFAULT_ACCOUNT
) -> dt.datetime:
    """Stripe's clock at the last refresh of ``account``'s mirror (a lower bound), read from
    the warehouse (a cursor table made before accounts: its one cursor)."""
    with warehouse.begin() as conn:
        table = cursor_table(mirror_schema)
        cursor = (
            read_cursor(conn, mirror_schema, None if lacks_account(conn, table) else account)
            if table_exists(conn, table)
            else None
        )
    if cursor is None or cursor.event_created is None:
        raise ExportError(
            f"sync '{config.name}': the Stripe mirror in schema '{mirror_schema}' has never been "
            "refreshed, so nothing is known of Stripe's customers to plan against; nothing was "
            f"planned. Run {config.name}_job (it refreshes the mirror first) or materialize "
            "stripe/customers"
        )
    return cursor.event_created


def plan_age(api: StripeApi, plan: Plan) -> dt.timedelta:
    return stripe_now(api) - plan.planned_at


def age_problem(config: ExportConfig, plan: Plan, age: dt.timedelta) -> str | None:
    """Why ``plan`` may not be applied at ``age``, or None."""
    if age <= MAX_PLAN_AGE:
        return None
    hours = age.total_seconds() / 3600
    return (
        f"sync '{config.name}': the stored plan {plan.plan_id} was made at "
        f"{plan.planned_at:%Y-%m-%d %H:%M:%S} UTC, {hours:.1f} h ago on Stripe's clock; a plan "
        f"older than {MAX_PLAN_AGE.total_seconds() / 3600:g} h is never applied, because "
        f"Stripe forgets idempotency keys after {STRIPE_KEY_WINDOW.total_seconds() / 3600:g} h "
        "and a create sent again would create again. Nothing was sent for it: plan again "
        f"from a fresh mirror (run {config.name}_job, which refreshes it first, or materialize "
        f"stripe/customers and then materialize {config.name}_plan) and the fresh plan finds "
        "what the earlier writes did"
    )


def check_plan_age(config: ExportConfig, api: StripeApi, plan: Plan) -> None:
    try:
        age = plan_age(api, plan)
    except StripeAccessError as err:
        raise ExportAccessError(f"sync '{config.name}' sent nothing: {err}") from None
    except StripeRequestError as err:
        raise ExportError(
            f"sync '{config.name}' sent nothing: reading Stripe's clock (to check the plan's "
            f"age) failed: {err}"
        ) from None
    problem = age_problem(config, plan, age)
    if problem:
        raise ExportPlanAgeError(problem)


def while_fresh(
    entries: Iterable[PlanEntry], api: StripeApi, plan: Plan, expired: list[bool]
) -> Iterator[PlanEntry]:
    """The entries, stopping (``expired[0] = True``) once the plan passes its age limit."""
    for entry in entries:
        if api.now() - plan.planned_at > MAX_PLAN_AGE:
            expired[0] = True
            return
        yield entry

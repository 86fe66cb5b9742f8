"""The Stripe customer mirror asset ``stripe/customers``.

It refreshes when a reader needs it (``lib/automation.py``) or the change sensor asks; its
freshness is Dagster's own (``FreshnessPolicy``: stale past 24 hours without a refresh, well
inside Stripe's 30-day event retention), judged by Dagster's freshness daemon.
"""

import datetime as dt

import dagster as dg
from pydantic import Field

from stripe_customer_assets.lib.automation import mirror_condition
from stripe_customer_assets.lib.keys import MIRROR_GROUP, MIRROR_KEY, stripe_pool, warehouse_kind
from stripe_customer_assets.lib.metadata import mirror_metadata, preview_rows
from stripe_customer_assets.mirror.identity import MirrorIdentityError
from stripe_customer_assets.mirror.mass_delete import (
    DEFAULT_DELETE_FLOOR,
    DEFAULT_MAX_DELETE_PERCENT,
    DeleteGuard,
    MassDeleteRefused,
)
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.table import customers_table
from stripe_customer_assets.resources import StripeResource, WarehouseResource
from stripe_customer_assets.stripe_api import ApiStats


class MirrorConfig(dg.Config):
    full_refresh: bool = False
    confirm_mass_delete: bool = Field(
        default=False,
        description="With full_refresh: commit a full scan that marks more than "
        "max_delete_percent of the live customers deleted (otherwise the run stops and asks).",
    )
    max_delete_percent: float = Field(
        default=DEFAULT_MAX_DELETE_PERCENT,
        description="A full scan marking more than this share of live customers deleted stops.",
    )
    mass_delete_floor: int = Field(
        default=DEFAULT_DELETE_FLOOR,
        description="Up to this many deletes are never questioned (small mirrors stay usable).",
    )


# Bump with the mirror's tables or what a refresh writes into them (``mirror/table.py``).
MIRROR_CODE_VERSION = "1"
FRESHNESS_HOURS = 24


@dg.asset(
    key=MIRROR_KEY,
    code_version=MIRROR_CODE_VERSION,
    automation_condition=mirror_condition(),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=FRESHNESS_HOURS)),
    group_name=MIRROR_GROUP,
    kinds={"stripe", warehouse_kind()},
    pool=stripe_pool(),
    description=(
        "Every Stripe customer of the account, one row each (deleted ones kept and flagged), "
        "with the raw JSON. Full scan on the first run or `full_refresh`; otherwise the "
        "customer events since the cursor."
    ),
)
def stripe_customers(
    context: dg.AssetExecutionContext,
    config: MirrorConfig,
    stripe: StripeResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    api = stripe.api(ApiStats())
    wh = warehouse.warehouse()
    schema = warehouse.mirror_schema
    guard = DeleteGuard(config.max_delete_percent, config.mass_delete_floor, config.confirm_mass_delete)
    try:
        result = refresh_mirror(
            api,
            wh,
            schema,
            full_refresh=config.full_refresh,
            concurrency=stripe.max_concurrency,
            delete_guard=guard,
        )
    except (MirrorIdentityError, MassDeleteRefused) as err:
        raise dg.Failure(description=str(err)) from err
    context.log.info(
        f"{result.mode} refresh ({result.reason}): +{result.inserted} ~{result.updated} "
        f"-{result.deleted} in {result.api_calls} Stripe calls, {result.duration_s:.1f}s"
    )
    if result.test_clocks is not None and result.test_clocks.problem:
        context.log.warning(result.test_clocks.problem)
    with wh.begin() as conn:
        sample = conn.exec_driver_sql(
            f"SELECT id, email, name, currency, created, deleted FROM {customers_table(schema)} "
            "ORDER BY synced_at DESC, id LIMIT 10"
        )
        shown = preview_rows(list(sample.keys()), sample.fetchall())
    return dg.MaterializeResult(metadata={**mirror_metadata(result, schema), "preview": shown})


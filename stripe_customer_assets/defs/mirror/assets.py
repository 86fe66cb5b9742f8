"""The Stripe customer mirror asset ``stripe/customers`` and its checks."""


import datetime as dt

import dagster as dg
from pydantic import Field

from stripe_customer_assets.lib.keys import MIRROR_GROUP, MIRROR_KEY, stripe_pool, warehouse_kind
from stripe_customer_assets.lib.metadata import mirror_metadata, preview_rows
from stripe_customer_assets.mirror.cursor import read_cursor
from stripe_customer_assets.mirror.identity import MirrorIdentityError
from stripe_customer_assets.mirror.mass_delete import (
    DEFAULT_DELETE_FLOOR,
    DEFAULT_MAX_DELETE_PERCENT,
    DeleteGuard,
    MassDeleteRefused,
)
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.table import customers_table, ensure_tables
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


@dg.asset(
    key=MIRROR_KEY,
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


@dg.asset_check(asset=MIRROR_KEY, description="Every Stripe customer id appears once in the mirror.")
def mirror_ids_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.warehouse()
    table = customers_table(warehouse.mirror_schema)
    with wh.begin() as conn:
        ensure_tables(conn, warehouse.mirror_schema)
        total, distinct, null_ids = conn.exec_driver_sql(
            f"SELECT COUNT(*), COUNT(DISTINCT id), SUM(CASE WHEN id IS NULL THEN 1 ELSE 0 END) FROM {table}"
        ).one()
    duplicates = int(total) - int(distinct)
    return dg.AssetCheckResult(
        passed=duplicates == 0 and not null_ids,
        metadata={"rows": int(total), "duplicate_ids": duplicates, "null_ids": int(null_ids or 0)},
    )


FRESHNESS_HOURS = 24


@dg.asset_check(
    asset=MIRROR_KEY,
    description=f"The mirror's cursor moved within the last {FRESHNESS_HOURS} hours, "
    "well inside Stripe's 30-day event retention.",
)
def mirror_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.warehouse()
    with wh.begin() as conn:
        ensure_tables(conn, warehouse.mirror_schema)
        cursor = read_cursor(conn, warehouse.mirror_schema)
    if cursor is None or cursor.updated_at is None:
        return dg.AssetCheckResult(passed=False, description="The mirror has never been refreshed.")
    age = dt.datetime.now(dt.UTC) - cursor.updated_at
    hours = age.total_seconds() / 3600
    return dg.AssetCheckResult(
        passed=hours <= FRESHNESS_HOURS,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "hours_since_refresh": round(hours, 2),
            "cursor_event_id": cursor.event_id or "",
            "last_mode": cursor.mode or "",
        },
    )

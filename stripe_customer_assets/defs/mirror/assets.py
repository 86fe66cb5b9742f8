"""The Stripe customer mirror asset ``stripe/customers``.

It refreshes when a reader needs it (``lib/automation.py``) or the change sensor asks; its
freshness is Dagster's own (``FreshnessPolicy``: stale past 24 hours without a refresh, well
inside Stripe's 30-day event retention), judged by Dagster's freshness daemon.

With an accounts file (``STRIPE_ACCOUNTS_FILE``) it is partitioned by account key (dynamic
partitions ``stripe_accounts``, kept by the sweep sensor ``stripe_accounts_sweep``): a run
covers one or more accounts (a range; a backfill is split into runs of at most
``STRIPE_MIRROR_ACCOUNTS_PER_RUN`` accounts by its ``BackfillPolicy``) and refreshes them on
threads, each in its own account's rate budget; every account refreshed gets its own
materialization with its counts, API calls and cursor. All of its runs share the pool
``stripe_accounts`` (see ``defs/mirror/accounts.py``). Without an accounts file it is the
single account's unpartitioned mirror, as it always was, in the pool ``stripe_<account>``.
"""

import datetime as dt
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
from pydantic import Field

from stripe_customer_assets.accounts.config import ACCOUNTS_FILE_ENV
from stripe_customer_assets.lib.automation import mirror_condition
from stripe_customer_assets.lib.keys import (
    ACCOUNTS_PARTITIONS,
    ACCOUNTS_POOL,
    MIRROR_GROUP,
    MIRROR_KEY,
    stripe_pool,
    warehouse_kind,
)
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


# Accounts a run of the partitioned mirror covers at most (a backfill becomes several runs).
ACCOUNTS_PER_RUN_ENV = "STRIPE_MIRROR_ACCOUNTS_PER_RUN"
DEFAULT_ACCOUNTS_PER_RUN = 25
# Accounts one run refreshes at once (threads; each account's calls wait in its own budget).
ACCOUNT_THREADS = 8


def accounts_per_run() -> int:
    from stripe_customer_assets.values import env_whole_number

    return max(1, env_whole_number(ACCOUNTS_PER_RUN_ENV, DEFAULT_ACCOUNTS_PER_RUN, "accounts", "accounts one mirror run refreshes"))


def multi_account_deployment() -> bool:
    """Whether this deployment has an accounts file (the mirror is then partitioned)."""
    return bool((os.environ.get(ACCOUNTS_FILE_ENV) or "").strip())


def _refresh(stripe, wh, schema, config: MirrorConfig, account: str | None, concurrency: int):
    api = stripe.api(ApiStats(), account=account)
    guard = DeleteGuard(config.max_delete_percent, config.mass_delete_floor, config.confirm_mass_delete)
    try:
        return refresh_mirror(
            api,
            wh,
            schema,
            full_refresh=config.full_refresh,
            concurrency=concurrency,
            delete_guard=guard,
            # A single-account deployment's rows are its account's (STRIPE_ACCOUNT_NAME), the
            # key its exports use too.
            account=account if account is not None else stripe.account,
        )
    except (MirrorIdentityError, MassDeleteRefused) as err:
        raise dg.Failure(description=f"account {account}: {err}" if account else str(err)) from err


def _summary(result) -> str:
    return (
        f"{result.mode} refresh ({result.reason}): +{result.inserted} ~{result.updated} "
        f"-{result.deleted} in {result.api_calls} Stripe calls, {result.duration_s:.1f}s"
    )


def build_mirror_asset(partitioned: bool) -> dg.AssetsDefinition:
    """The mirror asset: unpartitioned (one account) or partitioned by account key."""
    common = {
        "key": MIRROR_KEY,
        "code_version": MIRROR_CODE_VERSION,
        "automation_condition": mirror_condition(),
        "freshness_policy": dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=FRESHNESS_HOURS)),
        "group_name": MIRROR_GROUP,
        "kinds": {"stripe", warehouse_kind()},
    }
    if not partitioned:
        return _single_account_asset(common)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy: beta in 1.13
        decorator = dg.asset(
            **common,
            partitions_def=ACCOUNTS_PARTITIONS,
            backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=accounts_per_run()),
            pool=ACCOUNTS_POOL,
            output_required=False,
            description=(
                "Every Stripe customer of each account (one partition per account key: a plain "
                "account's name or a connected acct_ id), one row each (deleted ones kept and "
                "flagged), with the raw JSON. Full scan on an account's first run or "
                "`full_refresh`; otherwise its customer events since its cursor."
            ),
        )

    @decorator
    def stripe_customers(
        context: dg.AssetExecutionContext,
        config: MirrorConfig,
        stripe: StripeResource,
        warehouse: WarehouseResource,
    ):
        keys = list(context.partition_keys)
        wh = warehouse.warehouse()
        schema = warehouse.mirror_schema
        threads = max(1, min(ACCOUNT_THREADS, len(keys)))
        per_account = max(2, stripe.max_concurrency // threads)

        def one(key: str):
            try:
                return key, _refresh(stripe, wh, schema, config, key, per_account), None
            except Exception as err:  # noqa: BLE001 - one account's failure must not hide the others'
                return key, None, err

        failed: list[str] = []
        with ThreadPoolExecutor(threads, thread_name_prefix="mirror-account") as pool:
            for key, result, err in pool.map(one, keys):
                if err is not None:
                    failed.append(f"{key}: {err}")
                    context.log.error(f"account {key}: {err}")
                    continue
                context.log.info(f"account {key}: {_summary(result)}")
                if result.test_clocks is not None and result.test_clocks.problem:
                    context.log.warning(f"account {key}: {result.test_clocks.problem}")
                # One materialization per account refreshed (the step has no output of its own:
                # an account that failed gets none).
                yield dg.AssetMaterialization(
                    asset_key=MIRROR_KEY,
                    partition=key,
                    metadata={**mirror_metadata(result, schema), "account": key},
                )
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} of {len(keys)} accounts failed (the others were refreshed):\n"
                + "\n".join(failed)
            )

    return stripe_customers


def _single_account_asset(common: dict) -> dg.AssetsDefinition:
    @dg.asset(
        **common,
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
        wh = warehouse.warehouse()
        schema = warehouse.mirror_schema
        result = _refresh(stripe, wh, schema, config, None, stripe.max_concurrency)
        context.log.info(_summary(result))
        if result.test_clocks is not None and result.test_clocks.problem:
            context.log.warning(result.test_clocks.problem)
        with wh.begin() as conn:
            sample = conn.exec_driver_sql(
                f"SELECT id, email, name, currency, created, deleted FROM {customers_table(schema)} "
                "ORDER BY synced_at DESC, id LIMIT 10"
            )
            shown = preview_rows(list(sample.keys()), sample.fetchall())
        return dg.MaterializeResult(metadata={**mirror_metadata(result, schema), "preview": shown})

    return stripe_customers


stripe_customers = build_mirror_asset(multi_account_deployment())

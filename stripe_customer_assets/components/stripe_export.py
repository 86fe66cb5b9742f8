"""``StripeCustomerExport``: one export sync (a warehouse model -> Stripe customers) from YAML.

    <sync>_plan   the preview: reads the model, resolves keys against the mirror (the
                  warehouse only, no Stripe call) and stores the plan; blocking checks
                  reject_rate and change_rate. Materializing it alone changes nothing in Stripe.
    <sync>        the exported customer state: applies the stored plan, one write per row,
                  only in a run that asked for this sync (``write_gate``); any other run
                  skips it.

plus ``<sync>_job`` (mirror, plan, sync) and the automation conditions of ``schedule`` and
``deps`` (``lib/automation.py``; none when ``enabled: false``). The work is done by
``stripe_customer_assets.export``.
"""

import time
from collections.abc import Callable

import dagster as dg

from stripe_customer_assets.export import (
    ExportConfig,
    ExportError,
    apply_plan,
    guard_results,
    load_plan,
    make_plan,
    markdown_preview,
    plan_table,
    sent_keys,
    state_table,
    store_plan,
)
from stripe_customer_assets.export.accounts import (
    accounts_file,
    deployment_accounts,
    names_accounts,
    oldest_refresh,
    require_targets,
    single_account,
)
from stripe_customer_assets.export.age import mirror_stripe_time
from stripe_customer_assets.export.data_set import check_data_set
from stripe_customer_assets.export.history import history_table
from stripe_customer_assets.export.report import (
    apply_figures,
    failed_writes_message,
    failures_markdown,
    links_markdown,
    plan_figures,
)
from stripe_customer_assets.lib.alert_check import alert_check_results, alert_check_specs
from stripe_customer_assets.lib.automation import (
    export_code_version,
    plan_automated,
    plan_condition,
    sync_condition,
)
from stripe_customer_assets.lib.keys import (
    ENABLED_TAG,
    EXPORT_GROUP,
    MIRROR_KEY,
    ROLE_TAG,
    stripe_pool,
    warehouse_kind,
)
from stripe_customer_assets.lib.write_gate import example_refusal, write_refusal
from stripe_customer_assets.lib.yaml_model import YamlModelComponent
from stripe_customer_assets.mirror.identity import MirrorIdentityError, check_identity
from stripe_customer_assets.resources import StripeResource, WarehouseResource
from stripe_customer_assets.stripe_api import ApiStats, StripeAccessError, StripeApi

CHECKS = {"max_reject_percent": "reject_rate", "max_change_percent": "change_rate"}


class StripeCustomerExport(YamlModelComponent, ExportConfig):
    """Keep Stripe customers equal to a SQL model on the mapped fields, sending only what differs.

    Its attributes are ``ExportConfig`` (``stripe_customer_assets.export.config``); string
    values may use templates such as ``{{ env.EXPORT_CRON }}``.
    """

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return export_defs(self, example=self.example)


def export_defs(config: ExportConfig, *, example: bool = False) -> dg.Definitions:
    """The sync's assets and job (``example``: writes only to the stand-in).

    ``<sync>_job`` runs the mirror, the plan and the sync: the mirror first, so the plan reads
    a fresh mirror. Automation (``lib/automation.py``) runs them together too.
    """
    plan_asset, sync_asset = build_plan_asset(config), build_sync_asset(config, example=example)
    job = dg.define_asset_job(
        f"{config.name}_job",
        selection=dg.AssetSelection.assets(MIRROR_KEY, plan_asset.key, sync_key(config)),
        description=f"Refresh the Stripe mirror, then plan, check and apply the export sync '{config.name}'.",
    )
    return dg.Definitions(assets=[plan_asset, sync_asset], jobs=[job])


def plan_key(config: ExportConfig) -> dg.AssetKey:
    return dg.AssetKey([f"{config.name}_plan"])


def sync_key(config: ExportConfig) -> dg.AssetKey:
    return dg.AssetKey([config.name])


def _tags(config: ExportConfig) -> dict[str, str]:
    return {ROLE_TAG: "export", ENABLED_TAG: str(config.enabled).lower()}


def _refuse_if_disabled(config: ExportConfig) -> None:
    if not config.enabled:
        raise dg.Failure(
            description=f"The export sync '{config.name}' is disabled (enabled: false in its "
            "defs.yaml): nothing was planned or sent. Set enabled: true to run it."
        )


def build_plan_asset(config: ExportConfig) -> dg.AssetsDefinition:
    key = plan_key(config)

    deps = [dg.AssetKey.from_user_string(d) for d in config.deps]
    condition = plan_condition(config.schedule, deps) if plan_automated(config) else None

    @dg.asset(
        key=key,
        deps=[MIRROR_KEY, *deps],
        group_name=EXPORT_GROUP,
        kinds={"stripe", warehouse_kind()},
        tags=_tags(config),
        code_version=export_code_version(config),
        automation_condition=condition,
        description=(
            f"Preview of the export sync '{config.name}': every model row classified as create, "
            "update (field by field), unchanged, skip or reject, against the mirror (no Stripe "
            f"call). Materializing it alone changes nothing in Stripe. {config.description}"
        ).strip(),
        check_specs=[
            dg.AssetCheckSpec(
                CHECKS["max_reject_percent"],
                asset=key,
                blocking=True,
                description="Rejected model rows stay within max_reject_percent "
                f"({config.max_reject_percent:g}%).",
            ),
            dg.AssetCheckSpec(
                CHECKS["max_change_percent"],
                asset=key,
                blocking=True,
                description="Customers changed stay within max_change_percent "
                f"({config.max_change_percent:g}%) of those matched.",
            ),
            *alert_check_specs(key, config.alerts),
        ],
    )
    def _plan(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        _refuse_if_disabled(config)
        started = time.monotonic()
        wh, schema = warehouse.warehouse(), warehouse.mirror_schema
        try:
            require_targets(config)  # several accounts: each row names its own
            # No Stripe resource: the configured accounts and the registry of discovered ones.
            accounts = deployment_accounts(wh, schema, single_account())
            several = accounts_file() is not None
            if not several:  # state kept for other Stripe data: stop
                check_data_set(wh, config, schema, record=True, account=accounts.default)
            plan = make_plan(
                wh,
                config,
                schema,
                sent_keys=sent_keys(wh, config),
                plan_id=context.run.run_id,
                # Stripe's clock as the mirror last read it: the plan's age is measured on it.
                planned_at=None if several else mirror_stripe_time(wh, schema, config, accounts.default),
                accounts=accounts,
            )
            if several:  # the oldest refresh of the accounts it writes to
                targets = {e.account for e in plan.writes() if e.account}
                plan.planned_at = oldest_refresh(accounts, targets) or plan.planned_at
            store_plan(wh, config, plan)
        except ExportError as err:
            raise dg.Failure(description=str(err)) from err
        figures = plan_figures(plan)
        context.log.info(
            f"plan for '{config.name}': " + ", ".join(f"{k} {v}" for k, v in figures.items())
        )
        return dg.MaterializeResult(
            metadata={
                **figures,
                "api_calls": 0,
                "duration_s": round(time.monotonic() - started, 3),
                "preview": dg.MetadataValue.md(markdown_preview(plan)),
                "dagster/row_count": len(plan.entries),
                "dagster/table_name": plan_table(config).replace('"', ""),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECKS[g.name],
                    passed=g.passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=g.describe(config.name),
                    metadata={
                        "percent": round(g.percent, 2),
                        "limit": g.limit,
                        "count": g.numerator,
                        "of": g.denominator,
                    },
                )
                for g in guard_results(config, plan)
            ]
            + alert_check_results(
                key,
                config.name,
                config.alerts,
                reject_share=plan.summary.reject_percent / 100,
                changes=plan.summary.writes,
            ),
        )

    return _plan


def build_sync_asset(config: ExportConfig, *, example: bool = False) -> dg.AssetsDefinition:
    """The write step. In a run that did not ask for this sync it materializes nothing."""
    key = sync_key(config)

    # A multi_asset so that the asset and its check can both be skipped (can_subset): a run
    # that did not ask for this sync yields neither (see lib/write_gate.py).
    @dg.multi_asset(
        name=config.name,
        specs=[
            dg.AssetSpec(
                key,
                deps=[plan_key(config)],
                group_name=EXPORT_GROUP,
                kinds={"stripe", warehouse_kind()},
                tags=_tags(config),
                code_version=export_code_version(config),
                # Only with its plan: none when the plan has none (no schedule, no deps).
                automation_condition=sync_condition() if plan_automated(config) else None,
                skippable=True,
                description=(
                    f"Stripe customers as exported by '{config.name}': one row per model key "
                    "with the customer id, the outcome and what was last pushed. Applies the "
                    f"stored plan, only in a run of {config.name}_job (or one materializing "
                    "only this sync and its plan); other runs skip it."
                ),
            )
        ],
        pool=stripe_pool(),
        can_subset=True,
        check_specs=[
            dg.AssetCheckSpec(
                "writes_succeeded",
                asset=key,
                description="Stripe accepted every write of the last run.",
            ),
            *alert_check_specs(key, config.alerts),
        ],
    )
    def _sync(
        context: dg.AssetExecutionContext, stripe: StripeResource, warehouse: WarehouseResource
    ):
        _refuse_if_disabled(config)
        refusal = write_refusal(
            config.name,
            job_name=context.run.job_name,
            asset_selection=context.run.asset_selection,
            tags=context.run.tags,
        )
        if refusal is not None:
            context.log.warning(refusal)
            return  # no output: the asset is skipped, nothing is sent
        if example and (message := example_refusal(config.name, stripe.api_key)) is not None:
            raise dg.Failure(description=message)
        wh = warehouse.warehouse()
        stored = load_plan(wh, config)
        if stored is not None and stored.plan_id != context.run.run_id:
            context.log.warning(
                f"applying the plan stored by run {stored.plan_id} at "
                f"{stored.planned_at:%Y-%m-%d %H:%M:%S} UTC; materialize {config.name}_plan "
                "in the same run for a fresh one"
            )
        stats = ApiStats()
        client_for = account_clients(stripe, stats)
        targets = sorted({e.account for e in stored.writes() if e.account}) if stored else []
        try:
            # The account whose clock and key are checked: the single one, else the first written.
            named = sorted({e.account for e in stored.entries if e.account}) if stored else []
            api = client_for((targets or named)[0]) if names_accounts(config) and named else stripe.api(stats)
            # The plan's customer ids come from the mirror: a key of another account or
            # mode would update ids it cannot see and create what the mirror already has.
            what = f"the export sync '{config.name}'"
            if not stripe.multi_account:
                check_identity(api, wh, warehouse.mirror_schema, record=False, what=what, account=stripe.account)
                check_data_set(wh, config, warehouse.mirror_schema, record=False, account=stripe.account)
            else:  # each account written to against its own mirror's identity
                for account in targets:
                    check_identity(
                        client_for(account), wh, warehouse.mirror_schema, record=False, what=what, account=account
                    )
            result = apply_plan(
                config,
                api,
                wh,
                concurrency=stripe.max_concurrency,
                plan=stored,
                run_id=context.run.run_id,
                client_for=client_for,
            )
        except (ExportError, MirrorIdentityError, StripeAccessError, ValueError) as err:
            raise dg.Failure(description=str(err)) from err
        figures = apply_figures(result)
        context.log.info(
            f"sync '{config.name}': " + ", ".join(f"{k} {v}" for k, v in figures.items())
        )
        metadata = {
            **figures,
            "customers": dg.MetadataValue.md(links_markdown(result, stripe.dashboard_base)),
            "failed_rows": dg.MetadataValue.md(failures_markdown(result)),
            "dagster/row_count": result.row_count,
            "dagster/table_name": state_table(config).replace('"', ""),
            "history_table": history_table(config).replace('"', ""),
        }
        # The exported state (the state table) changed either way: it is materialized, with
        # the check saying whether Stripe took every write; failed writes then fail the run.
        yield dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                dg.AssetCheckResult(
                    check_name="writes_succeeded",
                    passed=result.failed == 0,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=f"{result.failed} of {result.writes} writes failed" if result.failed else None,
                    metadata={"failures": result.failed, "writes": result.writes},
                ),
                *alert_check_results(key, config.name, config.alerts, runtime_s=result.duration_s),
            ],
        )
        if result.failed:
            # Every row's outcome is recorded already (the state table); the run fails.
            raise dg.Failure(description=failed_writes_message(config, result), metadata=metadata)

    return _sync


def account_clients(stripe: StripeResource, stats: ApiStats) -> Callable[[str], StripeApi]:
    """The client writing to each target account (its own key or its platform's, its own
    rate limiter), all counting into ``stats``; the single account's is today's client."""

    def client_for(account: str) -> StripeApi:
        return stripe.api(stats, account=account)

    return client_for

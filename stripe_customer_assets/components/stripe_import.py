"""The import pipeline component: ``type: stripe_customer_assets.StripeCustomerImport``.

One folder per pipeline, ``defs/<pipeline>/defs.yaml``. Its attributes are
``PipelineConfig``, checked at load (every problem listed with its file, line and field).
The component builds:

- the asset ``<schema>/<table>`` (the table's parts: ``analytics.pro_customers`` ->
  ``analytics/pro_customers``), downstream of ``stripe/customers``, needing only the
  warehouse (a pipeline reads the mirror: no Stripe calls);
- its ``reject_rate`` check, failing when the share of rejected customers in a run
  exceeds ``max_reject_rate`` (a run whose rejects would take more than that share of the
  table fails before writing anything: ``pipeline/reject_guard.py``);
- its automation condition (``lib/automation.py``): after every refresh of the mirror and,
  with ``schedule``, at each cron tick after the mirror refreshed since (the tick refreshes
  it); none when ``enabled: false``;
- its ``code_version``: the pipeline's fingerprint (filters, transformation, schema), so
  the UI shows a table built by other rules as changed.

The work itself is plain Python in ``stripe_customer_assets.pipeline``.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from stripe_customer_assets.alerts.thresholds import AlertThresholds
from stripe_customer_assets.lib.alert_check import alert_check_results, alert_check_specs
from stripe_customer_assets.lib.automation import import_condition
from stripe_customer_assets.lib.keys import (
    ENABLED_TAG,
    IMPORT_GROUP,
    MIRROR_KEY,
    ROLE_TAG,
    warehouse_kind,
)
from stripe_customer_assets.lib.metadata import preview
from stripe_customer_assets.lib.yaml_model import YamlModelComponent
from stripe_customer_assets.pipeline import (
    Pipeline,
    PipelineConfig,
    PipelineResult,
    compile_pipeline,
    run_pipeline,
)
from stripe_customer_assets.pipeline.reject_guard import RejectThresholdError
from stripe_customer_assets.resources import WarehouseResource
from stripe_customer_assets.warehouse.engine import split_table

REJECT_CHECK = "reject_rate"


class ImportRunConfig(dg.Config):
    full_rebuild: bool = Field(
        default=False,
        description="Rebuild the whole table from the mirror instead of applying changes.",
    )


class StripeCustomerImport(YamlModelComponent, PipelineConfig):
    """An import pipeline: Stripe customers from the mirror, filtered and transformed into a
    typed table of the warehouse, incrementally, on a schedule.

    Its attributes are ``PipelineConfig`` (``stripe_customer_assets.pipeline.config``).
    """

    _pipeline: Pipeline | None = PrivateAttr(default=None)

    def compile(self, source: str | None = None) -> Pipeline:
        """The runnable pipeline (validating the configuration checked it), made once."""
        if self._pipeline is None:
            self._pipeline = compile_pipeline(self, source)
        return self._pipeline

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        pipeline = self._pipeline or self.compile(_yaml_file(context))
        asset = import_asset(
            pipeline, self.enabled, self.max_reject_rate, schedule=self.schedule, alerts=self.alerts
        )
        return dg.Definitions(assets=[asset])


def table_asset_key(table: str) -> dg.AssetKey:
    schema, name = split_table(table, default_schema="")
    return dg.AssetKey([schema, name] if schema else [name])


def import_asset(
    pipeline: Pipeline,
    enabled: bool,
    max_reject_rate: float,
    *,
    schedule: str | None = None,
    alerts: AlertThresholds | None = None,
) -> dg.AssetsDefinition:
    key = table_asset_key(pipeline.table)
    where = pipeline.source or "its defs.yaml"

    spec = dg.AssetSpec(
        key=key,
        deps=[MIRROR_KEY],
        code_version=pipeline.fingerprint,
        automation_condition=import_condition(schedule) if enabled else None,
        group_name=IMPORT_GROUP,
        kinds={"stripe", warehouse_kind()},
        tags={ROLE_TAG: "import", ENABLED_TAG: "true" if enabled else "false"},
        description=pipeline.config.description
        or f"Stripe customers ({pipeline.filter_words()}) as table {pipeline.table}.",
        metadata={
            "dagster/table_name": pipeline.table,
            "dagster/column_schema": column_schema(pipeline),
            "filter": pipeline.filter_words(),
            "incremental": pipeline.config.incremental,
            "defs_yaml": where,
        },
    )
    check = dg.AssetCheckSpec(
        REJECT_CHECK,
        asset=key,
        description=f"At most {max_reject_rate:.1%} of the customers a run processes are rejected.",
    )

    # The op is named after the pipeline: two pipelines with one name fail at load.
    @dg.multi_asset(name=f"import_{pipeline.name}", specs=[spec], check_specs=[check, *alert_check_specs(key, alerts)])
    def _import(
        context: dg.AssetExecutionContext, config: ImportRunConfig, warehouse: WarehouseResource
    ):
        if not enabled:
            raise dg.Failure(
                description=f"Import pipeline '{pipeline.name}' is disabled (enabled: false in {where}); "
                "set enabled: true to run it."
            )
        try:
            result = run_pipeline(
                pipeline,
                warehouse.warehouse(),
                warehouse.mirror_schema,
                full_rebuild=config.full_rebuild,
                run_id=context.run.run_id,
            )
        except RejectThresholdError as err:  # nothing was written: the run fails with the reasons
            raise dg.Failure(description=str(err), metadata=rejects_metadata(err)) from None
        context.log.info(
            f"{result.mode} ({result.reason}): +{result.inserted} ~{result.updated} -{result.removed} "
            f"={result.unchanged} rejected {result.rejected} in {result.duration_s:.2f}s"
        )
        return dg.MaterializeResult(
            asset_key=key,
            metadata=materialization_metadata(pipeline, result),
            check_results=[
                reject_check(result, max_reject_rate),
                *alert_check_results(
                    key,
                    pipeline.name,
                    alerts,
                    reject_share=result.reject_rate,
                    changes=result.inserted + result.updated + result.removed,
                    runtime_s=result.duration_s,
                ),
            ],
        )

    return _import


def column_schema(pipeline: Pipeline) -> dg.TableSchema:
    columns = [dg.TableColumn("stripe_customer_id", "string", "Stripe customer id (key)")]
    for prop in pipeline.model.properties:
        columns.append(
            dg.TableColumn(
                prop.name,
                prop.type,
                prop.description,
                constraints=dg.TableColumnConstraints(nullable=prop.nullable),
            )
        )
    return dg.TableSchema(columns=columns)


def materialization_metadata(pipeline: Pipeline, result: PipelineResult) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "mode": result.mode,
        "reason": result.reason,
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "rows_removed": result.removed,
        "rows_rejected": result.rejected,
        "rows_unchanged": result.unchanged,
        "customers_skipped": result.skipped,
        "customers_processed": result.processed,
        "reject_rate": round(result.reject_rate, 4),
        "dagster/row_count": result.row_count,
        "mirror_version": result.mirror_version,
        "since_mirror_version": result.since_version if result.since_version is not None else -1,
        "filter": pipeline.filter_words(),
        "api_calls": 0,
        "duration_s": round(result.duration_s, 3),
    }
    if result.preview is not None:
        metadata["preview"] = preview(result.preview)
    if result.reject_sample:
        lines = ["| customer | reason |", "| --- | --- |"]
        lines += [
            f"| {r.customer_id} | {r.reason.replace('|', '/')} |" for r in result.reject_sample
        ]
        metadata["rejects"] = dg.MetadataValue.md("\n".join(lines))
    return metadata


def rejects_metadata(err: RejectThresholdError) -> dict[str, Any]:
    lines = ["| customer | reason |", "| --- | --- |"]
    lines += [f"| {r.customer_id} | {r.reason.replace('|', '/')} |" for r in err.rejects]
    return {
        "rejected": err.result.rejected,
        "processed": err.result.processed,
        "rejects": dg.MetadataValue.md("\n".join(lines)),
    }


def reject_check(result: PipelineResult, max_reject_rate: float) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=REJECT_CHECK,
        passed=result.reject_rate <= max_reject_rate,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{result.rejected} of {result.processed} customers rejected ({result.reject_rate:.1%}); "
            f"max_reject_rate is {max_reject_rate:.1%}"
        ),
        metadata={
            "rejected": result.rejected,
            "processed": result.processed,
            "reject_rate": round(result.reject_rate, 4),
            "max_reject_rate": max_reject_rate,
        },
    )


def _yaml_file(context: dg.ComponentLoadContext) -> str:
    path = Path(context.path) / "defs.yaml"
    try:
        return str(path.relative_to(context.project_root))
    except ValueError:
        return str(path)

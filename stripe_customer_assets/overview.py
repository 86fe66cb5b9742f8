"""Overview: every import pipeline and export sync of the code location, with its state.

    python -m stripe_customer_assets.overview          # a plain table
    python -m stripe_customer_assets.overview --json   # the same, for machines

One line per import pipeline and per export sync: enabled, its automation (the cron or
condition of ``lib/automation.py``, as the UI labels it), its last run (time, status, run
id) and the counts and reject share of its latest materialization. Read from the
definitions (``definitions.defs()``) and the Dagster instance at ``DAGSTER_HOME`` (the one
``make demo`` and ``make dev`` use): nothing is written to the warehouse, Stripe or the
instance, and no Stripe call is made.

The last run of a pipeline is the latest run that set out to materialize its table; of a
sync, the latest run that set out to materialize the sync (a plan's blocking check that
failed shows as that run's failure). "skipped": the run succeeded without materializing it
(a sync in a run that did not ask for it writes nothing). "never": no run yet.
Exit status 0, or 2 when there is no instance to read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError

from stripe_customer_assets.lib.keys import ENABLED_TAG, ROLE_TAG

# The counts shown, and the materialization metadata each is read from.
IMPORT_COUNTS = {
    "inserted": "rows_inserted",
    "updated": "rows_updated",
    "removed": "rows_removed",
    "rejected": "rows_rejected",
}
SYNC_COUNTS = {"created": "creates", "updated": "updates", "failed": "failures"}
PLAN_REJECTED = "reject"  # the plan's count of rejected model rows (export/plan.py: REJECT)
PLAN_CONFLICTS = "conflict"  # fields kept as Stripe holds them (on_conflict), rows of the plan


@dataclass(frozen=True)
class Item:
    """One import pipeline or export sync (``kind``: ``pipeline`` or ``sync``)."""

    kind: str
    name: str
    asset: str
    enabled: bool
    automation: str
    last_run_at: str | None = None  # ISO 8601, UTC
    last_run_status: str = "never"
    last_run_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    reject_share: float | None = None  # 0..1, of the latest materialization


@dataclass(frozen=True)
class _Found:
    kind: str
    name: str
    key: dg.AssetKey  # the pipeline's table, the sync's write step
    spec: dg.AssetSpec  # carries the automation condition (the plan's, for a sync)
    plan_key: dg.AssetKey | None = None


def automation_text(spec: dg.AssetSpec, enabled: bool, manual: str) -> str:
    if not enabled:
        return "off (enabled: false)"
    condition = spec.automation_condition
    if condition is None:
        return f"none: {manual}"
    return condition.get_label() or condition.name


def _find(definitions: dg.Definitions) -> list[_Found]:
    specs = {
        spec.key: (spec, assets_def)
        for assets_def in definitions.resolve_asset_graph().assets_defs
        for spec in assets_def.specs
    }
    found = []
    for key, (spec, assets_def) in specs.items():
        role = spec.tags.get(ROLE_TAG)
        if role == "import":
            name = assets_def.node_def.name.removeprefix("import_") if assets_def.is_executable else key.to_user_string()
            found.append(_Found("pipeline", name, key, spec))
        elif role == "export":
            plan = dg.AssetKey([f"{key.path[-1]}_plan"])
            if plan in specs and plan in {d.asset_key for d in spec.deps}:
                found.append(_Found("sync", key.path[-1], key, specs[plan][0], plan))
    return sorted(found, key=lambda f: (f.kind, f.name))


def _metadata(instance: dg.DagsterInstance, key: dg.AssetKey | None) -> tuple[dict[str, Any], str | None]:
    event = instance.get_latest_materialization_event(key) if key is not None else None
    if event is None or event.asset_materialization is None:
        return {}, None
    values = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    return values, event.run_id


def _last_run(instance: dg.DagsterInstance, key: dg.AssetKey, materialized_by: str | None):
    # The run that last set out to materialize it (Dagster records the plan before the step).
    planned = instance.get_latest_planned_materialization_info(key)
    run_id = planned.run_id if planned is not None else materialized_by
    record = instance.get_run_record_by_id(run_id) if run_id else None
    if record is None:
        return None, "never", None
    run = record.dagster_run
    status = run.status.value
    if run.status == dg.DagsterRunStatus.SUCCESS and materialized_by != run.run_id:
        status = "SKIPPED"
    started = record.start_time or record.create_timestamp.timestamp()
    at = dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds")
    return at, status, run.run_id


def _int(values: dict[str, Any], name: str) -> int:
    value = values.get(name)
    return int(value) if isinstance(value, int | float) else 0


def overview(definitions: dg.Definitions, instance: dg.DagsterInstance) -> list[Item]:
    """Every pipeline and sync of ``definitions``, with its state in ``instance``."""
    items = []
    for found in _find(definitions):
        enabled = found.spec.tags.get(ENABLED_TAG) == "true"
        values, materialized_by = _metadata(instance, found.key)
        at, status, run_id = _last_run(instance, found.key, materialized_by)
        if found.kind == "pipeline":
            automation = automation_text(found.spec, enabled, "run by hand or in stripe_import")
            counts = {label: _int(values, name) for label, name in IMPORT_COUNTS.items()} if values else {}
            share = values.get("reject_rate") if values else None
        else:
            automation = automation_text(found.spec, enabled, f"run by hand ({found.name}_job)")
            plan_values, _ = _metadata(instance, found.plan_key)
            counts = {label: _int(values, name) for label, name in SYNC_COUNTS.items()} if values else {}
            if plan_values:
                counts["rejected"] = _int(plan_values, PLAN_REJECTED)
                counts["conflicts"] = _int(plan_values, PLAN_CONFLICTS)
            percent = plan_values.get("reject_percent")
            share = percent / 100 if isinstance(percent, int | float) else None
        items.append(
            Item(
                kind=found.kind,
                name=found.name,
                asset=found.key.to_user_string(),
                enabled=enabled,
                automation=automation,
                last_run_at=at,
                last_run_status=status,
                last_run_id=run_id,
                counts=counts,
                reject_share=float(share) if isinstance(share, int | float) else None,
            )
        )
    return items


COLUMNS = ("kind", "name", "enabled", "automation", "last run", "status", "run id", "last counts", "rejects")


def _row(item: Item) -> tuple[str, ...]:
    return (
        item.kind,
        item.name,
        "yes" if item.enabled else "no",
        item.automation,
        item.last_run_at.replace("T", " ").replace("+00:00", " UTC") if item.last_run_at else "never",
        item.last_run_status if item.last_run_at else "never",
        item.last_run_id[:8] if item.last_run_id else "-",
        ", ".join(f"{n} {label}" for label, n in item.counts.items()) or "-",
        f"{item.reject_share:.1%}" if item.reject_share is not None else "-",
    )


def table(items: list[Item]) -> str:
    """A plain text table, one line per item."""
    rows = [COLUMNS, *(_row(item) for item in items)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def markdown(items: list[Item]) -> str:
    """The same table in Markdown (for Dagster metadata)."""
    rows = [_row(item) for item in items]
    cells = [COLUMNS, tuple("---" for _ in COLUMNS), *rows]
    return "\n".join("| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in cells)


def as_json(items: list[Item]) -> str:
    return json.dumps([asdict(item) for item in items], indent=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from stripe_customer_assets.definitions import defs

    try:
        instance = dg.DagsterInstance.get()
    except (DagsterHomeNotSetError, dg.DagsterInvariantViolationError) as err:
        first = str(err).strip().splitlines()[0]  # DAGSTER_HOME unset, or not a folder
        print(
            f"No Dagster instance to read: {first}\nSet DAGSTER_HOME to the instance's folder "
            "(the repository root for make demo and make dev: export DAGSTER_HOME=$PWD).",
            file=sys.stderr,
        )
        return 2
    with instance:
        items = overview(defs(), instance)
    print(as_json(items) if args.json else table(items))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""When the project's assets materialize on their own: Dagster's declarative automation.

Every condition here is evaluated by the sensor ``stripe_automation`` (``defs/automation.py``,
running by default), one tick every 30 seconds, with no Stripe call.

- The mirror ``stripe/customers`` refreshes when something that reads it needs a fresh one:
  the cron tick of an import pipeline's or an export sync's ``schedule``, or a change to an
  export model's upstream asset (``any_downstream_conditions``: the conditions below,
  evaluated for the mirror). Between ticks the change sensor ``stripe_customer_changes``
  (one Stripe call a tick) keeps it current when it is on.
- An import pipeline runs after each refresh of the mirror (in the same run when both are
  requested together), and with ``schedule`` at each tick, after the mirror refreshed since.
- An export sync (plan, then sync, in one run) runs at each tick of its ``schedule``, after the
  mirror refreshed since, and when an asset of its ``deps`` changed (with the mirror refreshed
  in the same run, unless that change came with a refresh).
- ``enabled: false``: no condition at all (and a run started by hand refuses).

A cron tick never runs anything on the first evaluation after a deployment: the first tick
after it does.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from typing import Any

import dagster as dg

from stripe_customer_assets.lib.keys import MIRROR_KEY

AC = dg.AutomationCondition


def mirror_condition() -> dg.AutomationCondition:
    """The mirror: refreshed whenever a downstream condition asks for it, one run at a time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # any_downstream_conditions: beta in 1.13
        downstream = AC.any_downstream_conditions()
    return (downstream & ~AC.in_progress()).with_label("a reader's cron tick or model change")


def _after_mirror() -> dg.AutomationCondition:
    # Always in the run that refreshes the mirror, even when just rebuilt: a pipeline left out
    # would follow that refresh in a run of its own, and an export reading it would then ask
    # the mirror for a refresh again, and so on.
    with_refresh = AC.any_deps_match(AC.will_be_requested()).with_label("with the mirror")
    return (
        (with_refresh | AC.any_deps_updated().since_last_handled())
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label("after the mirror changes")


def _on_cron_after_mirror(cron: str) -> dg.AutomationCondition:
    """``on_cron`` waiting for the mirror only (a model's other inputs may update less often)."""
    return (
        AC.in_latest_time_window()
        & AC.cron_tick_passed(cron, "UTC").since_last_handled()
        & AC.all_deps_updated_since_cron(cron, "UTC").allow(dg.AssetSelection.assets(MIRROR_KEY))
    ).with_label(f"on_cron({cron}, UTC) with a fresh mirror")


def import_condition(schedule: str | None) -> dg.AutomationCondition:
    """An enabled import pipeline: after every mirror refresh, and on its cron."""
    if not schedule:
        return _after_mirror()
    return (_after_mirror() | _on_cron_after_mirror(schedule)).with_label(
        f"after the mirror changes, and on_cron({schedule}, UTC)"
    )


def _changed(dep: dg.AssetKey) -> dg.AutomationCondition:
    """``dep`` updated since the previous tick, by a run that did not also run the asset the
    condition is evaluated for (for the mirror: a refresh came with the change already)."""
    return AC.asset_matches(
        dep,
        (AC.newly_updated() & ~AC.executed_with_root_target()) | AC.will_be_requested(),
    )


def plan_condition(schedule: str | None, deps: Sequence[dg.AssetKey]) -> dg.AutomationCondition | None:
    """An enabled export sync's plan: on its cron and when an asset of its model changes."""
    parts: list[dg.AutomationCondition] = []
    if schedule:
        parts.append(_on_cron_after_mirror(schedule))
    if deps:
        changed = _changed(deps[0])
        for dep in deps[1:]:
            changed = changed | _changed(dep)
        parts.append(
            (
                changed.since_last_handled()
                & ~AC.any_deps_missing()
                & ~AC.any_deps_in_progress()
                & ~AC.in_progress()
            ).with_label("after its model's deps change")
        )
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else (parts[0] | parts[1]).with_label(
        f"on_cron({schedule}, UTC), and after its model's deps change"
    )


def sync_condition() -> dg.AutomationCondition:
    """An export sync's write step: in the run automation starts for its plan, never after a
    plan materialized by hand (a preview never writes)."""
    return AC.any_deps_match(AC.will_be_requested()).with_label("with its plan")


def plan_automated(config: Any) -> bool:
    """Whether an export sync (``ExportConfig``) has automation: enabled, with a cron or deps."""
    return bool(config.enabled and (config.schedule or config.deps))


def code_version(parts: Any) -> str:
    """A short, stable hash of what defines an asset's output."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _export_fields() -> set[str]:
    from stripe_customer_assets.export.config import ExportConfig

    return set(ExportConfig.model_fields)


def export_code_version(config: Any) -> str:
    """An export sync's (``ExportConfig``): its model SQL and how it maps, not its name,
    description, lineage, automation or alert limits."""
    # Only the sync's own attributes (ExportConfig's), whichever class carries them.
    parts = config.model_dump(include=_export_fields())
    for name in ("name", "description", "deps", "schedule", "enabled", "model_file", "alerts"):
        parts.pop(name, None)
    for name in ("account_column", "account"):  # unset: the version of a single-account sync
        if parts.get(name) is None:
            parts.pop(name, None)
    return code_version(parts)

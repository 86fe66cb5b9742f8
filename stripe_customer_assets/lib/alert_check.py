"""The ``alert_thresholds`` check of a pipeline or sync with ``alerts:`` set.

A non-blocking WARN check: a breached limit shows in the UI beside the asset and the
``stripe_alerts_on_checks`` sensor (``components/stripe_alerts.py``) sends it as an alert.
The check's metadata names the pipeline or sync (``name``), which the alert carries.
"""

from __future__ import annotations

import dagster as dg

from stripe_customer_assets.alerts.thresholds import AlertThresholds, breaches

ALERT_CHECK = "alert_thresholds"


def alert_check_specs(key: dg.AssetKey, limits: AlertThresholds | None) -> list[dg.AssetCheckSpec]:
    if limits is None:
        return []
    set_limits = ", ".join(f"{k} {v:g}" for k, v in limits.model_dump(exclude_none=True).items())
    return [
        dg.AssetCheckSpec(
            ALERT_CHECK, asset=key, description=f"Alerts when a run passes a limit ({set_limits or 'none set'})."
        )
    ]


def alert_check_results(
    key: dg.AssetKey,
    name: str,
    limits: AlertThresholds | None,
    *,
    reject_share: float | None = None,
    changes: int | None = None,
    runtime_s: float | None = None,
) -> list[dg.AssetCheckResult]:
    if limits is None:
        return []
    found = breaches(limits, reject_share=reject_share, changes=changes, runtime_s=runtime_s)
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=ALERT_CHECK,
            passed=not found,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(found) or None,
            metadata={"name": name, "breaches": len(found)},
        )
    ]

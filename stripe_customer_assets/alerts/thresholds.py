"""The ``alerts`` attribute of an import pipeline or an export sync: limits that alert.

A breached limit does not stop anything (the blocking checks ``max_reject_rate``,
``max_reject_percent`` and ``max_change_percent`` do that): it sends one alert.
"""

from __future__ import annotations

from pydantic import Field

from stripe_customer_assets.config_model import StrictModel


class AlertThresholds(StrictModel):
    """Alert when a run passes one of these (each optional)."""

    max_reject_share: float | None = Field(
        default=None, ge=0, le=1, description="Share of rejected rows (0 to 1) above which to alert."
    )
    max_changes: int | None = Field(
        default=None, ge=0, description="Rows changed (created, updated, removed) above which to alert."
    )
    max_runtime_s: float | None = Field(
        default=None, gt=0, description="Seconds a step may take before it alerts."
    )


def breaches(
    limits: AlertThresholds,
    *,
    reject_share: float | None = None,
    changes: int | None = None,
    runtime_s: float | None = None,
) -> list[str]:
    """Each limit passed, in words: ``"reject share 5.0% > max_reject_share 2.0%"``."""
    found = []
    if limits.max_reject_share is not None and reject_share is not None and reject_share > limits.max_reject_share:
        found.append(f"reject share {reject_share:.1%} > max_reject_share {limits.max_reject_share:.1%}")
    if limits.max_changes is not None and changes is not None and changes > limits.max_changes:
        found.append(f"{changes} changes > max_changes {limits.max_changes}")
    if limits.max_runtime_s is not None and runtime_s is not None and runtime_s > limits.max_runtime_s:
        found.append(f"runtime {runtime_s:.1f}s > max_runtime_s {limits.max_runtime_s:g}s")
    return found

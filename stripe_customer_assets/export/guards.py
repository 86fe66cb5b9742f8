"""Guards: a plan that rejects or changes too much is not sent at all.

reject rate  rejected model rows / model rows
change rate  customers an update would touch / live customers the model's keys matched

Both are compared with the sync's ``max_reject_percent`` / ``max_change_percent``; a rate
strictly above its limit stops the sync before its first write. The plan's blocking asset
checks report the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.errors import ExportGuardError
from stripe_customer_assets.export.plan import PlanSummary


@dataclass(frozen=True)
class GuardResult:
    name: str  # the YAML field
    percent: float
    limit: float
    numerator: int
    denominator: int

    @property
    def passed(self) -> bool:
        return self.percent <= self.limit

    def describe(self, sync: str) -> str:
        what = "rows rejected" if self.name == "max_reject_percent" else "matched customers changed"
        verdict = "within" if self.passed else "exceeds"
        return (
            f"sync '{sync}': {self.percent:.1f}% {what} ({self.numerator} of {self.denominator}) "
            f"{verdict} {self.name}: {self.limit:g}"
        )


def guard_results(config: ExportConfig, summary: PlanSummary) -> list[GuardResult]:
    return [
        GuardResult(
            "max_reject_percent",
            summary.reject_percent,
            config.max_reject_percent,
            summary.counts.get("reject", 0),
            summary.rows,
        ),
        GuardResult(
            "max_change_percent",
            summary.change_percent,
            config.max_change_percent,
            summary.updating,
            summary.matched,
        ),
    ]


def check_guards(config: ExportConfig, summary: PlanSummary) -> None:
    """Raise ``ExportGuardError`` when any guard fails; nothing has been sent then."""
    failed = [g for g in guard_results(config, summary) if not g.passed]
    if failed:
        reasons = "; ".join(g.describe(config.name) for g in failed)
        raise ExportGuardError(f"{reasons}. Nothing was sent to Stripe.")

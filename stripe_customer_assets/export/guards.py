"""Guards: a plan that rejects or changes too much is not sent at all.

reject rate  rejected model rows / model rows
change rate  customers an update would touch / live customers the model's keys matched

Both are compared with the sync's ``max_reject_percent`` / ``max_change_percent``; a rate
strictly above its limit stops the sync before its first write. The plan's blocking asset
checks report the same figures. A plan over several accounts is held to each limit in each
account too (an account whose rows are all rejected is not hidden by the others): each
guard reports its worst figure, naming the account.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.errors import ExportGuardError
from stripe_customer_assets.export.plan import Plan, PlanSummary


@dataclass(frozen=True)
class GuardResult:
    name: str  # the YAML field
    percent: float
    limit: float
    numerator: int
    denominator: int
    account: str | None = None  # the account whose figure this is (None: the whole plan)

    @property
    def passed(self) -> bool:
        return self.percent <= self.limit

    def describe(self, sync: str) -> str:
        what = "rows rejected" if self.name == "max_reject_percent" else "matched customers changed"
        verdict = "within" if self.passed else "exceeds"
        where = f" in account '{self.account}'" if self.account is not None else ""
        return (
            f"sync '{sync}': {self.percent:.1f}% {what}{where} ({self.numerator} of "
            f"{self.denominator}) {verdict} {self.name}: {self.limit:g}"
        )


def guard_results(config: ExportConfig, summary: PlanSummary | Plan) -> list[GuardResult]:
    """Each guard's figure: the plan's, or the worst account's when that is higher."""
    if isinstance(summary, Plan):
        plan, summary = summary, summary.summary
        results = _results(config, summary)
        # Rows naming no valid account count in the plan's figures, not as an account.
        accounts = {a: s for a, s in plan.by_account().items() if a} if plan.accounts else {}
        for account, figures in accounts.items() if len(accounts) > 1 else ():
            for i, g in enumerate(_results(config, figures, account)):
                if g.percent > results[i].percent:
                    results[i] = g
        return results
    return _results(config, summary)


def _results(
    config: ExportConfig, summary: PlanSummary, account: str | None = None
) -> list[GuardResult]:
    return [
        GuardResult(
            "max_reject_percent",
            summary.reject_percent,
            config.max_reject_percent,
            summary.counts.get("reject", 0),
            summary.rows,
            account,
        ),
        GuardResult(
            "max_change_percent",
            summary.change_percent,
            config.max_change_percent,
            summary.updating,
            summary.matched,
            account,
        ),
    ]


def check_guards(config: ExportConfig, summary: PlanSummary | Plan) -> None:
    """Raise ``ExportGuardError`` when any guard fails; nothing has been sent then."""
    failed = [g for g in guard_results(config, summary) if not g.passed]
    if failed:
        reasons = "; ".join(g.describe(config.name) for g in failed)
        raise ExportGuardError(f"{reasons}. Nothing was sent to Stripe.")

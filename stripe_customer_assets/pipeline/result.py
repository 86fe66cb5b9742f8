"""What one pipeline run did, counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stripe_customer_assets.pipeline.rejects import Reject

if TYPE_CHECKING:
    import pandas as pd

REJECT_SAMPLE = 20


@dataclass
class PipelineResult:
    """Counts of one run. ``processed`` customers were transformed; each of them was
    inserted, updated, unchanged, rejected or skipped (a transform returned None).
    ``removed`` counts rows deleted from the table: customers deleted in Stripe, no longer
    matching the filter, skipped or rejected this time."""

    pipeline: str
    table: str
    mode: str = "incremental"
    reason: str = ""
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: int = 0
    skipped: int = 0
    processed: int = 0
    since_version: int | None = None
    mirror_version: int = 0
    row_count: int = 0
    duration_s: float = 0.0
    reject_sample: list[Reject] = field(default_factory=list)
    preview: pd.DataFrame | None = None

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.processed if self.processed else 0.0

    @property
    def touched(self) -> int:
        """Rows written or deleted."""
        return self.inserted + self.updated + self.removed

    def add_rejects(self, rejects: list[Reject]) -> None:
        self.rejected += len(rejects)
        room = REJECT_SAMPLE - len(self.reject_sample)
        if room > 0:
            self.reject_sample.extend(rejects[:room])

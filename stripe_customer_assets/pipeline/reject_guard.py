"""The reject threshold, checked before a pipeline's transaction commits.

A transformation that starts raising (or a schema type that no longer matches the data)
turns customers into rejects, and rejects leave the table. Past the pipeline's
``max_reject_rate`` the run must not commit: it raises ``RejectThresholdError`` inside the
transaction, so the table keeps every row it had (a table recreated for a new schema comes
back too), the rejects and the pipeline's state stay as they were, and the next run
processes the same changes again.

The share is counted against the larger of the customers the run processed and the rows
the table held before: a full rebuild is judged on its own rows; an incremental run of a
few changes is judged on how much of the table it would take away, so one bad customer
among three changes does not stop a pipeline of thousands of rows (it is rejected and
shown by the ``reject_rate`` check instead).
"""

from __future__ import annotations

from stripe_customer_assets.pipeline.errors import PipelineRunError
from stripe_customer_assets.pipeline.rejects import Reject
from stripe_customer_assets.pipeline.result import PipelineResult

SHOWN_REJECTS = 5


class RejectThresholdError(PipelineRunError):
    """Too many customers were rejected: nothing was written. ``rejects``: the first few."""

    def __init__(self, message: str, result: PipelineResult, rejects: list[Reject]):
        super().__init__(message)
        self.result = result
        self.rejects = rejects


def check_reject_threshold(
    result: PipelineResult,
    max_reject_rate: float,
    rows_before: int,
    *,
    pipeline: str,
    table: str,
    source: str | None = None,
) -> None:
    """Raise ``RejectThresholdError`` when the run's rejects pass ``max_reject_rate``."""
    basis = max(result.processed, rows_before)
    if not result.rejected or result.rejected <= max_reject_rate * basis:
        return
    shown = result.reject_sample[:SHOWN_REJECTS]
    lines = "".join(f"\n  - {r.customer_id}: {r.reason}" for r in shown)
    more = f"\n  ... and {result.rejected - len(shown)} more" if result.rejected > len(shown) else ""
    where = f" in {source}" if source else ""
    share = result.rejected / basis
    counted = (
        f"of the {result.processed} customers it processed"
        if basis == result.processed
        else f"against the {rows_before} rows of the table"
    )
    raise RejectThresholdError(
        f"import pipeline '{pipeline}' rejected {result.rejected} customers ({share:.1%} {counted}), "
        f"more than max_reject_rate {max_reject_rate:.1%}: nothing was written, table {table} keeps "
        f"its {rows_before} rows. Fix the transformation or schema{where}, or raise "
        f"max_reject_rate. First rejects:{lines}{more}",
        result,
        shown,
    )

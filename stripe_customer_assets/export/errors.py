"""What can stop an export sync, each naming what the user controls."""

from __future__ import annotations


class ExportError(RuntimeError):
    """An export sync cannot go on."""


class ExportModelError(ExportError):
    """The model SQL fails or does not return what the sync's configuration maps."""


class ExportGuardError(ExportError):
    """A guard (max_reject_percent, max_change_percent) stopped the sync before any write."""


class ExportAccessError(ExportError):
    """Stripe refused the key (401) or a permission (403): the sync stopped."""


class ExportPlanAgeError(ExportError):
    """The stored plan is older than Stripe keeps idempotency keys: plan again."""

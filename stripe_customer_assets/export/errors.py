"""What can stop an export sync, each naming what the user controls."""

from __future__ import annotations


class ExportError(RuntimeError):
    """An export sync cannot go on."""


class ExportConfigError(ExportError):
    """A sync's configuration is wrong.

    ``path`` is the attribute's path in defs.yaml (``("fields", "metadata.plan")``);
    ``field`` spells it with dots for messages.
    """

    def __init__(self, sync: str, path: tuple[str, ...], message: str):
        self.sync = sync
        self.path = path
        self.field = ".".join(path)
        self.reason = message
        super().__init__(f"sync '{sync}', field `{self.field}`: {message}")


class ExportModelError(ExportError):
    """The model SQL fails or does not return what the sync's configuration maps."""


class ExportGuardError(ExportError):
    """A guard (max_reject_percent, max_change_percent) stopped the sync before any write."""


class ExportAccessError(ExportError):
    """Stripe refused the key (401) or a permission (403): the sync stopped."""


class ExportPlanAgeError(ExportError):
    """The stored plan is older than Stripe keeps idempotency keys: plan again."""

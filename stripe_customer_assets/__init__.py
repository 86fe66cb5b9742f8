"""Keep Stripe customers and a SQL warehouse in sync, both ways, as Dagster assets.

The components are importable from the package root, so a defs.yaml can say
``type: stripe_customer_assets.StripeCustomerImport`` or ``...StripeCustomerExport`` or ``...StripeAlerts``.
They load lazily: the plain-Python parts (the Stripe stand-in, the clients) do not pull
in Dagster.
"""

from typing import Any

__all__ = ["StripeAlerts", "StripeCustomerExport", "StripeCustomerImport"]


def __getattr__(name: str) -> Any:
    if name == "StripeCustomerImport":
        from stripe_customer_assets.components.stripe_import import StripeCustomerImport

        return StripeCustomerImport
    if name == "StripeCustomerExport":
        from stripe_customer_assets.components.stripe_export import StripeCustomerExport

        return StripeCustomerExport
    if name == "StripeAlerts":
        from stripe_customer_assets.components.stripe_alerts import StripeAlerts

        return StripeAlerts
    raise AttributeError(f"module 'stripe_customer_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    # dg's component registry lists the package with dir(); name the lazy components too.
    return sorted(set(globals()) | set(__all__))

"""Alerts: thresholds a pipeline or sync sets (``alerts:`` in its defs.yaml), the alert a
run failure or a failed check becomes, and its delivery to Slack or a webhook.

Plain Python; the sensors that send them are in ``components/stripe_alerts.py``.
"""

from stripe_customer_assets.alerts.send import Alert, deliver, run_link
from stripe_customer_assets.alerts.thresholds import AlertThresholds, breaches

__all__ = ["Alert", "AlertThresholds", "breaches", "deliver", "run_link"]

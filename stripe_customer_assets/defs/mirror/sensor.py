"""Stay updated: a sensor that spends one Stripe call per tick and runs only on change.

Each tick asks Stripe for the newest customer event (``GET /v1/events?limit=1``). When it
differs from the event the sensor saw last, it requests one run of ``stripe_import``
(the mirror and every enabled import pipeline); otherwise it skips.
"""


import os

import dagster as dg

from stripe_customer_assets.lib.keys import MIRROR_KEY, enabled_imports
from stripe_customer_assets.mirror.events import newest_event
from stripe_customer_assets.resources import StripeResource
from stripe_customer_assets.stripe_api import StripeAccessError

SENSOR_INTERVAL_S = int(os.environ.get("STRIPE_SENSOR_INTERVAL_SECONDS", "60"))

stripe_import_job = dg.define_asset_job(
    "stripe_import",
    selection=dg.AssetSelection.assets(MIRROR_KEY) | enabled_imports(),
    description="Refresh the Stripe customer mirror, then every enabled import pipeline.",
)


@dg.sensor(
    job=stripe_import_job,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "One Stripe call per tick (the newest customer event); requests a refresh only when "
        "customers changed. Interval: STRIPE_SENSOR_INTERVAL_SECONDS (default 60)."
    ),
)
def stripe_customer_changes(context: dg.SensorEvaluationContext, stripe: StripeResource):
    try:
        event = newest_event(stripe.api())
    except StripeAccessError as err:
        return dg.SkipReason(str(err))
    newest = event["id"] if event else "none"
    if newest == context.cursor:
        return dg.SkipReason(f"no customer events since {newest}")
    context.update_cursor(newest)
    return dg.RunRequest(run_key=f"customers-{newest}", tags={"stripe/newest_event": newest})

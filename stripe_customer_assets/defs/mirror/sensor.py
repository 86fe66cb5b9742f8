"""Stay updated: a sensor that spends one Stripe call per tick and runs only on change.

Each tick asks Stripe for the newest customer event (``GET /v1/events?limit=1``). When it
differs from the event the sensor saw last, it requests one run of ``stripe_import``
(the mirror and every enabled import pipeline). Stripe may list an event late, after a
newer one (up to the mirror's overlap, ``STRIPE_EVENTS_OVERLAP_SECONDS``): so once that
long has passed since the newest event, one more "settle" run reads what came late.
Otherwise it skips.
"""


import json
import os

import dagster as dg

from stripe_customer_assets.lib.keys import MIRROR_KEY, enabled_imports
from stripe_customer_assets.mirror.events import newest_event
from stripe_customer_assets.mirror.sync import events_overlap_s
from stripe_customer_assets.resources import StripeResource
from stripe_customer_assets.stripe_api import StripeAccessError

SENSOR_INTERVAL_S = int(os.environ.get("STRIPE_SENSOR_INTERVAL_SECONDS", "60"))

stripe_import_job = dg.define_asset_job(
    "stripe_import",
    selection=dg.AssetSelection.assets(MIRROR_KEY) | enabled_imports(),
    description="Refresh the Stripe customer mirror, then every enabled import pipeline.",
)


def _parse(cursor: str | None) -> dict:
    """The sensor's cursor: {"newest", "created", "settled"}; an older plain event id is settled."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"newest": cursor, "settled": True}


@dg.sensor(
    job=stripe_import_job,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "One Stripe call per tick (the newest customer event); requests a refresh only when "
        "customers changed, and one more once events listed late are in. "
        "Interval: STRIPE_SENSOR_INTERVAL_SECONDS (default 60)."
    ),
)
def stripe_customer_changes(context: dg.SensorEvaluationContext, stripe: StripeResource):
    api = stripe.api()
    try:
        event = newest_event(api)
    except StripeAccessError as err:
        return dg.SkipReason(str(err))
    newest = event["id"] if event else "none"
    seen = _parse(context.cursor)
    if newest != seen.get("newest"):
        created = event.get("created") if event else None
        context.update_cursor(json.dumps({"newest": newest, "created": created, "settled": event is None}))
        return dg.RunRequest(run_key=f"customers-{newest}", tags={"stripe/newest_event": newest})
    created = seen.get("created")
    if not seen.get("settled") and isinstance(created, int) and api.now().timestamp() >= created + events_overlap_s():
        context.update_cursor(json.dumps({**seen, "settled": True}))
        return dg.RunRequest(
            run_key=f"customers-{newest}-settled", tags={"stripe/newest_event": newest, "stripe/settle": "true"}
        )
    return dg.SkipReason(f"no customer events since {newest}")

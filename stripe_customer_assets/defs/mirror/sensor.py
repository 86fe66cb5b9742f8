"""Stay updated: a sensor that spends one Stripe call per tick and runs only on change.

Each tick asks Stripe for the newest customer event (``GET /v1/events?limit=1``). When it
differs from the event the sensor saw last, it requests one run of ``stripe_import``
(the mirror and every enabled import pipeline). Stripe may list an event late, after a
newer one (up to the mirror's overlap, ``STRIPE_EVENTS_OVERLAP_SECONDS``): so once that
long has passed since the newest event, one more "settle" run reads what came late.
On a quiet account it also requests a run when it requested none for ``KEEPALIVE_S`` (a
week): each run moves the mirror's cursor forward on Stripe's clock, so the cursor never
falls out of Stripe's 30-day event retention and the mirror never has to rescan. Otherwise
it skips.
"""


import json
import os

import dagster as dg

from stripe_customer_assets.accounts.config import ACCOUNTS_FILE_ENV
from stripe_customer_assets.lib.keys import MIRROR_KEY, enabled_imports
from stripe_customer_assets.mirror.events import newest_event
from stripe_customer_assets.mirror.sync import events_overlap_s
from stripe_customer_assets.resources import StripeResource
from stripe_customer_assets.stripe_api import StripeAccessError

SENSOR_INTERVAL_S = int(os.environ.get("STRIPE_SENSOR_INTERVAL_SECONDS", "60"))
# A run at least this often, changes or not: well inside Stripe's 30-day event retention.
KEEPALIVE_S = 7 * 24 * 3600

def _single_account() -> bool:
    return not (os.environ.get(ACCOUNTS_FILE_ENV) or "").strip()


# With an accounts file the mirror is partitioned by account and kept current by the sweep
# (``accounts.py``); the job then runs the import pipelines over what is mirrored.
stripe_import_job = (
    dg.define_asset_job(
        "stripe_import",
        selection=dg.AssetSelection.assets(MIRROR_KEY) | enabled_imports(),
        description="Refresh the Stripe customer mirror, then every enabled import pipeline.",
    )
    if _single_account()
    else dg.define_asset_job(
        "stripe_import",
        selection=enabled_imports(),
        description="Every enabled import pipeline over the mirror of every account (the sweep "
        "sensor stripe_accounts_sweep refreshes each account's partition of stripe/customers).",
    )
)


def _parse(cursor: str | None) -> dict:
    """The sensor's cursor: {"newest", "created", "settled", "requested"} ("requested": Stripe's
    time of the last run requested); an older plain event id is settled."""
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
    """(Single-account deployments; with STRIPE_ACCOUNTS_FILE, ``stripe_accounts_sweep``.)"""
    try:
        api = stripe.api()
        event = newest_event(api)
    except StripeAccessError as err:
        return dg.SkipReason(str(err))
    newest = event["id"] if event else "none"
    seen = _parse(context.cursor)
    now = int(api.now().timestamp())  # Stripe's clock (the answer's Date)
    if newest != seen.get("newest"):
        created = event.get("created") if event else None
        context.update_cursor(
            json.dumps({"newest": newest, "created": created, "settled": event is None, "requested": now})
        )
        return dg.RunRequest(run_key=f"customers-{newest}", tags={"stripe/newest_event": newest})
    created = seen.get("created")
    if not seen.get("settled") and isinstance(created, int) and now >= created + events_overlap_s():
        context.update_cursor(json.dumps({**seen, "settled": True, "requested": now}))
        return dg.RunRequest(
            run_key=f"customers-{newest}-settled", tags={"stripe/newest_event": newest, "stripe/settle": "true"}
        )
    requested = seen.get("requested")
    if not isinstance(requested, int):  # a cursor from before keep-alive runs: count from now
        context.update_cursor(json.dumps({**seen, "requested": now}))
    elif now - requested >= KEEPALIVE_S:
        context.update_cursor(json.dumps({**seen, "requested": now}))
        return dg.RunRequest(
            run_key=f"customers-{newest}-keepalive-{now}", tags={"stripe/newest_event": newest, "stripe/keepalive": "true"}
        )
    return dg.SkipReason(f"no customer events since {newest}")


if not _single_account():
    # With an accounts file the sweep (``accounts.py``) watches every account instead.
    del stripe_customer_changes

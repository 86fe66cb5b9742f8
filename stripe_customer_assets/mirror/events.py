"""The customer change feed, ``GET /v1/events`` (listed by ``mirror/event_stage.py``, applied by
``mirror/feed.py``): its event types, page size and retention, and the sensor's one-event read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stripe_customer_assets.stripe_api import StripeApi

CUSTOMER_EVENT_TYPES = ["customer.created", "customer.updated", "customer.deleted"]
PAGE_SIZE = 100
# Stripe keeps events 30 days; a cursor is given up a little before that, not after.
EVENT_RETENTION = dt.timedelta(days=30)
RETENTION_MARGIN = dt.timedelta(hours=6)


class CursorExpired(Exception):
    """The cursor is older than Stripe's event retention window: events may be gone unseen."""


def newest_event(api: StripeApi) -> dict[str, Any] | None:
    """The newest customer event, or None when the account has none."""
    page = api.get("/v1/events", limit=1, types=CUSTOMER_EVENT_TYPES)
    data = page.get("data") or []
    return data[0] if data else None

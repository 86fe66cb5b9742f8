"""The customer change feed, ``GET /v1/events`` (read by ``mirror/feed.py``)."""

from __future__ import annotations

from typing import Any

from stripe_customer_assets.stripe_api import StripeApi

CUSTOMER_EVENT_TYPES = ["customer.created", "customer.updated", "customer.deleted"]
PAGE_SIZE = 100


class CursorExpired(Exception):
    """The cursor is older than Stripe's event retention window: events may be gone unseen."""


def newest_event(api: StripeApi) -> dict[str, Any] | None:
    """The newest customer event, or None when the account has none."""
    page = api.get("/v1/events", limit=1, types=CUSTOMER_EVENT_TYPES)
    data = page.get("data") or []
    return data[0] if data else None

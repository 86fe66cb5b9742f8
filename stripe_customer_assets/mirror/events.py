"""Reading the customer change feed: ``GET /v1/events`` newer than the cursor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from stripe_customer_assets.stripe_api import StripeApi, StripeRequestError

CUSTOMER_EVENT_TYPES = ["customer.created", "customer.updated", "customer.deleted"]
PAGE_SIZE = 100


class CursorExpired(Exception):
    """The cursor's event is no longer in Stripe's event retention window."""


def newest_event(api: StripeApi) -> dict[str, Any] | None:
    """The newest customer event, or None when the account has none."""
    page = api.get("/v1/events", limit=1, types=CUSTOMER_EVENT_TYPES)
    data = page.get("data") or []
    return data[0] if data else None


def events_after(api: StripeApi, event_id: str) -> Iterator[list[dict[str, Any]]]:
    """Pages of customer events newer than ``event_id``, oldest page first.

    ``ending_before`` returns the page immediately newer than the cursor; each page is
    newest-first, so the next cursor is its first element. ceil(e/100) calls for e events,
    one call when nothing changed.
    """
    cursor = event_id
    while True:
        try:
            page = api.get("/v1/events", limit=PAGE_SIZE, types=CUSTOMER_EVENT_TYPES, ending_before=cursor)
        except StripeRequestError as err:
            if err.status == 404 or err.code == "resource_missing":
                raise CursorExpired(str(err)) from err
            raise
        data = page.get("data") or []
        if data:
            yield list(reversed(data))
            cursor = data[0]["id"]
        if not page.get("has_more") or not data:
            return


def events_since(api: StripeApi, since: dt.datetime) -> Iterator[list[dict[str, Any]]]:
    """Pages of customer events created at or after ``since`` (used when no event id is known)."""
    pages: list[list[dict[str, Any]]] = []
    starting_after = None
    while True:
        params: dict[str, Any] = {
            "limit": PAGE_SIZE,
            "types": CUSTOMER_EVENT_TYPES,
            "created": {"gte": int(since.timestamp())},
        }
        if starting_after:
            params["starting_after"] = starting_after
        page = api.get("/v1/events", **params)
        data = page.get("data") or []
        if data:
            pages.append(list(reversed(data)))
            starting_after = data[-1]["id"]
        if not page.get("has_more") or not data:
            break
    yield from reversed(pages)

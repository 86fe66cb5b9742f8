"""A write answered with a failure Stripe saved under its idempotency key: did it happen?

Stripe saves the result of a request once it began executing, a 500 included, and replays
it for 24 hours to every retry with the same key and parameters
(https://docs.stripe.com/api/idempotent_requests). Retrying is then useless, and the write
may or may not have been applied. So, instead of spending every retry (and a day of failed
runs) on the saved answer:

- an update is read back (``GET /v1/customers/{id}``): when the customer holds every value
  the body sent, the write happened;
- a create is looked up by its key: the ``customer.created`` events of the last 24 hours
  whose ``request.idempotency_key`` is one this entry sent, then (events can become listable
  late) the customers created in the last minutes that hold every value the body sent;
- a write that did not happen is sent again under a new key that is still deterministic
  (``<key>-r1``, ``<key>-r2``): a re-run after a crash finds or repeats the same requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from stripe_customer_assets.export.diff import same
from stripe_customer_assets.stripe_api import StripeApi, StripeRequestError

MAX_RESENDS = 2
KEY_WINDOW = dt.timedelta(hours=24, minutes=10)  # a saved answer lives 24 h (plus clock skew)
EVENT_LAG = dt.timedelta(minutes=5)  # events can become listable this late
MAX_PAGES = 50


def resend_key(key: str, attempt: int) -> str:
    """The key of the ``attempt``-th re-send of a write that did not happen."""
    return key if attempt == 0 else f"{key}-r{attempt}"


def keys_of(key: str) -> set[str]:
    """Every key a write may have been sent under (the plan's and its re-sends)."""
    return {resend_key(key, n) for n in range(MAX_RESENDS + 1)}


def payload_applied(payload: dict[str, Any], customer: dict[str, Any] | None) -> bool:
    """True when ``customer`` holds every value ``payload`` sends ("" as no value)."""
    if not customer or customer.get("deleted"):
        return False
    return _holds(payload, customer)


def _holds(sent: dict[str, Any], held: Any) -> bool:
    held = held if isinstance(held, dict) else {}
    for name, value in sent.items():
        if isinstance(value, dict):
            if not _holds(value, held.get(name)):
                return False
        elif not same(held.get(name), value):
            return False
    return True


def update_applied(api: StripeApi, customer_id: str, payload: dict[str, Any]) -> bool:
    return payload_applied(payload, api.get(f"/v1/customers/{customer_id}"))


def find_created(api: StripeApi, key: str, payload: dict[str, Any]) -> str | None:
    """The id of the customer a create under ``key`` (or a re-send of it) made, or None."""
    now = api.now()
    keys = keys_of(key)
    since = int((now - KEY_WINDOW).timestamp())
    for event in _pages(api, "/v1/events", {"type": "customer.created", "created": {"gte": since}}):
        request = event.get("request") or {}
        if request.get("idempotency_key") in keys:
            return str(event["data"]["object"]["id"])
    recent = int((now - EVENT_LAG).timestamp())
    for customer in _pages(api, "/v1/customers", {"created": {"gte": recent}}):
        if payload_applied(payload, customer):
            return str(customer["id"])
    return None


def _pages(api: StripeApi, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    after: str | None = None
    for _ in range(MAX_PAGES):
        page = api.get(path, limit=100, starting_after=after, **params)
        data = page.get("data") or []
        yield from data
        if not page.get("has_more") or not data:
            return
        after = data[-1]["id"]
    raise StripeRequestError(
        f"more than {MAX_PAGES * 100} items in {path} since the write: cannot tell whether "
        "it happened",
        status=None,
        code=None,
        param=None,
    )

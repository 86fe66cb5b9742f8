"""The key's shape is checked before any request; no message ever carries a header value."""

from __future__ import annotations

import traceback

import pytest
import stripe

from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi
from stripe_customer_assets.stripe_api.keys import scrub

SECRET = "sk_test_KEYTEXT0123456789abcdefghij"


def api_for(standin, key: str) -> StripeApi:
    return StripeApi(key, api_base=standin.base_url, rate_limit=1000, backoff_base_s=0.01)


def shown(err: BaseException) -> str:
    """Everything a log or Dagster would keep of an exception."""
    return "".join(traceback.format_exception(err)) + repr(err)


@pytest.mark.parametrize("padding", ["\n", "\r\n", " ", "\t\n"])
def test_a_key_with_surrounding_whitespace_works(standin, padding):
    standin.add_api_key(SECRET)
    api = api_for(standin, SECRET + padding)
    assert api.get("/v1/customers", limit=1)["object"] == "list"
    assert api.stats.retries == 0


@pytest.mark.parametrize("inside", ["\n", " ", "\x00", "é"])
def test_a_key_with_other_characters_inside_is_refused_naming_the_variable(standin, inside):
    bad = SECRET[:12] + inside + SECRET[12:]
    with pytest.raises(StripeAccessError) as caught:
        api_for(standin, bad)
    assert "STRIPE_API_KEY" in str(caught.value)
    assert SECRET[:12] not in shown(caught.value) and SECRET[12:] not in shown(caught.value)
    assert standin.stats()["requests_total"] == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_refused_header_is_not_retried_and_its_value_never_shown(standin, method):
    """Past the key check (e.g. a header set some other way), requests refuses the header
    with an InvalidHeader error quoting it: one attempt, and a message without the value."""
    standin.add_api_key(SECRET)
    api = api_for(standin, SECRET)
    bad = SECRET + "\n"
    api._reader.headers["Authorization"] = f"Bearer {bad}"
    api._client = stripe.StripeClient(
        bad, base_addresses={"api": standin.base_url}, max_network_retries=0
    )
    with pytest.raises(StripeAccessError) as caught:
        api.request(method, "/v1/customers", {"limit": 1} if method == "get" else {"name": "x"})
    assert "STRIPE_API_KEY" in str(caught.value)
    assert SECRET not in shown(caught.value) and "KEYTEXT" not in shown(caught.value)
    assert api.stats.calls == 1 and api.stats.retries == 0
    assert standin.stats()["requests_total"] == 0


def test_scrub_removes_keys_and_bearer_values_but_keeps_stripes_masked_form():
    text = (
        f"header value: 'Bearer {SECRET}\\n' / key {SECRET} / rk_live_ABC123def / "
        "Invalid API Key provided: sk_test_****6789"
    )
    out = scrub(text, SECRET)
    assert "KEYTEXT" not in out and "ABC123def" not in out
    assert "sk_test_****6789" in out


def test_a_run_with_a_malformed_key_stops_naming_the_variable(standin, tmp_path):
    import dagster as dg

    from stripe_customer_assets.defs.mirror.assets import stripe_customers
    from stripe_customer_assets.resources import StripeResource, WarehouseResource

    result = dg.materialize(
        [stripe_customers],
        resources={
            "stripe": StripeResource(api_key=SECRET[:12] + "\n" + SECRET[12:], api_base=standin.base_url),
            "warehouse": WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}"),
        },
        raise_on_error=False,
    )

    assert not result.success
    errors = "".join(
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.is_failure and getattr(e.event_specific_data, "error", None)
    )
    assert "The Stripe API key in STRIPE_API_KEY contains spaces, line breaks" in errors
    assert SECRET[12:] not in errors
    assert standin.stats()["requests_total"] == 0

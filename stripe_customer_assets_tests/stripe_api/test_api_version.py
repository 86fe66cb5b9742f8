"""Every request carries the pinned Stripe-Version, overridable by STRIPE_API_VERSION."""

from __future__ import annotations

import pytest

from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.stripe_api.client import STRIPE_API_VERSION
from stripe_standin import STANDIN_API_KEY


def versions_sent(standin) -> set[str]:
    return {r["headers"].get("stripe-version") for r in standin.requests(clear=True)}


def client(standin, **kw) -> StripeApi:
    return StripeApi(STANDIN_API_KEY, api_base=standin.base_url, **kw)


def test_reads_and_writes_send_the_pinned_version(standin, monkeypatch):
    monkeypatch.delenv("STRIPE_API_VERSION", raising=False)
    api = client(standin)
    assert STRIPE_API_VERSION == "2023-08-16" and api.api_version == STRIPE_API_VERSION
    api.request("post", "/v1/customers", {"email": "pin@example.com"})
    api.get("/v1/customers", limit=1)
    api.get("/v1/events", limit=1)
    assert versions_sent(standin) == {"2023-08-16"}


def test_the_environment_variable_overrides_the_pin(standin, monkeypatch):
    monkeypatch.setenv("STRIPE_API_VERSION", "2024-09-30.acacia")
    api = client(standin)
    api.request("post", "/v1/customers", {"email": "env@example.com"})
    api.get("/v1/customers", limit=1)
    assert api.api_version == "2024-09-30.acacia"
    assert versions_sent(standin) == {"2024-09-30.acacia"}


def test_a_malformed_version_names_the_variable(monkeypatch):
    monkeypatch.setenv("STRIPE_API_VERSION", "latest")
    with pytest.raises(ValueError, match="STRIPE_API_VERSION='latest'"):
        StripeApi(STANDIN_API_KEY)

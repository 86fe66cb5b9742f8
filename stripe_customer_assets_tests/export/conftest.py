"""Fixtures for export tests: the stand-in, a fast API client, unique schemas per test."""

from __future__ import annotations

import pytest

from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets_tests.export.support import Syncer
from stripe_standin.app import STANDIN_API_KEY
from stripe_standin.server import StripeStandin


@pytest.fixture
def standin():
    with StripeStandin(seed=7) as server:
        yield server


@pytest.fixture
def api(standin) -> StripeApi:
    return StripeApi(
        STANDIN_API_KEY, api_base=standin.base_url, rate_limit=5000, endpoint_rate_limit=5000, backoff_base_s=0.01
    )


@pytest.fixture
def schemas(unique_schema):
    """Unique schema names (model, export state)."""
    return {"model": unique_schema("crm"), "state": unique_schema("export")}


@pytest.fixture
def accounts_table(schemas) -> str:
    return f'"{schemas["model"]}"."accounts"'


@pytest.fixture
def syncer(standin, api, wh, mirror_schema) -> Syncer:
    return Syncer(standin, api, wh, mirror_schema)

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe

from stripe_standin import STANDIN_API_KEY, StripeStandin, encode_form
from stripe_standin.spec import find_spec, load_spec

stripe.enable_telemetry = False


class Api:
    """Raw HTTP access to the stand-in, for exact statuses, headers and bodies."""

    def __init__(self, base_url: str, key: str | None = STANDIN_API_KEY):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.key = key

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        key: str | None | bool = True,
    ) -> tuple[int, dict[str, str], Any]:
        hdrs = dict(headers or {})
        api_key = self.key if key is True else key
        if api_key:
            hdrs["Authorization"] = f"Bearer {api_key}"
        form = params if isinstance(params, str) else encode_form(params or {})
        body = None
        if method == "POST":
            body = form.encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif form:
            path = f"{path}?{form}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            resp_headers = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        try:
            data = json.loads(raw)
        except ValueError:
            data = raw
        return r.status, resp_headers, data

    def get(self, path: str, params: Any = None, **kw: Any):
        return self.call("GET", path, params, **kw)

    def post(self, path: str, params: Any = None, **kw: Any):
        return self.call("POST", path, params, **kw)

    def delete(self, path: str, params: Any = None, **kw: Any):
        return self.call("DELETE", path, params, **kw)


@pytest.fixture
def standin() -> Iterator[StripeStandin]:
    s = StripeStandin(seed=7)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client(standin: StripeStandin) -> stripe.StripeClient:
    return standin.stripe_client()


@pytest.fixture
def api(standin: StripeStandin) -> Api:
    return Api(standin.base_url)


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    path = find_spec()
    if path is None:
        message = "Stripe's spec3.yaml not found (set STRIPE_OPENAPI_SPEC)"
        if os.environ.get("CI"):
            pytest.fail(message + ": CI runs with ../shared/stripe-openapi beside the clone")
        pytest.skip(message)
    return load_spec(path)

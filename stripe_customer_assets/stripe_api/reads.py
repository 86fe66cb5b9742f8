"""GET requests without the SDK's per-request overhead, for bulk reads.

A list page costs the SDK about 3 ms of CPU: it parses every body into ``OrderedDict``s,
rebuilds its client headers and formats log lines for every request. At Stripe's 100
requests/s that alone is a third of a core, for reads that need none of it. This sends the
same request (the SDK's API version, Stripe's form encoding, one ``requests`` session per
thread) and hands back the body text and plain ``dict``s, about 1.5 ms a page. Proxy and CA
settings come from the environment as ``requests`` reads them, once, not per request. Error
answers become the SDK's own exception types, so retries and messages are decided in one
place (``errors.classify`` / ``translate``). Writes keep going through the SDK.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import requests
import requests.utils
import stripe


def query_pairs(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Stripe's form encoding: ``created[gte]=1``, ``types[0]=a``; None is left out."""
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            yield from query_pairs(value, name)
        elif isinstance(value, (list, tuple)):
            yield from query_pairs({str(i): item for i, item in enumerate(value)}, name)
        elif isinstance(value, bool):
            yield name, "true" if value else "false"
        else:
            yield name, str(value)


def query_string(params: Mapping[str, Any]) -> str:
    return urlencode(list(query_pairs(params))).replace("%5B", "[").replace("%5D", "]")


class ReadError(Exception):
    """An answer that is not JSON (a proxy's error page, a body cut short)."""


def error_from_answer(status: int, text: str, headers: Mapping[str, str]) -> stripe.StripeError:
    """The exception the SDK raises for this answer (same class, message, code, headers)."""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return stripe.APIError(
            f"Invalid response object from API: {text[:500]!r} (HTTP response code was {status})",
            text,
            status,
            body,
            dict(headers),
        )
    message, code, param = error.get("message"), error.get("code"), error.get("param")
    args = (text, status, body, dict(headers))
    if status == 429 or (status == 400 and code == "rate_limit"):
        return stripe.RateLimitError(message, *args, code)
    if status in (400, 404):
        if error.get("type") == "idempotency_error":
            return stripe.IdempotencyError(message, *args, code)
        return stripe.InvalidRequestError(message, param, code, *args)
    if status == 401:
        return stripe.AuthenticationError(message, *args, code)
    if status == 403:
        return stripe.PermissionError(message, *args, code)
    return stripe.APIError(message, *args, code)


class Reader:
    """Sends GETs for one API key; thread-safe (one ``requests.Session`` per thread)."""

    def __init__(
        self,
        api_key: str,
        api_base: str,
        timeout_s: float,
        api_version: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ):
        self.api_base = api_base.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Stripe-Version": api_version or stripe.api_version,
            "User-Agent": f"Stripe/v1 PythonBindings/{stripe.VERSION} stripe-customer-assets",
            **(extra_headers or {}),  # Stripe-Context / Stripe-Account for a connected account
        }
        self._local = threading.local()
        # What requests would look up in the environment on every call, looked up once.
        self.proxies = requests.utils.get_environ_proxies(self.api_base)
        self.verify: bool | str = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False
            session.proxies.update(self.proxies)
            session.verify = self.verify
        return session

    def get(self, path: str, params: Mapping[str, Any] | None) -> tuple[dict[str, Any], str, Mapping[str, str]]:
        """``(json, text, headers)`` of a 200 answer; raises the SDK's exception otherwise."""
        url = self.api_base + path
        query = query_string(params or {})
        if query:
            url += "?" + query
        try:
            response = self._session().get(url, headers=self.headers, timeout=self.timeout_s)
            text = response.content.decode("utf-8", errors="replace")  # JSON is UTF-8
        except requests.exceptions.InvalidHeader:
            # Its message quotes the header value (the key): name the failure only.
            raise stripe.APIConnectionError(
                "Request not sent (InvalidHeader): a header value holds a character HTTP does not allow",
                should_retry=False,
            ) from None
        except requests.RequestException as err:
            # requests names the URL and the failure, not the request's headers (the key).
            raise stripe.APIConnectionError(
                f"Network error reaching Stripe ({type(err).__name__}): {str(err)[:300]}", should_retry=True
            ) from None
        if response.status_code != 200:
            raise error_from_answer(response.status_code, text, response.headers)
        try:
            data = json.loads(text)
        except ValueError:
            raise ReadError(f"Stripe answered 200 with a body that is not JSON ({len(text)} bytes)") from None
        if not isinstance(data, dict):
            raise ReadError("Stripe answered 200 with JSON that is not an object")
        return data, text, response.headers


CONNECTED_ACCOUNTS_PAGE = 100


def list_connected_accounts(api: Any) -> list[dict[str, Any]]:
    """Every account connected to the platform behind ``api`` (``GET /v1/accounts``, 100 a
    page, ``starting_after`` the last id): one call per hundred accounts."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": CONNECTED_ACCOUNTS_PAGE}
    while True:
        page = api.get("/v1/accounts", **params)
        data = page.get("data") or []
        found.extend(data)
        if not page.get("has_more") or not data:
            return found
        params["starting_after"] = data[-1]["id"]

"""The project's one way to call Stripe.

Every request goes through ``StripeApi.request`` (or ``fetch``, which also returns the body
text and Stripe's clock): it waits for a token from the account's rate limiter, sends the
request, and retries 429s, 5xx answers, lock timeouts, connection errors and bodies cut
short with exponential backoff and full jitter (``errors.py`` decides what a failure
means and the error it becomes). Writes go through the official SDK
(``StripeClient.raw_request``, no SDK retries); POSTs always carry an idempotency key,
stable across retries, so a retried create can never create twice. Reads go through
``reads.Reader``, the same request without the SDK's per-call CPU (bulk scans make a
hundred of them a second). Everything returns plain JSON dicts (no ``StripeObject``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import stripe

from stripe_customer_assets.stripe_api.errors import (
    StripeAccessError,
    StripeReplayedError,
    classify,
    replayed_failure,
    translate,
)
from stripe_customer_assets.stripe_api.keys import ApiKeyError, clean_api_key, scrub
from stripe_customer_assets.stripe_api.limiter import EndpointLimiters, RateLimiter
from stripe_customer_assets.stripe_api.reads import Reader, ReadError

stripe.enable_telemetry = False

DEFAULT_API_BASE = "https://api.stripe.com"
# The Stripe API version every request is sent with (``Stripe-Version``): the version of the
# OpenAPI description the project is written against. Lists and retrieves are rendered in it;
# events keep the version of their creation (see ``mirror/versions.py``).
STRIPE_API_VERSION = "2023-08-16"
API_VERSION_ENV = "STRIPE_API_VERSION"
# The headers that name a connected account; Stripe-Context supersedes Stripe-Account.
CONTEXT_HEADERS = ("Stripe-Context", "Stripe-Account")
# Stripe's default limit on each endpoint (each named operation), on top of the account's.
STRIPE_ENDPOINT_RATE_LIMIT = 25.0


@dataclass
class ApiStats:
    """Counters for one run; thread-safe."""

    calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    failures: Counter = field(default_factory=Counter)
    calls_by_endpoint: Counter = field(default_factory=Counter)
    limiter_wait_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_call(self, endpoint: str, waited: float) -> None:
        with self._lock:
            self.calls += 1
            self.calls_by_endpoint[endpoint] += 1
            self.limiter_wait_s += waited

    def record_retry(self, kind: str) -> None:
        with self._lock:
            self.retries += 1
            self.failures[kind] += 1
            if kind.startswith("429"):
                self.rate_limited += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": self.calls,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "failures": dict(self.failures),
                "calls_by_endpoint": dict(self.calls_by_endpoint),
                "limiter_wait_s": round(self.limiter_wait_s, 3),
            }


@dataclass(frozen=True)
class Reply:
    """One answer from Stripe: the parsed JSON, the body text, and Stripe's clock."""

    data: dict[str, Any]
    text: str
    date: dt.datetime | None  # the Date header (whole seconds), when Stripe sent one
    elapsed_s: float  # from sending the request to its answer (the attempt that succeeded)
    request_id: str | None = None  # Stripe's Request-Id header (its request log's id)


def header(headers: Any, name: str) -> str | None:
    """A response header's value, whatever the case of its name (None when absent)."""
    if not headers:
        return None
    value = headers.get(name) or headers.get(name.lower())
    return str(value) if value else None


def _endpoint(method: str, path: str) -> str:
    """``POST /v1/customers/cus_123`` -> ``POST /v1/customers/{id}`` for counting."""
    return f"{method.upper()} " + re.sub(r"/(cus|evt)_[A-Za-z0-9]+", r"/{id}", path)


def pinned_api_version(override: str | None = None) -> str:
    """The Stripe-Version to send: ``override``, else ``$STRIPE_API_VERSION``, else the pin."""
    version = (override or os.environ.get(API_VERSION_ENV) or STRIPE_API_VERSION).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?", version):
        raise ValueError(
            f"{API_VERSION_ENV}={version!r} is not a Stripe API version: use a date such as "
            f"{STRIPE_API_VERSION} (optionally with its release name, e.g. 2024-09-30.acacia)."
        )
    return version


def default_rate_limit(api_key: str) -> float:
    """Stripe allows about 100 requests/s in live mode and 25/s in test mode; stay a bit under."""
    return 90.0 if "_live_" in api_key else 20.0


def key_mode(api_key: str) -> str | None:
    """``"live"`` or ``"test"`` from the key's prefix (``sk_live_``, ``rk_test_``, ...), else None.

    Every Stripe secret and restricted key says its mode (https://docs.stripe.com/keys).
    """
    match = re.match(r"^(?:sk|rk)_(live|test)_", api_key)
    return match.group(1) if match else None


def default_endpoint_rate_limit() -> float:
    """Stripe allows 25 requests/s on each endpoint unless it raised the account's limits."""
    return 0.9 * STRIPE_ENDPOINT_RATE_LIMIT


class StripeApi:
    """A Stripe account reached through one ``StripeClient`` and its rate limiters.

    ``limiter`` paces the whole account (``rate_limit`` requests/s); ``endpoint_limiters``
    pace each endpoint (``endpoint_rate_limit`` requests/s, default 22.5: under Stripe's
    25). Pass the same objects to every client of one account so they share the budget.
    """

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        rate_limit: float | None = None,
        limiter: RateLimiter | None = None,
        endpoint_rate_limit: float | None = None,
        endpoint_limiters: EndpointLimiters | None = None,
        max_retries: int = 8,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 20.0,
        timeout_s: float = 30.0,
        stats: ApiStats | None = None,
        api_version: str | None = None,
        stripe_account: str | None = None,
        context_header: str = "Stripe-Context",
        key_env: str = "STRIPE_API_KEY",
        platform: str | None = None,
    ):
        try:
            api_key = clean_api_key(api_key)  # a trailing newline from a secret file: stripped
        except ApiKeyError as err:
            raise StripeAccessError(str(err)) from None
        self._api_key = api_key  # only to scrub it from messages
        if context_header not in CONTEXT_HEADERS:
            raise ValueError(f"context_header must be one of {', '.join(CONTEXT_HEADERS)}, not {context_header!r}")
        # A connected account reached with its platform's key: every request names it.
        self.stripe_account = stripe_account
        self.context_header = context_header
        self.key_env = key_env  # the variable the key came from (for messages)
        self.platform = platform  # the platform's name, for a connected account
        self.mode = key_mode(api_key)  # "test" | "live" | None: the data set the key reaches
        self.livemode = self.mode == "live"  # test and live mode are separate data sets
        self._key_digest = hashlib.sha256(api_key.encode()).digest()
        self.api_version = pinned_api_version(api_version)
        self.api_base = api_base.rstrip("/")
        self.limiter = limiter or RateLimiter(rate_limit or default_rate_limit(api_key))
        self.endpoint_limiters = endpoint_limiters or EndpointLimiters(
            endpoint_rate_limit or default_endpoint_rate_limit()
        )
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.stats = stats or ApiStats()
        self._server_time: tuple[dt.datetime, float] | None = None
        self._last_date: tuple[str, dt.datetime] | None = None
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self.api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout_s),
            stripe_version=self.api_version,
            **self._sdk_account_option(),
        )
        self._reader = Reader(
            api_key, self.api_base, timeout_s, self.api_version, extra_headers=self.account_headers()
        )

    def account_headers(self) -> dict[str, str]:
        """The header naming the connected account (none for an account's own key)."""
        return {self.context_header: self.stripe_account} if self.stripe_account else {}

    def _sdk_account_option(self) -> dict[str, str]:
        if not self.stripe_account:
            return {}
        option = "stripe_context" if self.context_header == "Stripe-Context" else "stripe_account"
        return {option: self.stripe_account}

    # -- requests -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Send one logical request, retrying transient failures; return the JSON body."""
        return self.fetch(method, path, params, idempotency_key=idempotency_key).data

    def fetch(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Reply:
        """Like ``request``, with the body text and Stripe's clock (for bulk paths)."""
        method = method.lower()
        if method == "post" and idempotency_key is None:
            idempotency_key = f"sca-{uuid.uuid4()}"
        options: dict[str, Any] = {}
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        endpoint = _endpoint(method, path)
        attempt = 0
        while True:
            waited = self.endpoint_limiters.get(endpoint).acquire() + self.limiter.acquire()
            self.stats.record_call(endpoint, waited)
            sent = time.monotonic()
            try:
                if method == "get":
                    data, text, headers = self._reader.get(path, params)
                else:
                    response = self._client.raw_request(method, path, **(params or {}), **options)
                    data, text, headers = response.data, response.body, response.headers
                elapsed = time.monotonic() - sent
                return Reply(
                    data, text, self._note_server_time(headers), elapsed, header(headers, "Request-Id")
                )
            except (stripe.StripeError, ReadError) as err:
                if idempotency_key is not None and replayed_failure(err):
                    raise StripeReplayedError(
                        f"Stripe {method.upper()} {path} answered {err.http_status} again, "
                        "replayed from its idempotency key: the first attempt began and failed, "
                        "and retrying with the same key cannot change that",
                        status=err.http_status,
                        idempotency_key=idempotency_key,
                    ) from None
                kind, retryable, slow_down = classify(err)
                if not retryable or attempt >= self.max_retries:
                    if self.stripe_account and getattr(err, "http_status", None) in (401, 403):
                        raise self._connected_access_error(err, method, path) from None
                    raise translate(
                        err, method, path, max_retries=self.max_retries, api_key=self._api_key, key_env=self.key_env
                    ) from None
                self.stats.record_retry(kind)
                delay = self._backoff(attempt)
                if slow_down == "endpoint":
                    self.endpoint_limiters.get(endpoint).pause(min(delay, 1.0))
                elif slow_down == "account":
                    self.limiter.pause(min(delay, 1.0))
                time.sleep(delay)
                attempt += 1

    def _connected_access_error(self, err: Any, method: str, path: str) -> StripeAccessError:
        said = scrub(err.user_message or str(err) or err.__class__.__name__, self._api_key)
        platform = f"platform '{self.platform}'" if self.platform else "the platform"
        return StripeAccessError(
            f"Stripe refused {method.upper()} {path} for connected account {self.stripe_account} "
            f"through {platform} (key in {self.key_env}, {self.context_header} header; "
            f"{err.http_status}): access may have been revoked (the account disconnected from "
            f"the platform) or the platform's key lacks a permission. Stripe said: {said}"
        )

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("get", path, params)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)

    @property
    def endpoint_rate(self) -> float:
        """Requests/s one endpoint can take: the lower of its own and the account's limit."""
        return min(self.limiter.rate, self.endpoint_limiters.rate)

    # -- Stripe's clock -------------------------------------------------------------

    def _note_server_time(self, headers: Any) -> dt.datetime | None:
        value = headers.get("Date") if headers is not None else None
        if not value:
            return None
        if self._last_date is not None and self._last_date[0] == value:
            when = self._last_date[1]  # one parse per second of Stripe's clock, not per call
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            self._last_date = (value, when)
        self._server_time = (when, time.monotonic())
        return when

    @property
    def knows_stripe_time(self) -> bool:
        """True once an answer of Stripe carried its clock (``now`` is then Stripe's)."""
        return self._server_time is not None

    def now(self) -> dt.datetime:
        """Stripe's time (from the last response's Date header), else this machine's clock.

        Retention decisions compare Stripe timestamps, so they use Stripe's clock: a skewed
        local clock must not make an expired cursor look fresh.
        """
        if self._server_time is None:
            return dt.datetime.now(dt.UTC)
        when, at = self._server_time
        return when + dt.timedelta(seconds=time.monotonic() - at)

    # -- conveniences ---------------------------------------------------------------

    def key_fingerprint(self, salt: str) -> str:
        """A short salted digest of the key: says "the same key as before", reveals nothing."""
        return hashlib.sha256(salt.encode() + self._key_digest).hexdigest()[:16]

    def check_connection(self) -> dict[str, Any]:
        """Retrieve the balance: the cheapest call that proves the key works."""
        return self.get("/v1/balance")

"""What a failed Stripe request means: retry it, slow down, or stop with a clear error.

``StripeApi.fetch`` (``client.py``) asks ``classify`` after every failed attempt whether to
try again and which rate bucket to pause, and raises what ``translate`` makes of the last
failure: an error that names the request, the status and what the user can do, with the
API key scrubbed from anything Stripe said.
"""

from __future__ import annotations

import re

import stripe

from stripe_customer_assets.stripe_api.keys import scrub
from stripe_customer_assets.stripe_api.reads import ReadError


class StripeAccessError(RuntimeError):
    """The API key is missing, wrong (401) or lacks a permission (403)."""


class StripeRequestError(RuntimeError):
    """Stripe refused a request for a reason retrying will not fix (a 4xx other than 429)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        code: str | None,
        param: str | None,
        request_id: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param
        self.request_id = request_id  # Stripe's Request-Id of the refused request


class StripeReplayedError(StripeRequestError):
    """Stripe answered a POST with a failure saved under its idempotency key.

    Stripe saves the result of a request that began executing, a 500 included, and replays
    it (``Idempotent-Replayed: true``) to every retry with the same key for 24 hours:
    retrying cannot help, and whether the write happened is unknown until read back.
    """

    def __init__(self, message: str, *, status: int | None, idempotency_key: str):
        super().__init__(message, status=status, code=None, param=None)
        self.idempotency_key = idempotency_key


def _code(err: stripe.StripeError) -> str | None:
    """The error code, from the exception or its error object (the SDK sets one or the other)."""
    return err.code or getattr(getattr(err, "error", None), "code", None)


def replayed_failure(err: stripe.StripeError | ReadError) -> bool:
    """A 5xx Stripe replayed from the idempotency key (saved when the request began)."""
    if isinstance(err, ReadError) or err.http_status is None or err.http_status < 500:
        return False
    headers = err.headers or {}
    flag = headers.get("Idempotent-Replayed") or headers.get("idempotent-replayed")
    return str(flag).lower() == "true"


def _header_error(err: stripe.StripeError) -> bool:
    """``requests`` refused a header value (its message quotes the value: never show it)."""
    return isinstance(err, stripe.APIConnectionError) and "InvalidHeader" in str(err)


def classify(err: stripe.StripeError | ReadError) -> tuple[str, bool, str | None]:
    """Return (kind, retryable, slow_down) for a failed attempt.

    ``slow_down`` names the bucket every thread should pause with: ``"account"`` after a
    429 over the account's rate, ``"endpoint"`` over one endpoint's, None otherwise
    (concurrency limits and lock timeouts clear when requests finish, not with time).
    """
    if isinstance(err, ReadError):  # a GET answer cut short: reading again is safe
        return "bad-json", True, None
    if _header_error(err):  # refused before sending: the same headers fail every time
        return "invalid-header", False, None
    status = err.http_status
    if isinstance(err, stripe.APIConnectionError) or status is None:
        return "connection", True, None
    if 200 <= status < 300:  # a POST's answer cut short: its idempotency key replays it
        return "bad-json", True, None
    headers = err.headers or {}
    if headers.get("Stripe-Should-Retry") == "false" or headers.get("stripe-should-retry") == "false":
        return f"{status}", False, None
    if status == 429:
        reason = headers.get("Stripe-Rate-Limited-Reason") or headers.get("stripe-rate-limited-reason")
        if _code(err) == "lock_timeout":
            return "429 lock_timeout", True, None
        slow_down = {"endpoint-rate": "endpoint", "global-rate": "account", None: "account"}.get(reason)
        return f"429 {reason or 'rate_limit'}", True, slow_down
    if status == 409:  # a concurrent request with the same idempotency key is in flight
        return "409", True, None
    if status >= 500:
        return f"{status}", True, None
    return f"{status}", False, None


def translate(
    err: stripe.StripeError | ReadError,
    method: str,
    path: str,
    *,
    max_retries: int,
    api_key: str,
    key_env: str = "STRIPE_API_KEY",
) -> Exception:
    """The error to raise for the last failure of ``method path`` (``api_key`` only to scrub it)."""
    if isinstance(err, ReadError):
        return StripeRequestError(
            f"Stripe {method.upper()} {path} kept failing after {max_retries} retries: {err}",
            status=200,
            code=None,
            param=None,
        )
    status = err.http_status
    if _header_error(err):
        return StripeAccessError(
            f"Stripe {method.upper()} {path} was not sent: a request header holds a "
            f"character HTTP does not allow. The Authorization header carries {key_env}: "
            "check it for spaces, line breaks or other invisible characters (its value is "
            "not shown)."
        )
    message = scrub(err.user_message or str(err) or err.__class__.__name__, api_key)
    if status is not None and 200 <= status < 300:  # the SDK's message quotes the body
        message = f"Stripe answered {status} with a body that is not JSON"
    if status == 401:
        return StripeAccessError(
            f"Stripe rejected the API key in {key_env} (401 Unauthorized): check that "
            f"the key is current and belongs to the intended account. Stripe said: {message}"
        )
    if status == 403:
        match = re.search(r"'(rak_[a-z_]+)'", message)
        needed = f"the '{match.group(1)}' permission" if match else "a permission"
        return StripeAccessError(
            f"The restricted key in {key_env} lacks {needed} needed for "
            f"{method.upper()} {path} (403). Grant it in the Stripe dashboard "
            f"(Developers > API keys) or use a key that has it. Stripe said: {message}"
        )
    if status is not None and 400 <= status < 500 and status != 429:
        return StripeRequestError(
            f"Stripe refused {method.upper()} {path} ({status}"
            + (f", {_code(err)}" if _code(err) else "")
            + f"): {message}",
            status=status,
            code=_code(err),
            param=getattr(getattr(err, "error", None), "param", None),
            request_id=getattr(err, "request_id", None),
        )
    return StripeRequestError(
        f"Stripe {method.upper()} {path} kept failing after {max_retries} retries: {message}",
        status=status,
        code=_code(err),
        param=None,
        request_id=getattr(err, "request_id", None),
    )

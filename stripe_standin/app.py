"""Request handling, independent of the HTTP transport: auth, routing, permissions, rate
limits, injected faults, latency, idempotency, parameter validation and the endpoints."""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import params as P
from .account_limits import AccountLimiters
from .clock import Clock
from .connect import AccountRegistry
from .connect_api import acting_account, run_accounts
from .customers import dumps, expanded
from .errors import StripeError, invalid, no_such
from .faults import PRE_APPLY, RATE_LIMIT_REASONS, SAVED_500, Fault, FaultInjector
from .forms import FormError, parse_form
from .idempotency import IdempotencyStore
from .modes import Datasets, key_is_live
from .seed import malform
from .spec import API_VERSION, OPERATIONS
from .stats import Stats
from .store import RequestInfo, Store, bad_limit
from .test_clocks import live_mode_refusal
from .versions import is_current_shape, render_customer

log = logging.getLogger("stripe_standin")

STANDIN_API_KEY = "sk_test_standin"
DEFAULT_ACCOUNT_ID = "acct_1StandinAcct0001"

_ID_TABLE = bytes(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[b % 62] for b in range(256)
)

BALANCE_BODY = dumps(
    {
        "object": "balance",
        "available": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
        "connect_reserved": [{"amount": 0, "currency": "usd"}],
        "livemode": False,
        "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
    }
)

#: endpoint -> (permission resource, access): the resource is the endpoint's first word,
#: reads are GETs and everything else writes. Stripe answers a restricted key's
#: GET /v1/account with a 403 naming ``account`` read (a Connect permission a key cannot
#: usually be given for its own account).
PERMISSIONS: dict[str, tuple[str, str]] = {
    endpoint: (
        "account" if endpoint.startswith("accounts.") else endpoint.split(".")[0],
        "read" if method == "get" else "write",
    )
    for endpoint, (method, _path) in OPERATIONS.items()
}
_RAK_NAMES = {
    "customers": "customer",
    "events": "event",
    "balance": "balance",
    "test_clocks": "test_clock",
    "account": "accounts_kyc_id_numbers",
}
PERMISSION_RESOURCES = tuple(_RAK_NAMES)
WRITE_ENDPOINTS = frozenset(
    [
        "customers.create",
        "customers.update",
        "customers.delete",
        "test_clocks.create",
        "test_clocks.delete",
        "test_clocks.advance",
        "accounts.create",
        "accounts.delete",
    ]
)

_EXACT_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/v1/customers"): "customers.list",
    ("POST", "/v1/customers"): "customers.create",
    ("GET", "/v1/events"): "events.list",
    ("GET", "/v1/balance"): "balance.retrieve",
    ("GET", "/v1/test_helpers/test_clocks"): "test_clocks.list",
    ("POST", "/v1/test_helpers/test_clocks"): "test_clocks.create",
    ("GET", "/v1/account"): "account.retrieve",
    ("GET", "/v1/accounts"): "accounts.list",
    ("POST", "/v1/accounts"): "accounts.create",
}
_ID_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (
        re.compile(r"^/v1/customers/([^/]+)$"),
        {"GET": "customers.retrieve", "POST": "customers.update", "DELETE": "customers.delete"},
    ),
    (re.compile(r"^/v1/events/([^/]+)$"), {"GET": "events.retrieve"}),
    (
        re.compile(r"^/v1/test_helpers/test_clocks/([^/]+)$"),
        {"GET": "test_clocks.retrieve", "DELETE": "test_clocks.delete"},
    ),
    (re.compile(r"^/v1/test_helpers/test_clocks/([^/]+)/advance$"), {"POST": "test_clocks.advance"}),
    (re.compile(r"^/v1/accounts/([^/]+)$"), {"GET": "accounts.retrieve", "DELETE": "accounts.delete"}),
]
ROUTE_LABELS = {name: f"{m.upper()} {p}" for name, (m, p) in OPERATIONS.items()}

_LOCK_TIMEOUT_MESSAGE = (
    "This object cannot be accessed right now because another API request or Stripe process "
    "is currently accessing it. If you see this error intermittently, retry the request. If "
    "you see this error frequently and are making multiple concurrent requests to a single "
    "object, make your requests serially or at a lower rate. See "
    "https://stripe.com/docs/rate-limits for more details."
)
_RATE_LIMIT_MESSAGE = (
    "Request rate limit exceeded. Learn more about rate limits here "
    "https://stripe.com/docs/rate-limits."
)
_CONCURRENCY_MESSAGE = (
    "This request exceeded the concurrent request limit. Learn more about rate limits here "
    "https://stripe.com/docs/rate-limits."
)


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False  # drop the connection with a TCP reset instead of answering


@dataclass
class Settings:
    latency_read: float = 0.0
    latency_write: float = 0.0
    latency_jitter: float = 0.0  # fraction: latency is uniform in [l*(1-j), l*(1+j)]
    slow_seconds: float = 5.0  # extra delay of the "slow" fault


def mask_key(key: str, tail: int = 4) -> str:
    m = re.match(r"^([a-z]{2,3}_(?:test|live)_)", key)
    prefix = m.group(1) if m else ""
    rest = key[len(prefix) :]
    shown = min(tail, len(rest) // 3)
    return prefix + "*" * (len(rest) - shown) + (rest[-shown:] if shown else "")


class StandinApp:
    """The stand-in's request handling; ``handle(Request) -> Response``."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        faults: FaultInjector,
        limiter: AccountLimiters,
        idempotency: IdempotencyStore,
        settings: Settings,
        api_keys: Iterable[str],
        restricted_keys: Mapping[str, Mapping[str, str]] | None,
        account_id: str,
        log_size: int,
        seed: int | None,
        key_accounts: Mapping[str, str] | None = None,
    ):
        # The data set (account and mode) of the request being handled, per server thread.
        self._local = threading.local()
        self.store = store
        self.clock = clock
        self.faults = faults
        self.limiter = limiter
        self.idempotency = idempotency
        self.settings = settings
        self.account_id = account_id
        self.registry = AccountRegistry(seed)  # platforms and their connected accounts
        self.datasets = Datasets(
            clock, account_id, store, idempotency, seed=seed, key_accounts=key_accounts
        )
        self.datasets.registry = self.registry
        self.keys_lock = threading.Lock()
        self.secret_keys: set[str] = set(api_keys)
        self.restricted_keys: dict[str, dict[str, str]] = {}
        for k, perms in (restricted_keys or {}).items():
            self.add_restricted_key(k, perms)
        self.stats = Stats(log_size)
        self.rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.admin_handler: Callable[[Request], Response] | None = None

    # ------------------------------------------------------------------ data sets
    # ``store`` and ``idempotency`` are those of the account and mode of the request's key
    # (``modes.Datasets``); outside a request, the default account's test data set.
    @property
    def store(self) -> Store:
        found = getattr(self._local, "store", None)
        return self._store if found is None else found

    @store.setter
    def store(self, value: Store) -> None:
        self._store = value

    @property
    def idempotency(self) -> IdempotencyStore:
        found = getattr(self._local, "idempotency", None)
        return self._idempotency if found is None else found

    @idempotency.setter
    def idempotency(self, value: IdempotencyStore) -> None:
        self._idempotency = value

    def _enter_dataset(self, account: str, live: bool) -> None:
        self._local.store, self._local.idempotency = self.datasets.get(account, live)
        self._local.account, self._local.livemode = account, live

    # ------------------------------------------------------------------ keys
    def add_restricted_key(self, key: str, permissions: Mapping[str, str]) -> None:
        perms = {}
        for res, access in permissions.items():
            if res not in _RAK_NAMES:
                raise ValueError(
                    f"unknown permission resource {res!r}; known: {PERMISSION_RESOURCES}"
                )
            if access not in ("none", "read", "write"):
                raise ValueError(f"permission must be none/read/write, not {access!r}")
            perms[res] = access
        with self.keys_lock:
            self.restricted_keys[key] = perms

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("authorization", "").strip()
        key = ""
        if auth:
            scheme, _, cred = auth.partition(" ")
            cred = cred.strip()
            if scheme.lower() == "bearer":
                key = cred
            elif scheme.lower() == "basic":
                try:
                    key = base64.b64decode(cred).decode("utf-8").split(":", 1)[0]
                except (ValueError, UnicodeDecodeError):
                    key = cred
            else:
                key = auth
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.",
                headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
            )
        with self.keys_lock:
            known = key in self.secret_keys or key in self.restricted_keys
        if known and self.registry.is_deleted(self.datasets.identity(key)[0]):
            known = False  # the keys of a deleted account are gone with it
        if not known:
            raise StripeError(
                401,
                f"Invalid API Key provided: {mask_key(key)}",
                headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
            )
        return key

    def _authorize(self, key: str, endpoint: str, headers: Mapping[str, str]) -> None:
        """Enter the data set of the account the request acts on (the key's, or the
        connected account its Stripe-Account / Stripe-Context header names), then check a
        restricted key's permissions."""
        own, live = self.datasets.identity(key)
        acting = acting_account(self.registry, own, live, headers, mask_key(key, 6))
        if acting != own:
            self._enter_dataset(acting, live)
        with self.keys_lock:
            perms = self.restricted_keys.get(key)
        if perms is None:
            return
        resource, access = PERMISSIONS[endpoint]
        have = perms.get(resource, "none")
        if have == "write" or have == access:
            return
        rak = f"rak_{_RAK_NAMES[resource]}_{access}"
        raise StripeError(
            403,
            f"The provided key '{mask_key(key, 6)}' does not have the required permissions for "
            f"this endpoint on account '{acting}'. Having the '{rak}' permission would "
            "allow this request to continue.",
        )

    # ------------------------------------------------------------------ helpers
    def new_request_id(self) -> str:
        with self._rng_lock:
            bits = self.rng.getrandbits(112)
        return "req_" + bits.to_bytes(14, "little").translate(_ID_TABLE).decode()

    @staticmethod
    def route(method: str, path: str) -> tuple[str, str | None] | None:
        ep = _EXACT_ROUTES.get((method, path))
        if ep is not None:
            return ep, None
        for rx, methods in _ID_ROUTES:
            m = rx.match(path)
            if m:
                ep = methods.get(method)
                if ep is None:
                    return None
                return ep, unquote(m.group(1))
        return None

    def _sleep_latency(self, endpoint: str, extra: float = 0.0) -> None:
        s = self.settings
        lat = s.latency_write if endpoint in WRITE_ENDPOINTS else s.latency_read
        if lat > 0 and s.latency_jitter > 0:
            with self._rng_lock:
                r = self.rng.random()
            lat *= 1.0 + s.latency_jitter * (2.0 * r - 1.0)
        lat += extra
        if lat > 0:
            time.sleep(lat)

    def _error_response(self, err: StripeError, request_id: str) -> Response:
        body = dumps(err.body(request_id))
        return Response(err.status, body, list(err.headers.items()))

    @staticmethod
    def _rate_limited(reason: str) -> StripeError:
        message = _CONCURRENCY_MESSAGE if "concurrency" in reason else _RATE_LIMIT_MESSAGE
        return StripeError(
            429, message, code="rate_limit", headers={"Stripe-Rate-Limited-Reason": reason}
        )

    def _fault_response(self, kind: str) -> Response | StripeError:
        if kind in RATE_LIMIT_REASONS:
            return self._rate_limited(RATE_LIMIT_REASONS[kind])
        if kind == Fault.LOCK_TIMEOUT:
            return StripeError(
                429,
                _LOCK_TIMEOUT_MESSAGE,
                code="lock_timeout",
                headers={"Stripe-Should-Retry": "true"},
            )
        if kind in (Fault.HTTP_500, *SAVED_500):
            return StripeError(
                500,
                "An unknown error occurred. We've already been notified of the problem, but "
                "please try again.",
                type="api_error",
            )
        if kind == Fault.HTTP_503:
            return StripeError(
                503,
                "Stripe is temporarily unavailable. Please try again.",
                type="api_error",
                headers={"Retry-After": "1"},
            )
        if kind == Fault.HTTP_502:
            body = (
                b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
            )
            return Response(502, body, [("Content-Type", "text/html")])
        if kind == Fault.RESET_BEFORE:
            return Response(0, reset=True)
        raise AssertionError(kind)

    # ------------------------------------------------------------------ pipeline
    def handle(self, req: Request) -> Response:
        if req.path.startswith("/_standin/"):
            if self.admin_handler is None:
                return Response(404, b'{"error":"admin API not available"}')
            return self.admin_handler(req)

        t0 = time.perf_counter()
        request_id = self.new_request_id()
        method = req.method.upper()
        headers = req.headers
        endpoint: str | None = None
        fault: str | None = None
        idem_key: str | None = None
        replayed = False
        admitted: tuple[str, bool] | None = None
        params: dict[str, Any] = {}
        resp: Response
        error_text: str | None = None
        try:
            try:
                key = self._authenticate(headers)
                self._enter_dataset(*self.datasets.identity(key))
                self._local.key = key
                routed = self.route(method, req.path)
                if routed is None:
                    raise StripeError(
                        404,
                        f"Unrecognized request URL ({method}: {req.path}). Please see "
                        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    )
                endpoint, ident = routed
                if endpoint.startswith("test_clocks.") and key_is_live(key):
                    raise live_mode_refusal(method, req.path)  # test helpers: test mode only
                self._authorize(key, endpoint, headers)
                try:
                    params = parse_form(req.query)
                    if method == "POST" and req.body:
                        params.update(parse_form(req.body))
                except FormError as e:
                    raise invalid(e.message, e.param) from None

                limited = (self.registry.rate_account(self._local.account), self._local.livemode)
                reason = self.limiter.acquire(endpoint, *limited)
                if reason is not None:
                    raise self._rate_limited(reason)
                admitted = limited

                fault = self.faults.decide(endpoint, method, self._local.account)
                if fault is not None and fault in PRE_APPLY:
                    out = self._fault_response(fault)
                    if isinstance(out, StripeError):
                        raise out
                    resp = out
                    return resp

                extra = self.settings.slow_seconds if fault == Fault.SLOW else 0.0
                version = self.api_version(headers)
                if method == "POST":
                    idem_key = headers.get("idempotency-key")
                if idem_key is not None:
                    resp, replayed = self._idempotent(
                        idem_key, endpoint, req.path, params, ident, request_id, extra, version, fault
                    )
                else:
                    self._sleep_latency(endpoint, extra)
                    if fault in SAVED_500:
                        resp = self._saved_500(fault, endpoint, ident, params, request_id, None, version)
                    else:
                        resp = self._execute(endpoint, ident, params, request_id, None, version)
            except StripeError as err:
                resp = self._error_response(err, request_id)

            if fault is not None and fault not in PRE_APPLY:
                resp = self._post_fault(fault, resp)
            return resp
        except Exception:  # noqa: BLE001 - a bug, or a malformed record that cannot be updated
            error_text = traceback.format_exc()
            log.error("stand-in request failed:\n%s", error_text)
            resp = self._error_response(
                StripeError(500, "An unknown error occurred", type="api_error"), request_id
            )
            return resp
        finally:
            acted_on = (getattr(self._local, "account", None), getattr(self._local, "livemode", None))
            version = self.api_version(headers)  # the acting account's default, if none asked
            self._local.__dict__.clear()
            if admitted is not None and endpoint is not None:
                self.limiter.release(endpoint, *admitted)
            resp.headers.append(("Request-Id", request_id))
            if method == "POST" and not replayed:
                resp.headers.append(("Original-Request", request_id))
            if idem_key is not None:
                resp.headers.append(("Idempotency-Key", idem_key))
            resp.headers.append(("Stripe-Version", version))
            self._account(
                req,
                method,
                endpoint,
                params,
                resp,
                fault,
                idem_key,
                replayed,
                request_id,
                t0,
                error_text,
                acted_on,
            )

    def _post_fault(self, fault: str, resp: Response) -> Response:
        if fault == Fault.RESET_AFTER:
            return Response(0, reset=True)
        if resp.status != 200:
            return resp
        if fault == Fault.BAD_JSON:
            return Response(200, resp.body[: max(1, len(resp.body) // 2)], resp.headers)
        if fault == Fault.MALFORMED_OBJECT:
            return Response(200, self._malform_body(resp.body), resp.headers)
        return resp

    def _malform_body(self, body: bytes) -> bytes:
        obj = json.loads(body)
        with self._rng_lock:
            if obj.get("object") == "list" and obj.get("data"):
                i = self.rng.randrange(len(obj["data"]))
                item = obj["data"][i]
                if item.get("object") == "event":
                    item["data"]["object"] = malform(item["data"]["object"], self.rng)
                else:
                    obj["data"][i] = malform(item, self.rng)
            elif obj.get("object") == "event":
                obj["data"]["object"] = malform(obj["data"]["object"], self.rng)
            elif obj.get("object") == "customer" and not obj.get("deleted"):
                obj = malform(obj, self.rng)
        return dumps(obj)

    def _idempotent(
        self,
        key: str,
        endpoint: str,
        path: str,
        params: dict[str, Any],
        ident: str | None,
        request_id: str,
        extra_delay: float = 0.0,
        version: str = API_VERSION,
        fault: str | None = None,
    ) -> tuple[Response, bool]:
        """Run a POST under an idempotency key. The key is claimed before the request's
        latency, so a concurrent duplicate sees it in use (409) for the whole request.
        A ``SAVED_500`` fault saves a 500 under the key (after applying the write for
        ``500-saved-applied``), as Stripe does for a request that began executing."""
        if len(key) > 255:
            raise invalid("Idempotency keys must be 255 characters or less.", "Idempotency-Key")
        fingerprint = "POST " + path + " " + json.dumps(params, sort_keys=True)
        state, entry = self.idempotency.begin(key, fingerprint, request_id)
        if state == IdempotencyStore.IN_USE:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                f"going through): {key}. Please try again later.",
                code="idempotency_key_in_use",
                headers={"Stripe-Should-Retry": "true"},
            )
        if state == IdempotencyStore.MISMATCH:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        if state == IdempotencyStore.REPLAY:
            assert entry is not None
            self._sleep_latency(endpoint, extra_delay)
            headers = list(entry.headers)
            headers.append(("Idempotent-Replayed", "true"))
            headers.append(("Original-Request", entry.original_request))
            return Response(entry.status, entry.body, headers), True
        stored = False
        try:
            self._sleep_latency(endpoint, extra_delay)
            if fault in SAVED_500:
                resp = self._saved_500(fault, endpoint, ident, params, request_id, key, version)
            else:
                resp = self._execute(endpoint, ident, params, request_id, key, version)
            self.idempotency.finish(
                key, store=True, status=resp.status, body=resp.body, headers=resp.headers
            )
            stored = True
            return resp, False
        finally:
            if not stored:
                self.idempotency.finish(key, store=False)

    def _saved_500(
        self,
        fault: str,
        endpoint: str,
        ident: str | None,
        params: dict[str, Any],
        request_id: str,
        idem_key: str | None,
        version: str = API_VERSION,
    ) -> Response:
        """The 500 of a request that began executing (and applied its write, for
        ``500-saved-applied``); a parameter error still answers 400 and saves nothing."""
        if fault == Fault.HTTP_500_SAVED_APPLIED:
            self._execute(endpoint, ident, params, request_id, idem_key, version)
        else:
            P.validate(endpoint, params)
        err = self._fault_response(fault)
        assert isinstance(err, StripeError)
        return self._error_response(err, request_id)

    # ------------------------------------------------------------------ endpoints
    def _execute(
        self,
        endpoint: str,
        ident: str | None,
        raw_params: dict[str, Any],
        request_id: str,
        idem_key: str | None,
        version: str = API_VERSION,
    ) -> Response:
        p = P.validate(endpoint, raw_params)
        resp = self._run(endpoint, ident, p, request_id, idem_key)
        if endpoint.startswith("customers.") and not is_current_shape(version):
            resp = self._render(resp, version)
        return resp

    def api_version(self, headers: Mapping[str, str]) -> str:
        """The version an answer is rendered in: the request's, else the account's default."""
        return headers.get("stripe-version") or self.store.api_version

    @staticmethod
    def _render(resp: Response, version: str) -> Response:
        """A customer answer (object or list) in an older API version's shape."""
        if resp.status != 200:
            return resp
        obj = json.loads(resp.body)
        if obj.get("object") == "list":
            obj["data"] = [render_customer(c, version) for c in obj.get("data") or []]
        elif obj.get("object") == "customer":
            obj = render_customer(obj, version)
        return Response(200, dumps(obj), resp.headers)

    def _run(
        self,
        endpoint: str,
        ident: str | None,
        p: dict[str, Any],
        request_id: str,
        idem_key: str | None,
    ) -> Response:
        store = self.store
        if endpoint == "customers.list":
            return self._list_customers(p)
        if endpoint == "events.list":
            return self._list_events(p)
        if endpoint == "customers.retrieve":
            expand = P.check_expand(p.get("expand"), "customer")
            rec = store.get_customer(ident or "")
            if rec is None:
                raise no_such("customer", ident or "")
            if rec.deleted:
                return self._json({"id": rec.id, "object": "customer", "deleted": True})
            if expand:
                return self._json(expanded(json.loads(rec.raw), expand))
            return Response(200, rec.raw)
        if endpoint == "events.retrieve":
            P.check_expand(p.get("expand"), "event")
            ev = store.get_event(ident or "")
            if ev is None:
                raise no_such("event", ident or "")
            return Response(200, ev.raw)
        if endpoint == "balance.retrieve":
            if getattr(self._local, "livemode", False):
                return Response(200, BALANCE_BODY.replace(b'"livemode":false', b'"livemode":true'))
            return Response(200, BALANCE_BODY)
        if endpoint.startswith(("account.", "accounts.")):
            return self._accounts(endpoint, ident, p)
        info = RequestInfo(request_id, idem_key)
        if endpoint.startswith("test_clocks."):
            return self._test_clocks(endpoint, ident, p, info)
        if endpoint == "customers.create":
            expand = P.check_expand(p.get("expand"), "customer")
            cust = store.create_customer(p, info)
            self._count_write(endpoint)
            return self._json(expanded(cust, expand))
        if endpoint == "customers.update":
            expand = P.check_expand(p.get("expand"), "customer")
            cust = store.update_customer(ident or "", p, info)
            self._count_write(endpoint)
            return self._json(expanded(cust, expand))
        if endpoint == "customers.delete":
            out = store.delete_customer(ident or "", info)
            self._count_write(endpoint)
            return self._json(out)
        raise AssertionError(endpoint)

    def _test_clocks(
        self, endpoint: str, ident: str | None, p: dict[str, Any], info: RequestInfo
    ) -> Response:
        clocks = self.store.test_clocks
        if endpoint == "test_clocks.list":
            limit, after, before = self._page_args(p)
            items, has_more = clocks.page(limit, after, before)
            body = {"object": "list", "data": items, "has_more": has_more}
            return self._json({**body, "url": "/v1/test_helpers/test_clocks"})
        if endpoint == "test_clocks.retrieve":
            return self._json(clocks.get(ident or "", "test_clock", 404).to_dict())
        self._count_write(endpoint)
        if endpoint == "test_clocks.create":
            clock_id = "clock_1" + self.store.rand(23)
            return self._json(clocks.create(clock_id, self.clock.now_int(), p).to_dict())
        if endpoint == "test_clocks.delete":
            return self._json(self.store.delete_test_clock(ident or "", info))
        if endpoint == "test_clocks.advance":
            clock = clocks.advance(ident or "", p["frozen_time"])
            return self._json(clock.to_dict(status="advancing"))
        raise AssertionError(endpoint)

    def _accounts(self, endpoint: str, ident: str | None, p: dict[str, Any]) -> Response:
        key = self._local.key
        obj, wrote = run_accounts(
            self.registry,
            endpoint,
            ident,
            p,
            own=self.datasets.identity(key)[0],
            acting=self._local.account,
            livemode=self._local.livemode,
            now=self.clock.now_int(),
            masked_key=mask_key(key, 6),
            page_args=self._page_args,
        )
        if wrote:
            self._count_write(endpoint)
        return self._json(obj)

    def _count_write(self, endpoint: str) -> None:
        self.stats.count_write(endpoint, getattr(self._local, "account", None))

    @staticmethod
    def _json(obj: Any) -> Response:
        return Response(200, dumps(obj))

    @staticmethod
    def _page_args(p: dict[str, Any]) -> tuple[int, str | None, str | None]:
        limit = p.get("limit", 10)
        err = bad_limit(limit)
        if err is not None:
            raise err
        after = p.get("starting_after") or None
        before = p.get("ending_before") or None
        if after and before:
            raise invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
                "starting_after",
            )
        return limit, after, before

    @staticmethod
    def _list_body(raws: list[bytes], has_more: bool, url: bytes) -> bytes:
        return b"".join(
            (
                b'{"object":"list","data":[',
                b",".join(raws),
                b'],"has_more":',
                b"true" if has_more else b"false",
                b',"url":"',
                url,
                b'"}',
            )
        )

    def _list_customers(self, p: dict[str, Any]) -> Response:
        expand = P.check_expand(p.get("expand"), "customer", list_prefix=True)
        limit, after, before = self._page_args(p)
        raws, has_more = self.store.list_customers(
            limit=limit,
            starting_after=after,
            ending_before=before,
            created=p.get("created"),
            email=p.get("email"),
            test_clock=p.get("test_clock") or None,
        )
        if expand:
            raws = [dumps(expanded(json.loads(r), expand)) for r in raws]
        return Response(200, self._list_body(raws, has_more, b"/v1/customers"))

    def _list_events(self, p: dict[str, Any]) -> Response:
        P.check_expand(p.get("expand"), "event", list_prefix=True)
        limit, after, before = self._page_args(p)
        type_, types = p.get("type"), p.get("types")
        if type_ is not None and types is not None:
            raise invalid("You may pass either `type` or `types`, but not both.", "types")
        if types is not None and len(types) > 20:
            raise invalid("You may pass at most 20 event types.", "types")
        raws, has_more = self.store.list_events(
            limit=limit,
            starting_after=after,
            ending_before=before,
            created=p.get("created"),
            type_=type_,
            types=types,
            delivery_success=p.get("delivery_success"),
        )
        return Response(200, self._list_body(raws, has_more, b"/v1/events"))

    # ------------------------------------------------------------------ accounting
    def _account(
        self,
        req: Request,
        method: str,
        endpoint: str | None,
        params: dict[str, Any],
        resp: Response,
        fault: str | None,
        idem_key: str | None,
        replayed: bool,
        request_id: str,
        t0: float,
        error_text: str | None,
        acted_on: tuple[str | None, bool | None] = (None, None),
    ) -> None:
        status = 0 if resp.reset else resp.status
        route = ROUTE_LABELS.get(endpoint or "", f"{method} {req.path}")
        reason = None
        if status == 429:
            reason = next(
                (v for k, v in resp.headers if k == "Stripe-Rate-Limited-Reason"), "lock_timeout"
            )
        hdrs = {}
        for k, v in req.headers.items():
            if k == "authorization":
                scheme, _, cred = v.partition(" ")
                v = f"{scheme} {mask_key(cred.strip())}" if cred else mask_key(v)
            hdrs[k] = v
        entry = {
            "time": self.clock.now(),
            "request_id": request_id,
            "method": method,
            "path": req.path,
            "route": route,
            "endpoint": endpoint,
            "account": acted_on[0],  # the account whose data the request acted on
            "livemode": acted_on[1],
            "params": params,
            "headers": hdrs,
            "status": status,
            "fault": fault,
            "reset": resp.reset,
            "idempotency_key": idem_key,
            "replayed": replayed,
            "duration_ms": round((time.perf_counter() - t0) * 1000, 3),
        }
        if error_text:
            entry["error"] = error_text
        st = self.stats
        with st.lock:
            st.requests_total += 1
            st.by_route[route] += 1
            if endpoint:
                st.by_endpoint[endpoint] += 1
            st.status[status] += 1
            if fault:
                st.faults[fault] += 1
            if reason:
                st.rate_limited[reason] += 1
            if replayed:
                st.replays += 1
            if error_text:
                st.errors += 1
            if acted_on[0] is not None:
                acct = st.account(acted_on[0])
                acct.requests += 1
                acct.status[status] += 1
                if endpoint:
                    acct.by_endpoint[endpoint] += 1
                if reason:
                    acct.rate_limited += 1
            st.log.append(entry)

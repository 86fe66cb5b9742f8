"""The HTTP server (stdlib ``ThreadingHTTPServer``, HTTP/1.1 keep-alive, one thread per
connection) and ``StripeStandin``, the public entry point."""

from __future__ import annotations

import copy
import gc
import http.server
import json
import selectors
import socket
import socketserver
import struct
import threading
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Self

from . import params as P
from .account_limits import AccountLimiters
from .app import (
    DEFAULT_ACCOUNT_ID,
    STANDIN_API_KEY,
    Request,
    Response,
    Settings,
    StandinApp,
)
from .clock import Clock
from .customers import dumps
from .faults import FaultInjector, Limits
from .forms import encode_form, parse_form
from .idempotency import IdempotencyStore
from .seed import MALFORMED_KINDS, generate_customers, malformed_customer
from .server_connect import ConnectMethods
from .store import RequestInfo, Store

DAY = 86400.0
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_MAX_LINE = 65536


class _Handler(socketserver.StreamRequestHandler):
    rbufsize = 64 * 1024
    wbufsize = 0
    disable_nagle_algorithm = True
    timeout = None
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, False)

    def handle(self) -> None:
        try:
            while self._one_request():
                pass
        except (ConnectionError, TimeoutError, OSError, ValueError):
            pass

    def _simple(self, status: int, text: str) -> None:
        body = text.encode()
        self.connection.sendall(
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    def _read_chunked(self) -> bytes:
        parts = []
        rfile = self.rfile
        while True:
            size_line = rfile.readline(_MAX_LINE + 1)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(rfile.read(size))
            rfile.readline(_MAX_LINE + 1)

    def _one_request(self) -> bool:
        rfile = self.rfile
        line = rfile.readline(_MAX_LINE + 1)
        while line in (b"\r\n", b"\n"):
            line = rfile.readline(_MAX_LINE + 1)
        if not line or self.server.stopping:
            return False
        if len(line) > _MAX_LINE:
            self._simple(414, "Request-URI Too Long")
            return False
        try:
            method, target, version = line.decode("latin-1").split()
        except ValueError:
            self._simple(400, "Bad request line")
            return False
        headers: dict[str, str] = {}
        for _ in range(201):
            h = rfile.readline(_MAX_LINE + 1)
            if not h:
                return False
            if h in (b"\r\n", b"\n"):
                break
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep:
                self._simple(400, "Bad header line")
                return False
            headers[name.strip().lower()] = value.strip()
        else:
            self._simple(431, "Too many headers")
            return False
        if headers.get("expect", "").lower() == "100-continue":
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        else:
            n = int(headers.get("content-length") or 0)
            body = rfile.read(n) if n > 0 else b""
            if len(body) < n:
                return False
        if target.startswith(("http://", "https://")):
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        path, _, query = target.partition("?")
        conn = headers.get("connection", "").lower()
        keep = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)

        resp = self.server.app.handle(Request(method, path, query, headers, body))
        if resp.reset:
            self._reset()
            return False
        self._write(resp, keep)
        return keep

    def _write(self, resp: Response, keep: bool) -> None:
        lines = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Unknown')}"]
        has_ct = False
        for k, v in resp.headers:
            if k.lower() == "content-type":
                has_ct = True
            lines.append(f"{k}: {v}")
        if not has_ct:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(resp.body)}")
        lines.append(f"Date: {self.server.http_date()}")
        lines.append("Cache-Control: no-cache, no-store")
        lines.append("Connection: keep-alive" if keep else "Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
        self.connection.sendall(head + resp.body)

    def _reset(self) -> None:
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except OSError:
                pass
        sock.close()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], app: StandinApp):
        self.app = app
        self.stopping = False
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._date_cache: tuple[int, str] = (-1, "")
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's getfqdn(): it can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def serve_until_stopped(self) -> None:
        """Accept loop that ``stop_serving`` wakes at once (no polling interval)."""
        self._wake_r, self._wake_w = socket.socketpair()
        with selectors.DefaultSelector() as sel:
            sel.register(self.socket, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self.stopping:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r or self.stopping:
                        break
                    self._handle_request_noblock()
        self._wake_r.close()
        self._wake_w.close()

    def stop_serving(self) -> None:
        self.stopping = True
        w = getattr(self, "_wake_w", None)
        if w is not None:
            try:
                w.send(b"x")
            except OSError:
                pass

    def http_date(self) -> str:
        """The ``Date`` header on the stand-in's clock (Stripe's responses carry one)."""
        sec = int(self.app.clock.now())
        cached = self._date_cache
        if cached[0] != sec:
            cached = self._date_cache = (sec, formatdate(sec, usegmt=True))
        return cached[1]

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class StripeStandin(ConnectMethods):
    """A stateful Stripe stand-in (customers, events, balance) served over HTTP.

    >>> with StripeStandin() as s:
    ...     client = stripe.StripeClient(s.api_key, base_addresses={"api": s.base_url})

    Knobs (constructor keywords, also changeable with ``configure``):

    - ``latency_read`` / ``latency_write`` (seconds slept per GET / per POST or DELETE),
      ``latency_jitter`` (fraction), ``slow_seconds`` (extra delay of the ``slow`` fault)
    - ``rate_limit`` (requests/s, token bucket of ``rate_limit_burst`` tokens, default one
      second's worth) -> 429 ``Stripe-Rate-Limited-Reason: global-rate``;
      ``endpoint_rate_limit`` (each endpoint) and ``endpoint_rate_limits`` (per endpoint name)
      -> ``endpoint-rate``; ``concurrency_limit`` / ``endpoint_concurrency_limit`` (requests in
      flight) -> ``global-concurrency`` / ``endpoint-concurrency``
    - ``event_retention_days`` (30), ``idempotency_ttl_hours`` (24)
    - ``event_visibility_delay`` (seconds, 0): each event is listed by ``GET /v1/events`` only
      a random ``U(0, delay)`` seconds after its ``created`` (Stripe's list is eventually
      consistent); ``event_order_shuffle`` (False): events of the same second are listed in
      a random, stable order (Stripe does not order them)
    - ``api_keys`` (secret keys), ``restricted_keys`` ({key: {"customers": "read"|"write"|
      "none", "events": ..., "balance": ...}}), ``account_id``
    - ``seed`` (ids, request ids, fault draws), ``now`` / ``frozen_clock`` (initial clock)
    - ``api_version``: the account's default API version (2023-08-16): events are rendered in
      the version of their creation, answers in ``Stripe-Version`` or else this one
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = (STANDIN_API_KEY,),
        restricted_keys: Mapping[str, Mapping[str, str]] | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        key_accounts: Mapping[str, str] | None = None,
        latency_read: float = 0.0,
        latency_write: float = 0.0,
        latency_jitter: float = 0.0,
        slow_seconds: float = 5.0,
        rate_limit: float | None = None,
        rate_limit_burst: float | None = None,
        endpoint_rate_limit: float | None = None,
        endpoint_rate_limits: Mapping[str, float] | None = None,
        concurrency_limit: int | None = None,
        endpoint_concurrency_limit: int | None = None,
        event_retention_days: float = 30.0,
        idempotency_ttl_hours: float = 24.0,
        event_visibility_delay: float = 0.0,
        event_order_shuffle: bool = False,
        seed: int | None = None,
        now: float | None = None,
        frozen_clock: bool = False,
        request_log_size: int = 10000,
        api_version: str | None = None,
    ):
        self.host = host
        self._port = port
        self.clock = Clock(now, frozen=frozen_clock)
        self.store = Store(self.clock, seed=seed, retention_seconds=event_retention_days * DAY)
        if api_version:
            self.store.api_version = api_version
        self.store.visibility_delay = float(event_visibility_delay)
        self.store.order_shuffle = bool(event_order_shuffle)
        self.fault_injector = FaultInjector(seed)
        self.limits = Limits(
            rate_limit=rate_limit,
            rate_limit_burst=rate_limit_burst,
            endpoint_rate_limit=endpoint_rate_limit,
            endpoint_rate_limits=dict(endpoint_rate_limits or {}),
            concurrency_limit=concurrency_limit,
            endpoint_concurrency_limit=endpoint_concurrency_limit,
        )
        self.limiter = AccountLimiters(self.limits)  # one set of buckets per account and mode
        self.idempotency = IdempotencyStore(self.clock, idempotency_ttl_hours * 3600)
        self.settings = Settings(latency_read, latency_write, latency_jitter, slow_seconds)
        self.api_keys = list(api_keys)
        self.app = StandinApp(
            store=self.store,
            clock=self.clock,
            faults=self.fault_injector,
            limiter=self.limiter,
            idempotency=self.idempotency,
            settings=self.settings,
            api_keys=self.api_keys,
            restricted_keys=restricted_keys,
            account_id=account_id,
            log_size=request_log_size,
            seed=seed,
            key_accounts=key_accounts,
        )
        from .admin import AdminHandler

        self.app.admin_handler = AdminHandler(self)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        """Start serving in a background thread; returns the base URL."""
        if self._httpd is not None:
            return self.base_url
        self._httpd = _Server((self.host, self._port), self.app)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_until_stopped,
            name=f"stripe-standin-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        httpd = self._httpd
        if httpd is None:
            return
        httpd.stop_serving()
        if self._thread is not None:
            self._thread.join(timeout=5)
        httpd.server_close()
        httpd.close_connections()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self._port}"

    @property
    def api_key(self) -> str:
        """The first configured secret key."""
        return self.api_keys[0] if self.api_keys else ""

    @property
    def account_id(self) -> str:
        return self.app.account_id

    def stripe_client(self, api_key: str | None = None, *, timeout: float | None = None, **kw: Any):
        """A ``stripe.StripeClient`` pointed at this server (no SDK retries)."""
        import stripe

        if timeout is not None:
            kw.setdefault("http_client", stripe.RequestsClient(timeout=timeout))
        kw.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            api_key or self.api_key, base_addresses={"api": self.base_url}, **kw
        )

    # ------------------------------------------------------------------ knobs
    def configure(self, **knobs: Any) -> None:
        """Change knobs at run time (same names as the constructor's)."""
        limits_changed = False
        for k, v in knobs.items():
            if k in ("latency_read", "latency_write", "latency_jitter", "slow_seconds"):
                setattr(self.settings, k, float(v))
            elif k in (
                "rate_limit",
                "rate_limit_burst",
                "endpoint_rate_limit",
                "concurrency_limit",
                "endpoint_concurrency_limit",
            ):
                setattr(self.limits, k, v)
                limits_changed = True
            elif k == "endpoint_rate_limits":
                self.limits.endpoint_rate_limits = dict(v or {})
                limits_changed = True
            elif k == "event_retention_days":
                for store, _ in self.app.datasets.all():
                    store.retention_seconds = float(v) * DAY
            elif k == "idempotency_ttl_hours":
                for _, idempotency in self.app.datasets.all():
                    idempotency.ttl_seconds = float(v) * 3600
            elif k == "event_visibility_delay":
                for store, _ in self.app.datasets.all():
                    store.visibility_delay = float(v)
            elif k == "event_order_shuffle":
                for store, _ in self.app.datasets.all():
                    store.order_shuffle = bool(v)
            elif k == "fault_seed":
                self.fault_injector.reseed(v)
            elif k == "api_version":
                for store, _ in self.app.datasets.all():
                    store.api_version = str(v)
            else:
                raise TypeError(f"unknown knob {k!r}")
        if limits_changed:
            self.limiter.configure(self.limits)

    def config(self) -> dict[str, Any]:
        s, lim = self.settings, self.limits
        return {
            "latency_read": s.latency_read,
            "latency_write": s.latency_write,
            "latency_jitter": s.latency_jitter,
            "slow_seconds": s.slow_seconds,
            "rate_limit": lim.rate_limit,
            "rate_limit_burst": lim.rate_limit_burst,
            "endpoint_rate_limit": lim.endpoint_rate_limit,
            "endpoint_rate_limits": dict(lim.endpoint_rate_limits),
            "concurrency_limit": lim.concurrency_limit,
            "endpoint_concurrency_limit": lim.endpoint_concurrency_limit,
            "event_retention_days": self.store.retention_seconds / DAY,
            "idempotency_ttl_hours": self.idempotency.ttl_seconds / 3600,
            "event_visibility_delay": self.store.visibility_delay,
            "event_order_shuffle": self.store.order_shuffle,
            "account_id": self.account_id,
            "api_version": self.store.api_version,
            "faults": self.fault_injector.snapshot(),
            "platforms": self.platforms(),
            "account_limits": {a: dict(k) for a, k in self.limiter.overrides.items()},
        }

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        return self.clock.now()

    def advance_clock(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> float:
        return self.clock.advance(days * DAY + hours * 3600 + minutes * 60 + seconds)

    def set_clock(self, ts: float, *, frozen: bool = False) -> float:
        return self.clock.set(ts, frozen=frozen)

    # ------------------------------------------------------------------ faults
    def set_fault_rate(
        self,
        kind: str,
        rate: float,
        *,
        burst: int = 1,
        endpoints: Iterable[str] | str | None = None,
        methods: Iterable[str] | str | None = None,
        accounts: Iterable[str] | str | None = None,
    ) -> None:
        """Inject ``kind`` into a fraction ``rate`` of matching requests; each hit continues
        for ``burst`` consecutive matching requests. ``rate=0`` removes the rule.
        ``accounts``: only requests acting on these accounts (default: every account)."""
        self.fault_injector.set_rate(
            kind, rate, burst=burst, endpoints=endpoints, methods=methods, accounts=accounts
        )

    def inject_fault(
        self,
        kind: str,
        count: int = 1,
        *,
        endpoints: Iterable[str] | str | None = None,
        methods: Iterable[str] | str | None = None,
        accounts: Iterable[str] | str | None = None,
    ) -> None:
        """Inject ``kind`` into the next ``count`` matching requests (``accounts``: acting on
        these accounts)."""
        self.fault_injector.inject(
            kind, count, endpoints=endpoints, methods=methods, accounts=accounts
        )

    def clear_faults(self) -> None:
        self.fault_injector.clear()

    # ------------------------------------------------------------------ keys
    def add_api_key(self, key: str, account_id: str | None = None) -> None:
        """Accept ``key`` (a key of ``account_id``, default the stand-in's account); a
        ``sk_live_`` key reaches that account's live data, any other key its test data."""
        self.app.datasets.assign(key, account_id)
        with self.app.keys_lock:
            self.app.secret_keys.add(key)
        if key not in self.api_keys:
            self.api_keys.append(key)

    def add_restricted_key(
        self, key: str, permissions: Mapping[str, str], account_id: str | None = None
    ) -> None:
        self.app.datasets.assign(key, account_id)
        self.app.add_restricted_key(key, permissions)

    # ------------------------------------------------------------------ accounts and modes
    def dataset(self, *, livemode: bool = False, account_id: str | None = None) -> Self:
        """The data of one account's mode (default: the stand-in's account, test mode).

        The answer offers the data methods of the stand-in (``create_customer``,
        ``update_customer``, ``delete_customer``, ``seed_customers``,
        ``inject_malformed_customers``, ``customers``, ``all_customers``, ``customer``,
        ``events``, ``stats``, ``reset``) on that data set; the server, its knobs and keys are
        shared. ``standin.dataset(livemode=True)`` is what a ``sk_live_`` key sees.
        """
        view = copy.copy(self)
        view.store, view.idempotency = self.app.datasets.get(account_id, livemode)
        if view.store is not self.store:
            view._seed_tag = f"-{account_id or self.account_id}-{'live' if livemode else 'test'}"
        return view

    def key_identity(self, key: str) -> tuple[str, bool]:
        """(account id, livemode) of a key."""
        return self.app.datasets.identity(key)

    def remove_api_key(self, key: str) -> None:
        with self.app.keys_lock:
            self.app.secret_keys.discard(key)
            self.app.restricted_keys.pop(key, None)
        if key in self.api_keys:
            self.api_keys.remove(key)

    # ------------------------------------------------------------------ data
    def _validated(self, endpoint: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return P.validate(endpoint, parse_form(encode_form(dict(params))))

    def create_customer(self, **params: Any) -> dict[str, Any]:
        """Create a customer as an out-of-band change would (records customer.created with no
        request id). Parameters as in the API (nested dicts/lists, "" to unset)."""
        return self.store.create_customer(self._validated("customers.create", params), None)

    def update_customer(self, customer_id: str, **params: Any) -> dict[str, Any]:
        return self.store.update_customer(
            customer_id, self._validated("customers.update", params), None
        )

    def delete_customer(self, customer_id: str) -> dict[str, Any]:
        return self.store.delete_customer(customer_id, None)

    def create_test_clock(self, frozen_time: int | None = None, name: str | None = None) -> dict[str, Any]:
        """Create a test clock (as ``POST /v1/test_helpers/test_clocks``; default frozen now)."""
        params: dict[str, Any] = {"frozen_time": int(self.clock.now() if frozen_time is None else frozen_time)}
        if name is not None:
            params["name"] = name
        params = self._validated("test_clocks.create", params)
        clock_id = "clock_1" + self.store.rand(23)
        return self.store.test_clocks.create(clock_id, self.clock.now_int(), params).to_dict()

    def delete_test_clock(self, clock_id: str) -> dict[str, Any]:
        """Delete a test clock and every customer on it (``customer.deleted`` events)."""
        return self.store.delete_test_clock(clock_id, None)

    def test_clocks(self) -> list[dict[str, Any]]:
        """The account's test clocks, newest first."""
        return self.store.test_clocks.page(100_000, None, None)[0]

    def seed_customers(
        self,
        n: int,
        seed: int = 0,
        *,
        record_events: bool = False,
        span_days: float = 730,
        now: int | None = None,
        variants: list[str] | None = None,
    ) -> int:
        """Insert ``n`` generated customers directly (no API requests); returns the number
        inserted. Calling it again adds more (numbering and ids continue). ``variants``:
        customer body variants shared by many calls (``seed.variant_pool``).

        Customers are created over the ``span_days`` before ``now`` (default: the clock).
        With ``record_events`` each gets a ``customer.created`` event at its ``created`` time
        (only those within the retention window are visible). Fast enough for a million.
        """
        now_i = int(self.clock.now()) if now is None else int(now)
        tag = getattr(self, "_seed_tag", "")  # another account or mode: other ids
        rows = generate_customers(
            n, f"{seed}{tag}" if tag else seed, now=now_i, span_days=span_days,  # type: ignore[arg-type]
            start_index=len(self.store.customers), variants=variants,
        )
        if self.store.livemode:
            rows = ((c, t, e, r.replace(b'"livemode":false', b'"livemode":true', 1)) for c, t, e, r in rows)
        if n < 50000:
            return self.store.bulk_insert(rows, events=record_events)
        # Millions of long-lived objects: keep the cyclic GC from scanning them while they are
        # built and afterwards (gc.freeze), which would otherwise stall requests for seconds.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self.store.bulk_insert(rows, events=record_events)
        finally:
            gc.freeze()
            if was_enabled:
                gc.enable()

    def inject_malformed_customers(
        self, n: int = 1, kind: str = "wrong_types", *, record_events: bool = True, seed: int = 0
    ) -> list[str]:
        """Insert customers that break the schema (``kind`` in MALFORMED_KINDS); they appear in
        list results (newest) and, with ``record_events``, as ``customer.created`` events."""
        import random

        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown kind {kind!r}; known: {MALFORMED_KINDS}")
        rng = random.Random(f"malformed-{seed}-{len(self.store.customers)}")
        ids = []
        for _ in range(n):
            with self.store.lock:
                cid = self.store.new_customer_id()
                created = self.clock.now_int()
                obj = malformed_customer(cid, created, kind, rng)
                email = obj.get("email") if isinstance(obj.get("email"), str) else None
                self.store.insert_customer_raw(
                    cid, created, email, dumps(obj), event=record_events, req=RequestInfo()
                )
            ids.append(cid)
        return ids

    def reset(self) -> None:
        """Drop all customers, events, idempotency keys, counters and the request log."""
        with self.store.lock:
            fresh = Store(self.clock, retention_seconds=self.store.retention_seconds)
            fresh.rng = self.store.rng
            for attr in (
                "customers",
                "_cust_keys",
                "_cust_by_key",
                "_email_keys",
                "_clock_keys",
                "test_clocks",
                "events_by_id",
                "_event_keys",
                "_event_by_key",
                "_seq",
            ):
                setattr(self.store, attr, getattr(fresh, attr))
        self.idempotency.clear()
        self.app.stats.reset()

    # ------------------------------------------------------------------ introspection
    def customers(self) -> list[dict[str, Any]]:
        """Current (non-deleted) customers, newest first, as Stripe returns them."""
        return self.store.all_customers(include_deleted=False)

    def all_customers(self) -> list[dict[str, Any]]:
        """All customers ever created, newest first, each with a ``deleted`` flag."""
        return self.store.all_customers(include_deleted=True)

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        rec = self.store.get_customer(customer_id)
        return None if rec is None else json.loads(rec.raw)

    def events(
        self, types: Iterable[str] | None = None, *, include_expired: bool = False
    ) -> list[dict[str, Any]]:
        """Events newest first (those past retention only with ``include_expired``)."""
        evs = self.store.all_events(include_expired=include_expired)
        if types is not None:
            wanted = set(types)
            evs = [e for e in evs if e["type"] in wanted]
        return evs

    def requests(self, *, clear: bool = False, account: str | None = None) -> list[dict[str, Any]]:
        """The request log, oldest first: method, path, route, endpoint, account (whose data
        the request acted on; None before a key was accepted), livemode, params, headers (API
        key redacted), status (0 = connection reset), fault, idempotency key, replayed, ...
        ``account``: only the requests that acted on that account."""
        st = self.app.stats
        with st.lock:
            out = list(st.log)
            if clear:
                st.log.clear()
        if account is not None:
            out = [r for r in out if r.get("account") == account]
        return out

    def stats(self) -> dict[str, Any]:
        """Counters: requests by route and endpoint, statuses, faults injected by kind, 429s by
        reason, writes applied, idempotent replays, peak requests in flight, object counts."""
        snap = self.app.stats.snapshot()
        snap["in_flight_max"] = self.limiter.in_flight_max
        snap.update(self.store.counts())
        return snap

    def reset_stats(self) -> None:
        self.app.stats.reset()
        self.limiter.in_flight_max = 0

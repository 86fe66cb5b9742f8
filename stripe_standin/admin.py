"""Admin HTTP API under ``/_standin/`` (JSON in, JSON out, no auth, never rate limited or
faulted) and ``StandinAdmin``, a small client for it, for a stand-in run as a subprocess.

=======  ==============================  ==========================================
Method   Path                            Body / query -> answer
=======  ==============================  ==========================================
GET      /_standin/health                {"ok": true, "base_url", "now"}
GET      /_standin/config                knobs and fault rules
POST     /_standin/config                {knob: value, ...} (see StripeStandin.configure)
GET      /_standin/stats                 counters (StripeStandin.stats)
POST     /_standin/stats/reset           reset counters and request log
GET      /_standin/requests              request log (?clear=1 to empty it)
GET      /_standin/clock                 {"now"}
POST     /_standin/clock                 {"advance_seconds"|"advance_days": x} or {"set": ts, "frozen"}
POST     /_standin/faults                {"kind", "rate", "burst"?, "endpoints"?, "methods"?, "accounts"?}
POST     /_standin/faults/inject         {"kind", "count"?, "endpoints"?, "methods"?, "accounts"?}
POST     /_standin/faults/clear          remove all fault rules and pending bursts
POST     /_standin/keys                  {"key", "permissions"?} (restricted when permissions given)
DELETE   /_standin/keys/{key}            remove a key
GET      /_standin/customers             current customers (?include_deleted=1 for all)
POST     /_standin/customers             {params} create (out-of-band, records an event)
POST     /_standin/customers/{id}        {params} update (out-of-band, records an event)
DELETE   /_standin/customers/{id}        delete (out-of-band, records an event)
GET      /_standin/events                events (?include_expired=1)
POST     /_standin/seed                  {"n", "seed"?, "record_events"?, "span_days"?}
POST     /_standin/malformed             {"n"?, "kind"?, "record_events"?}
POST     /_standin/reset                 drop all data, keys stay
=======  ==============================  ==========================================

Data routes take ``?account=acct_..`` and ``?livemode=1`` (another account's or mode's data);
``GET /_standin/requests?account=acct_..`` lists the requests that acted on that account.
The routes for platforms and connected accounts are in ``admin_connect.py``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from . import admin_connect
from .app import Request, Response
from .errors import StripeError

if TYPE_CHECKING:
    from .server import StripeStandin


def _ok(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8"))


def _flag(q: dict[str, list[str]], name: str) -> bool:
    return q.get(name, ["0"])[-1].lower() in ("1", "true", "yes")


class AdminHandler:
    def __init__(self, standin: StripeStandin):
        self.s = standin

    def __call__(self, req: Request) -> Response:
        try:
            body = json.loads(req.body) if req.body.strip() else {}
            if not isinstance(body, dict):
                raise TypeError("body must be a JSON object")
            return self._dispatch(req.method.upper(), req.path, parse_qs(req.query), body)
        except StripeError as e:
            return Response(e.status, json.dumps(e.body()).encode())
        except (ValueError, TypeError, KeyError) as e:
            return _ok({"error": f"{type(e).__name__}: {e}"}, 400)

    def _dispatch(
        self, method: str, path: str, q: dict[str, list[str]], body: dict[str, Any]
    ) -> Response:
        s = self.s
        route = path[len("/_standin/") :].rstrip("/")
        found = admin_connect.dispatch(s, method, route, q, body)
        if found is not None:
            return _ok(found[0])
        if _flag(q, "livemode") or q.get("account"):  # the data of another account or mode
            s = s.dataset(livemode=_flag(q, "livemode"), account_id=(q.get("account") or [None])[0])
        if method == "GET" and route == "health":
            return _ok({"ok": True, "base_url": s.base_url, "now": s.now()})
        if route == "config":
            if method == "POST":
                s.configure(**body)
            return _ok(s.config())
        if route == "stats" and method == "GET":
            return _ok(s.stats())
        if route == "stats/reset" and method == "POST":
            s.reset_stats()
            return _ok({"ok": True})
        if route == "requests" and method == "GET":
            return _ok(s.requests(clear=_flag(q, "clear"), account=(q.get("account") or [None])[0]))
        if route == "clock":
            if method == "POST":
                if "set" in body:
                    s.set_clock(float(body["set"]), frozen=bool(body.get("frozen", False)))
                s.advance_clock(
                    days=float(body.get("advance_days", 0)),
                    seconds=float(body.get("advance_seconds", 0)),
                )
            return _ok({"now": s.now()})
        if route == "faults" and method == "POST":
            s.set_fault_rate(
                body["kind"],
                float(body["rate"]),
                burst=int(body.get("burst", 1)),
                endpoints=body.get("endpoints"),
                methods=body.get("methods"),
                accounts=body.get("accounts"),
            )
            return _ok(s.config()["faults"])
        if route == "faults/inject" and method == "POST":
            s.inject_fault(
                body["kind"],
                int(body.get("count", 1)),
                endpoints=body.get("endpoints"),
                methods=body.get("methods"),
                accounts=body.get("accounts"),
            )
            return _ok(s.config()["faults"])
        if route == "faults/clear" and method == "POST":
            s.clear_faults()
            return _ok(s.config()["faults"])
        if route == "keys" and method == "POST":
            if body.get("permissions") is not None:
                s.add_restricted_key(body["key"], body["permissions"], body.get("account_id"))
            else:
                s.add_api_key(body["key"], body.get("account_id"))
            return _ok({"ok": True})
        if route.startswith("keys/") and method == "DELETE":
            s.remove_api_key(unquote(route[5:]))
            return _ok({"ok": True})
        if route == "customers":
            if method == "GET":
                if _flag(q, "include_deleted"):
                    return _ok(s.all_customers())
                return _ok(s.customers())
            if method == "POST":
                return _ok(s.create_customer(**body))
        if route.startswith("customers/"):
            cid = unquote(route[len("customers/") :])
            if method == "GET":
                c = s.customer(cid)
                return _ok(c) if c is not None else _ok({"error": "not found"}, 404)
            if method == "POST":
                return _ok(s.update_customer(cid, **body))
            if method == "DELETE":
                return _ok(s.delete_customer(cid))
        if route == "events" and method == "GET":
            return _ok(s.events(include_expired=_flag(q, "include_expired")))
        if route == "seed" and method == "POST":
            n = s.seed_customers(
                int(body["n"]),
                int(body.get("seed", 0)),
                record_events=bool(body.get("record_events", False)),
                span_days=float(body.get("span_days", 730)),
            )
            return _ok({"inserted": n})
        if route == "malformed" and method == "POST":
            ids = s.inject_malformed_customers(
                int(body.get("n", 1)),
                body.get("kind", "wrong_types"),
                record_events=bool(body.get("record_events", True)),
                seed=int(body.get("seed", 0)),
            )
            return _ok({"ids": ids})
        if route == "reset" and method == "POST":
            s.reset()
            return _ok({"ok": True})
        return _ok({"error": f"unknown admin route {method} {path}"}, 404)


class StandinAdmin(admin_connect.AdminConnectMethods):
    """Client for the admin API of a stand-in running elsewhere (e.g. a subprocess)."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        if self._query:  # a view of one account's data (``account``)
            route += ("&" if "?" in route else "?") + self._query
        req = urllib.request.Request(
            f"{self.base_url}/_standin/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"admin {method} {route}: {e.code} {e.read()[:500]!r}") from None

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def configure(self, **knobs: Any) -> dict[str, Any]:
        return self._call("POST", "config", knobs)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("POST", "stats/reset", {})

    def requests(self, clear: bool = False, account: str | None = None) -> list[dict[str, Any]]:
        q = {k: v for k, v in (("clear", "1" if clear else None), ("account", account)) if v}
        return self._call("GET", "requests" + (f"?{urlencode(q)}" if q else ""))

    def now(self) -> float:
        return self._call("GET", "clock")["now"]

    def advance_clock(self, *, days: float = 0, seconds: float = 0) -> float:
        return self._call("POST", "clock", {"advance_days": days, "advance_seconds": seconds})[
            "now"
        ]

    def set_clock(self, ts: float, frozen: bool = False) -> float:
        return self._call("POST", "clock", {"set": ts, "frozen": frozen})["now"]

    def set_fault_rate(
        self,
        kind: str,
        rate: float,
        *,
        burst: int = 1,
        endpoints: list[str] | None = None,
        methods: list[str] | None = None,
        accounts: list[str] | None = None,
    ) -> Any:
        return self._call(
            "POST",
            "faults",
            {
                "kind": kind,
                "rate": rate,
                "burst": burst,
                "endpoints": endpoints,
                "methods": methods,
                "accounts": accounts,
            },
        )

    def inject_fault(
        self,
        kind: str,
        count: int = 1,
        *,
        endpoints: list[str] | None = None,
        methods: list[str] | None = None,
        accounts: list[str] | None = None,
    ) -> Any:
        return self._call(
            "POST",
            "faults/inject",
            {
                "kind": kind, "count": count, "endpoints": endpoints, "methods": methods,
                "accounts": accounts,
            },
        )

    def clear_faults(self) -> Any:
        return self._call("POST", "faults/clear", {})

    def add_api_key(self, key: str, permissions: dict[str, str] | None = None) -> None:
        self._call("POST", "keys", {"key": key, "permissions": permissions})

    def remove_api_key(self, key: str) -> None:
        self._call("DELETE", "keys/" + quote(key, safe=""))

    def customers(self, include_deleted: bool = False) -> list[dict[str, Any]]:
        return self._call("GET", "customers" + ("?include_deleted=1" if include_deleted else ""))

    def create_customer(self, **params: Any) -> dict[str, Any]:
        return self._call("POST", "customers", params)

    def update_customer(self, customer_id: str, **params: Any) -> dict[str, Any]:
        return self._call("POST", "customers/" + quote(customer_id, safe=""), params)

    def delete_customer(self, customer_id: str) -> dict[str, Any]:
        return self._call("DELETE", "customers/" + quote(customer_id, safe=""))

    def events(self, include_expired: bool = False) -> list[dict[str, Any]]:
        return self._call("GET", "events" + ("?include_expired=1" if include_expired else ""))

    def seed_customers(
        self, n: int, seed: int = 0, *, record_events: bool = False, span_days: float = 730
    ) -> int:
        return self._call(
            "POST",
            "seed",
            {"n": n, "seed": seed, "record_events": record_events, "span_days": span_days},
        )["inserted"]

    def inject_malformed_customers(
        self, n: int = 1, kind: str = "wrong_types", *, record_events: bool = True
    ) -> list[str]:
        return self._call(
            "POST", "malformed", {"n": n, "kind": kind, "record_events": record_events}
        )["ids"]

    def reset(self) -> None:
        self._call("POST", "reset", {})

"""Admin routes for many accounts (Connect platforms, connected accounts, seeding every
account, per-account limits and counters) and their ``StandinAdmin`` client methods.

=======  ======================================  ==========================================
Method   Path                                    Body / query -> answer
=======  ======================================  ==========================================
GET      /_standin/platforms                     {platform: {"connect_rate_limit_on", "connected_accounts"}}
POST     /_standin/platforms                     {"connected_accounts"?, "account_id"?, "api_key"?,
                                                 "customers_per_account"?, "seed"?, "record_events"?,
                                                 "span_days"?, "connect_rate_limit_on"?, "livemode"?,
                                                 "type"?} -> {"platform", "api_key", "accounts"}
POST     /_standin/platforms/{id}                {"connect_rate_limit_on"} -> platforms
GET      /_standin/connected_accounts            ?platform=acct_..&include_deleted=1 -> account objects
POST     /_standin/connected_accounts            {"platform"?, "account_id"?, "api_key"?, "type"?,
                                                 "email"?, "metadata"?, "country"?, "livemode"?,
                                                 "onboarded"?, "created"?, "api_version"?} -> account;
                                                 with {"n"}: n accounts -> {"accounts": [ids]}
DELETE   /_standin/connected_accounts/{id}       remove it -> {"id", "object", "deleted": true}
POST     /_standin/seed_accounts                 {"customers_per_account", "accounts"?, "platform"?,
                                                 "seed"?, "record_events"?, "span_days"?} -> {"inserted"}
POST     /_standin/account_limits/{id}           {limit knobs} ({} to drop them) -> {"ok"}
GET      /_standin/account_stats/{id}            counters of the requests that acted on it
=======  ======================================  ==========================================

The data routes of ``admin.py`` (customers, events, seed, malformed, reset) take
``?account=acct_..`` (and ``&livemode=1``) for any account's data, and ``GET
/_standin/requests?account=acct_..`` lists the requests that acted on that account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode

if TYPE_CHECKING:
    from .server import StripeStandin

_ACCOUNT_FIELDS = (
    "account_id",
    "api_key",
    "type",
    "email",
    "metadata",
    "country",
    "livemode",
    "onboarded",
    "created",
    "api_version",
)
_PLATFORM_FIELDS = (
    "account_id",
    "api_key",
    "customers_per_account",
    "seed",
    "record_events",
    "span_days",
    "connect_rate_limit_on",
    "livemode",
    "type",
)
_SEED_FIELDS = ("accounts", "platform", "seed", "record_events", "span_days")


def dispatch(
    s: StripeStandin, method: str, route: str, q: dict[str, list[str]], body: dict[str, Any]
) -> tuple[Any] | None:
    """The answer of a many-accounts admin route (a 1-tuple), or None for another route."""
    if route == "platforms":
        if method == "GET":
            return (s.platforms(),)
        if method == "POST":
            kw = {k: body[k] for k in _PLATFORM_FIELDS if k in body}
            return (s.create_platform(int(body.get("connected_accounts", 0)), **kw),)
    if route.startswith("platforms/") and method == "POST":
        s.configure_platform(
            unquote(route[len("platforms/") :]),
            connect_rate_limit_on=body["connect_rate_limit_on"],
        )
        return (s.platforms(),)
    if route == "connected_accounts":
        if method == "GET":
            platform = (q.get("platform") or [None])[0]
            flag = q.get("include_deleted", ["0"])[-1].lower() in ("1", "true", "yes")
            return (s.connected_accounts(platform, include_deleted=flag),)
        if method == "POST":
            if "n" in body:
                ids = s.add_connected_accounts(
                    int(body["n"]),
                    body.get("platform"),
                    livemode=bool(body.get("livemode", False)),
                    type=body.get("type", "standard"),
                )
                return ({"accounts": ids},)
            kw = {k: body[k] for k in _ACCOUNT_FIELDS if k in body}
            return (s.add_connected_account(body.get("platform"), **kw),)
    if route.startswith("connected_accounts/") and method == "DELETE":
        return (s.delete_connected_account(unquote(route[len("connected_accounts/") :])),)
    if route == "seed_accounts" and method == "POST":
        kw = {k: body[k] for k in _SEED_FIELDS if k in body}
        return ({"inserted": s.seed_accounts(int(body["customers_per_account"]), **kw)},)
    if route.startswith("account_limits/") and method == "POST":
        s.set_account_limits(unquote(route[len("account_limits/") :]), **body)
        return ({"ok": True},)
    if route.startswith("account_stats/") and method == "GET":
        return (s.account_stats(unquote(route[len("account_stats/") :])),)
    return None


class AdminConnectMethods:
    """The many-accounts methods of ``StandinAdmin`` (same names as ``StripeStandin``'s)."""

    _query: str = ""

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def account(self, account_id: str, *, livemode: bool = False) -> Any:
        """A client whose data calls (customers, events, seed, malformed, reset) act on
        ``account_id``'s data set (``livemode``: its live data)."""
        import copy

        view = copy.copy(self)
        view._query = urlencode({"account": account_id, **({"livemode": "1"} if livemode else {})})
        return view

    def create_platform(self, connected_accounts: int = 0, **kw: Any) -> dict[str, Any]:
        return self._call("POST", "platforms", {"connected_accounts": connected_accounts, **kw})

    def platforms(self) -> dict[str, Any]:
        return self._call("GET", "platforms")

    def configure_platform(self, platform: str, *, connect_rate_limit_on: str) -> dict[str, Any]:
        return self._call(
            "POST",
            "platforms/" + quote(platform, safe=""),
            {"connect_rate_limit_on": connect_rate_limit_on},
        )

    def add_connected_account(self, platform: str | None = None, **kw: Any) -> dict[str, Any]:
        return self._call("POST", "connected_accounts", {"platform": platform, **kw})

    def add_connected_accounts(self, n: int, platform: str | None = None, **kw: Any) -> list[str]:
        body = {"n": n, "platform": platform, **kw}
        return self._call("POST", "connected_accounts", body)["accounts"]

    def delete_connected_account(self, account_id: str) -> dict[str, Any]:
        return self._call("DELETE", "connected_accounts/" + quote(account_id, safe=""))

    def connected_accounts(
        self, platform: str | None = None, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        q = {
            k: v
            for k, v in (
                ("platform", platform),
                ("include_deleted", "1" if include_deleted else None),
            )
            if v
        }
        return self._call("GET", "connected_accounts" + (f"?{urlencode(q)}" if q else ""))

    def seed_accounts(
        self, customers_per_account: int, accounts: list[str] | None = None, **kw: Any
    ) -> int:
        body = {"customers_per_account": customers_per_account, "accounts": accounts, **kw}
        return self._call("POST", "seed_accounts", body)["inserted"]

    def set_account_limits(self, account_id: str, **knobs: Any) -> None:
        self._call("POST", "account_limits/" + quote(account_id, safe=""), knobs)

    def account_stats(self, account_id: str) -> dict[str, Any]:
        return self._call("GET", "account_stats/" + quote(account_id, safe=""))

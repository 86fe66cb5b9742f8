"""Accounts and modes: every (account, mode) pair is its own data set, as at Stripe.

Stripe keeps test mode and live mode of one account apart: a ``sk_test_`` / ``rk_test_`` key
sees the test data, a ``sk_live_`` / ``rk_live_`` key the live data (customers, events, ids,
idempotency keys), and objects of one mode are not accessible to the other
(https://docs.stripe.com/keys). A key belongs to one account; ``GET /v1/account`` answers
that account.

The stand-in holds one ``Store`` and one ``IdempotencyStore`` per (account, mode), made on
first use. The default account's test data set is the one the stand-in always had, so a
stand-in used with its default test key behaves exactly as before.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from .clock import Clock
from .idempotency import IdempotencyStore
from .store import Store

# When every stand-in account was "created" (a fixed time, so answers repeat).
ACCOUNT_CREATED = 1_500_000_000
_LIVE_KEY = re.compile(r"^(sk|rk)_live_")


def key_is_live(key: str) -> bool:
    """A ``sk_live_`` / ``rk_live_`` key reaches live mode; every other key test mode."""
    return _LIVE_KEY.match(key) is not None


class Datasets:
    """The data sets of every (account, livemode) pair and which account each key belongs to."""

    def __init__(
        self,
        clock: Clock,
        default_account: str,
        default_store: Store,
        default_idempotency: IdempotencyStore,
        *,
        seed: int | None,
        key_accounts: Mapping[str, str] | None = None,
    ):
        self.clock = clock
        self.default_account = default_account
        self.seed = seed
        self.lock = threading.Lock()
        self.key_accounts: dict[str, str] = dict(key_accounts or {})
        self.sets: dict[tuple[str, bool], tuple[Store, IdempotencyStore]] = {
            (default_account, False): (default_store, default_idempotency)
        }
        self._default = (default_store, default_idempotency)
        self.registry: Any = None  # connect.AccountRegistry: which accounts are connected ones

    def mark_connected(self, account_id: str) -> None:
        """Events of a connected account's data sets name it (``account``), as Stripe's do."""
        with self.lock:
            for (acct, _), (store, _) in self.sets.items():
                if acct == account_id:
                    store.event_account = account_id

    def assign(self, key: str, account_id: str | None) -> None:
        """Make ``key`` a key of ``account_id`` (None: as configured, else the default account)."""
        if account_id is None:
            return
        with self.lock:
            self.key_accounts[key] = account_id

    def identity(self, key: str) -> tuple[str, bool]:
        """(account id, livemode) of ``key``."""
        with self.lock:
            account = self.key_accounts.get(key, self.default_account)
        return account, key_is_live(key)

    def get(self, account_id: str | None = None, livemode: bool = False) -> tuple[Store, IdempotencyStore]:
        """The (store, idempotency store) of one account's mode, made on first use."""
        account_id = account_id or self.default_account
        with self.lock:
            found = self.sets.get((account_id, livemode))
            if found is None:
                store0, idem0 = self._default
                seed = None if self.seed is None else f"{self.seed}-{account_id}-{livemode}"
                store = Store(self.clock, seed=seed, retention_seconds=store0.retention_seconds)  # type: ignore[arg-type]
                store.livemode = livemode
                # Account-level settings: the API version and how the events list behaves.
                store.api_version = store0.api_version
                store.visibility_delay = store0.visibility_delay
                store.order_shuffle = store0.order_shuffle
                if self.registry is not None and account_id in self.registry.accounts:
                    store.event_account = account_id
                found = (store, IdempotencyStore(self.clock, idem0.ttl_seconds))
                self.sets[(account_id, livemode)] = found
            return found

    def all(self) -> list[tuple[Store, IdempotencyStore]]:
        with self.lock:
            return list(self.sets.values())


def account_object(account_id: str, created: int) -> dict[str, Any]:
    """``GET /v1/account``: the key's own account (a standard account that finished
    onboarding; ``connect.account_object`` shapes it)."""
    from .connect import account_object as shaped

    return shaped(account_id, created)

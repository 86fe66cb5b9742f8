"""Several Stripe accounts in the stand-in, each with its own key, and one mirror of them all."""

from __future__ import annotations

import inspect
from collections import Counter
from typing import Any

from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.table import customers_table, ensure_tables
from stripe_customer_assets.stripe_api import ApiStats, StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_standin.app import mask_key
from stripe_standin.server import StripeStandin

# account key -> (the stand-in's account id, its secret key)
ACCOUNTS = {
    "eu": ("acct_1EuRegion0000001", "sk_test_eu_region_key_000000000000eu01"),
    "us": ("acct_1UsRegion0000002", "sk_test_us_region_key_000000000000us02"),
    "apac": ("acct_1ApacRegion00003", "sk_test_apac_region_key_0000000000ap03"),
}


def add_accounts(standin: StripeStandin, stats: ApiStats | None = None) -> dict[str, StripeApi]:
    """Each account's key accepted by the stand-in; a client per account key."""
    clients = {}
    for name, (account_id, key) in ACCOUNTS.items():
        standin.add_api_key(key, account_id)
        clients[name] = StripeApi(
            key,
            api_base=standin.base_url,
            rate_limit=5000,
            endpoint_rate_limit=5000,
            backoff_base_s=0.01,
            stats=stats,
        )
    return clients


def data_set(standin: StripeStandin, name: str) -> StripeStandin:
    return standin.dataset(account_id=ACCOUNTS[name][0])


def posts_by_account(requests: list[dict[str, Any]]) -> Counter[str]:
    """POST /v1/customers[/id] requests per account key: the account the stand-in acted on,
    which must be the account of the key that sent it."""
    by_id = {account_id: name for name, (account_id, _) in ACCOUNTS.items()}
    masked = {mask_key(key): name for name, (_, key) in ACCOUNTS.items()}
    counts: Counter[str] = Counter()
    for r in requests:
        if r["method"] == "POST" and r["path"].startswith("/v1/customers"):
            _, _, credential = r["headers"].get("authorization", "").partition(" ")
            name = by_id.get(r.get("account"), "?")
            assert masked.get(credential.strip()) == name, r
            counts[name] += 1
    return counts


def mirror_accounts(
    wh: Warehouse, schema: str, clients: dict[str, StripeApi], scratch: Any
) -> None:
    """Refresh one mirror (``schema``.customers) with every account's customers.

    ``refresh_mirror(account=...)`` when the mirror takes it; otherwise each account is
    mirrored into a scratch schema (``scratch(prefix)`` names one) and copied over with its
    ``account`` column, the shape of the shared mirror table."""
    if "account" in inspect.signature(refresh_mirror).parameters:
        for name, api in clients.items():
            refresh_mirror(api, wh, schema, account=name, concurrency=2)  # type: ignore[call-arg]
        return
    for name, api in clients.items():
        own = scratch(f"mirror_{name}")
        refresh_mirror(api, wh, own, concurrency=2)
        with wh.begin() as conn:
            ensure_tables(conn, schema)
            conn.exec_driver_sql(
                f"ALTER TABLE {customers_table(schema)} ADD COLUMN IF NOT EXISTS account VARCHAR"
            )
            columns = [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT column_name FROM information_schema.columns "
                    f"WHERE table_schema = '{own}' AND table_name = 'customers' ORDER BY ordinal_position"
                )
            ]
            names = ", ".join(f'"{c}"' for c in columns)
            conn.exec_driver_sql(f"DELETE FROM {customers_table(schema)} WHERE account = '{name}'")
            conn.exec_driver_sql(
                f"INSERT INTO {customers_table(schema)} ({names}, account) "
                f"SELECT {names}, '{name}' FROM {customers_table(own)}"
            )

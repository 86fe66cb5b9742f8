"""Several Stripe accounts in the stand-in, each with its own key, and one mirror of them all."""

from __future__ import annotations

from collections import Counter
from typing import Any

from stripe_customer_assets.mirror.sync import refresh_mirror
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
    wh: Warehouse, schema: str, clients: dict[str, StripeApi], scratch: Any = None
) -> None:
    """Refresh one mirror (``schema``.customers) with every account's customers."""
    for name, api in clients.items():
        refresh_mirror(api, wh, schema, account=name, concurrency=2)

"""Names the Dagster layer shares: asset keys, tags, groups, the Stripe concurrency pool."""

from __future__ import annotations

import os

import dagster as dg

MIRROR_KEY = dg.AssetKey(["stripe", "customers"])

# With an accounts file: the mirror's partitions (one per account key, kept by the sweep
# sensor) and the one pool all its runs share (its limit set by the sweep; see
# defs/mirror/accounts.py).
ACCOUNTS_PARTITIONS_NAME = "stripe_accounts"
ACCOUNTS_PARTITIONS = dg.DynamicPartitionsDefinition(name=ACCOUNTS_PARTITIONS_NAME)
ACCOUNTS_POOL = "stripe_accounts"

# Tags that let jobs select import pipelines and exports without knowing their names.
ROLE_TAG = "stripe_customer_assets/role"
ENABLED_TAG = "stripe_customer_assets/enabled"

IMPORT_GROUP = "stripe_import"
EXPORT_GROUP = "stripe_export"
MIRROR_GROUP = "stripe_mirror"


def stripe_pool(account: str | None = None) -> str:
    """One Dagster concurrency pool per Stripe account: concurrent runs share its budget."""
    return f"stripe_{account or os.environ.get('STRIPE_ACCOUNT_NAME', 'default')}"


def warehouse_kind() -> str:
    url = os.environ.get("WAREHOUSE_URL", "duckdb")
    return "postgres" if url.startswith("postgres") else "duckdb"


def enabled_imports() -> dg.AssetSelection:
    return dg.AssetSelection.tag(ROLE_TAG, "import") & dg.AssetSelection.tag(ENABLED_TAG, "true")

"""Many Stripe accounts in one deployment: the accounts file, the registry, discovery.

``STRIPE_ACCOUNTS_FILE`` names a YAML file of plain accounts (each with its own key) and
Connect platforms (whose connected accounts are discovered with ``GET /v1/accounts``);
unset, the deployment has one account (``STRIPE_API_KEY``) as before.
"""

from stripe_customer_assets.accounts.config import (
    ACCOUNTS_FILE_ENV,
    AccountsConfig,
    AccountsFileError,
    PlainAccount,
    Platform,
    load_accounts,
    load_accounts_file,
)

__all__ = [
    "ACCOUNTS_FILE_ENV",
    "AccountsConfig",
    "AccountsFileError",
    "PlainAccount",
    "Platform",
    "load_accounts",
    "load_accounts_file",
]

"""The target account of each model row, for a deployment with several Stripe accounts.

An account key is a plain account's configured name (``eu``) or a connected account's
Stripe id (``acct_...``); a single-account deployment has one, ``STRIPE_ACCOUNT_NAME``
(default ``default``). A sync names each row's account with ``account_column`` (a model
column holding the key) and / or ``account`` (one key for every row, or for the rows whose
column is empty). Without either, every row targets the deployment's single account and
the sync behaves as it always did (its keys resolve against the whole mirror).

``Accounts`` is what the plan checks rows against: the deployment's own account (the
target when the sync names none) and the accounts it knows (configured or discovered).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stripe_customer_assets.config_model import problem

if TYPE_CHECKING:
    from stripe_customer_assets.export.config import ExportConfig

# Decision: a plain account's name, or a connected account's Stripe id.
ACCOUNT_KEY = re.compile(r"^(?:[a-z][a-z0-9_-]{0,62}|acct_[A-Za-z0-9]{1,250})$")
DEFAULT_ACCOUNT = "default"


def single_account() -> str:
    """The account key of a single-account deployment (``STRIPE_ACCOUNT_NAME``)."""
    return os.environ.get("STRIPE_ACCOUNT_NAME", "").strip() or DEFAULT_ACCOUNT


@dataclass(frozen=True)
class Accounts:
    """``default``: the deployment's single account; ``known``: every account key a row may
    name (None: any non-empty key is accepted); ``scoped``: the mirror holds several
    accounts, so keys resolve within the row's account (a single-account mirror is that one
    account whatever its rows are labelled); ``mirrored``: when the mirror of each account
    was last refreshed, on Stripe's clock (None: not checked), a row naming an account
    never mirrored is rejected (its customers are unknown, a create could duplicate one)."""

    default: str = DEFAULT_ACCOUNT
    known: frozenset[str] | None = None
    scoped: bool = True
    mirrored: Mapping[str, dt.datetime] | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        default: str,
        known: Collection[str] | None = None,
        *,
        scoped: bool = True,
        mirrored: Mapping[str, dt.datetime] | None = None,
    ) -> Accounts:
        return cls(default, frozenset(known) if known is not None else None, scoped, mirrored)


def names_accounts(config: ExportConfig) -> bool:
    """Whether the sync names its rows' accounts (else: the deployment's single account)."""
    return bool(config.account_column or config.account)


def account_config_problems(config: ExportConfig) -> list[Any]:
    """The YAML problems of ``account`` and ``account_column``."""
    found = []
    if config.account is not None and not ACCOUNT_KEY.match(config.account):
        found.append(
            problem(
                ("account",),
                f"{config.account!r} is not an account key: a configured account's name "
                "(lower-case letters, digits, '_' or '-') or a connected account's id (acct_...)",
                config.account,
            )
        )
    if config.account_column is not None:
        if not config.account_column.strip():
            found.append(problem(("account_column",), "name the model column that holds each row's account"))
        config.account_column = config.account_column.strip() or None
    if config.account_column and config.account_column == config.key.column:
        found.append(
            problem(
                ("account_column",),
                f"'{config.account_column}' is the key column; the account needs its own column",
                config.account_column,
            )
        )
    return found


def row_account(
    config: ExportConfig, value: str | None, key: str | None, accounts: Accounts
) -> tuple[str | None, str | None]:
    """(the row's account, the problem that rejects it) for the account value the model gave."""
    if not names_accounts(config):
        return accounts.default, None
    account = (value or "").strip() or config.account
    row = f"row key {key!r}" if key is not None else "a row with a null key"
    column = config.account_column
    if not account:
        return None, f"account column '{column}' is empty for {row}: name the Stripe account to write to"
    where = f"account column '{column}'" if column and (value or "").strip() else "`account`"
    if "\x00" in account:
        return None, f"{where} of {row} holds a NUL character (U+0000)"
    if accounts.known is not None and account not in accounts.known:
        shown = ", ".join(sorted(accounts.known)[:10]) + (", ..." if len(accounts.known) > 10 else "")
        return None, (
            f"{where} of {row}: {account!r} is not a configured or discovered Stripe account "
            f"(accounts: {shown or 'none'})"
        )
    if accounts.mirrored is not None and account not in accounts.mirrored:
        return None, (
            f"{where} of {row}: account {account!r} has not been mirrored yet, so its "
            "customers are unknown; refresh stripe/customers for it first"
        )
    return account, None


def accounts_file() -> str | None:
    """``STRIPE_ACCOUNTS_FILE``: set in a deployment with several Stripe accounts."""
    return os.environ.get("STRIPE_ACCOUNTS_FILE", "").strip() or None


def configured_accounts(path: str) -> set[str]:
    """The account keys the accounts file names: plain accounts and explicit connected ids."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError):
        return set()  # the accounts' own loading reports the file's problems
    names = {str(a.get("name")) for a in data.get("accounts") or [] if isinstance(a, dict)}
    for platform in data.get("platforms") or []:
        if isinstance(platform, dict):
            exclude = set(platform.get("exclude") or [])
            names |= {str(a) for a in platform.get("accounts") or [] if a not in exclude}
    return {n for n in names if ACCOUNT_KEY.match(n)}


def registered_accounts(conn: Any, mirror_schema: str) -> set[str]:
    """The accounts in the warehouse's registry (``<schema>.stripe_accounts``), not removed."""
    from stripe_customer_assets.warehouse.ddl import table_exists
    from stripe_customer_assets.warehouse.names import qualified

    table = qualified(mirror_schema, "stripe_accounts")
    if not table_exists(conn, table):
        return set()
    rows = conn.exec_driver_sql(f"SELECT account FROM {table} WHERE removed_at IS NULL")
    return {str(r[0]) for r in rows if r[0]}


def deployment_accounts(warehouse: Any, mirror_schema: str, single: str) -> Accounts:
    """The accounts a row may name: the single account (``single``, the Stripe resource's
    account) without an accounts file; with one, its accounts and the discovered ones."""
    path = accounts_file()
    if path is None:
        return Accounts.of(single, {single}, scoped=False)
    with warehouse.begin() as conn:
        known = registered_accounts(conn, mirror_schema)
        mirrored = mirror_times(conn, mirror_schema)
    return Accounts.of(single, known | configured_accounts(path), mirrored=mirrored)


def mirror_times(conn: Any, mirror_schema: str) -> dict[str, dt.datetime]:
    """Each mirrored account's last refresh, on Stripe's clock (its cursor's watermark)."""
    from stripe_customer_assets.mirror.cursor import CURSOR_NAME
    from stripe_customer_assets.mirror.migrate import lacks_account
    from stripe_customer_assets.mirror.table import cursor_table
    from stripe_customer_assets.warehouse.ddl import table_exists

    table = cursor_table(mirror_schema)
    if not table_exists(conn, table) or lacks_account(conn, table):
        return {}
    rows = conn.execute(
        sa.text(f"SELECT account, event_created FROM {table} WHERE name = :name AND event_created IS NOT NULL"),
        {"name": CURSOR_NAME},
    )
    return {
        str(a): (t if t.tzinfo else t.replace(tzinfo=dt.UTC)) for a, t in rows if isinstance(t, dt.datetime)
    }


def oldest_refresh(accounts: Accounts, targets: Collection[str]) -> dt.datetime | None:
    """The plan's time: the oldest last refresh of the accounts it writes to (None: unknown)."""
    times = [accounts.mirrored[a] for a in targets if accounts.mirrored and a in accounts.mirrored]
    return min(times) if times else None


def require_targets(config: ExportConfig) -> None:
    """With several accounts, a sync must say which account each row is written to."""
    from stripe_customer_assets.export.errors import ExportError

    if accounts_file() is not None and not names_accounts(config):
        raise ExportError(
            f"sync '{config.name}': this deployment has several Stripe accounts "
            "(STRIPE_ACCOUNTS_FILE), so the sync must name each row's target account: set "
            "account_column (a model column holding the account) or account (one account for "
            "every row) in its defs.yaml; nothing was planned"
        )

"""The registry of accounts in the warehouse: ``<schema>.stripe_accounts``.

One row per account key ever mirrored: its kind (``plain`` | ``connected``), the platform of a
connected account, its Stripe id, when discovery first and last saw it, and ``removed_at`` once
it is no longer configured or listed (its mirrored rows stay; it is no longer refreshed). A
connected account that comes back is active again (``removed_at`` cleared). The resource reads
it to find a connected account's platform when several platforms are configured.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.ddl import ensure_table
from stripe_customer_assets.warehouse.names import Table, qualified

REGISTRY_TABLE = "stripe_accounts"


def registry_table(schema: str) -> Table:
    return qualified(schema, REGISTRY_TABLE)


@dataclass(frozen=True)
class AccountRef:
    """An account this deployment mirrors, as configured or discovered."""

    account: str  # the account key: a plain account's name or a connected acct_ id
    kind: str  # "plain" | "connected"
    platform: str | None = None
    stripe_account_id: str | None = None  # acct_ of a connected account (plain: unknown here)


@dataclass(frozen=True)
class RegistryRow:
    account: str
    kind: str
    platform: str | None
    stripe_account_id: str | None
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    removed_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.removed_at is None


def ensure_registry(conn: sa.Connection, schema: str) -> None:
    ensure_table(
        conn,
        registry_table(schema),
        """account VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        platform VARCHAR,
        stripe_account_id VARCHAR,
        first_seen TIMESTAMPTZ NOT NULL,
        last_seen TIMESTAMPTZ NOT NULL,
        removed_at TIMESTAMPTZ""",
    )


def read_registry(warehouse: Warehouse, schema: str) -> list[RegistryRow]:
    """Every registered account (removed ones too), by account key; empty before the first sweep."""
    with warehouse.begin() as conn:
        ensure_registry(conn, schema)
        rows = conn.execute(
            sa.text(
                "SELECT account, kind, platform, stripe_account_id, first_seen, last_seen, removed_at "
                f"FROM {registry_table(schema)} ORDER BY account"
            )
        ).fetchall()
    return [RegistryRow(*row) for row in rows]


def update_registry(
    warehouse: Warehouse,
    schema: str,
    seen: Iterable[AccountRef],
    *,
    complete: set[str | None],
    now: dt.datetime | None = None,
) -> tuple[list[str], list[str]]:
    """Record what a sweep saw; return (accounts new or back, accounts removed now).

    ``complete``: the platforms whose listing succeeded (``None`` stands for the plain
    accounts, always complete): a registered account of one of them that was not seen is
    marked removed. Accounts of a platform whose listing failed are left as they are.
    """
    now = now or dt.datetime.now(dt.UTC)
    seen = {ref.account: ref for ref in seen}
    table = registry_table(schema)
    added: list[str] = []
    removed: list[str] = []
    with warehouse.begin() as conn:
        ensure_registry(conn, schema)
        current = {
            row[0]: row
            for row in conn.execute(
                sa.text(f"SELECT account, kind, platform, removed_at FROM {table}")
            ).fetchall()
        }
        inserts, updates = [], []
        for key, ref in sorted(seen.items()):
            row = current.get(key)
            values = {
                "a": key,
                "k": ref.kind,
                "p": ref.platform,
                "s": ref.stripe_account_id,
                "now": now,
            }
            if row is None:
                inserts.append(values)
                added.append(key)
            else:
                updates.append(values)
                if row[3] is not None:
                    added.append(key)  # back after being removed
        if inserts:
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} (account, kind, platform, stripe_account_id, first_seen, last_seen, "
                    "removed_at) VALUES (:a, :k, :p, :s, :now, :now, NULL)"
                ),
                inserts,
            )
        if updates:
            conn.execute(
                sa.text(
                    f"UPDATE {table} SET kind = :k, platform = :p, stripe_account_id = :s, "
                    "last_seen = :now, removed_at = NULL WHERE account = :a"
                ),
                updates,
            )
        for key, (_, kind, platform, removed_at) in sorted(current.items()):
            if key in seen or removed_at is not None:
                continue
            if (None if kind == "plain" else platform) in complete:
                conn.execute(
                    sa.text(f"UPDATE {table} SET removed_at = :now WHERE account = :a"),
                    {"a": key, "now": now},
                )
                removed.append(key)
    return added, removed

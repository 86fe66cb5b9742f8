"""One mirror is one Stripe account and one mode.

Test mode and live mode of an account are separate data sets, and each key reaches one of
them: ``sk_test_`` / ``rk_test_`` keys the test data, ``sk_live_`` / ``rk_live_`` keys the
live data (https://docs.stripe.com/keys). A key of another mode or another account sees
other customers: a full scan with it would mark every mirrored customer deleted, and an
export resolving keys through the mirror would send updates to ids that key cannot see or
create duplicates. So the mirror records which account and mode it holds, in
``<schema>.mirror_identity`` beside its tables, and every run that reads the mirror for a
key checks the key against it first (``check_identity``), before any scan or write.

Where the identity comes from:

- mode: the key's prefix (free), or, for a mirror made before the record existed, the
  ``livemode`` of its customers' JSON;
- account: ``GET /v1/account``. A restricted key cannot read it (Stripe answers 403); the
  403 names the key's account (``... on account 'acct_...'``), which is used when present,
  and otherwise the account stays unknown and only the mode is compared.

The call is made only for a key the mirror has not seen: the record keeps a salted digest of
the last key that matched (``StripeApi.key_fingerprint``), so a regular run costs no call.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.mirror.migrate import add_account, lacks_account
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT, cursor_table, customers_table
from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi, StripeRequestError
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.ddl import ensure_table, table_exists
from stripe_customer_assets.warehouse.names import Table, qualified

log = logging.getLogger(__name__)

IDENTITY_NAME = "customers"
_ACCOUNT_IN_403 = re.compile(r"on account '(acct_[A-Za-z0-9]+)'")


class MirrorIdentityError(RuntimeError):
    """The key belongs to another account or mode than the data the mirror holds."""


@dataclass(frozen=True)
class Identity:
    account_id: str | None  # None: not known (a restricted key, a mirror from before)
    mode: str | None  # "test" | "live" | None
    account_source: str | None = None  # how the account was learned
    key_fingerprint: str | None = None
    salt: str | None = None

    def describe(self) -> str:
        mode = f"{self.mode}-mode" if self.mode else "unknown-mode"
        account = f"Stripe account {self.account_id}" if self.account_id else "an unknown Stripe account"
        return f"{mode} data of {account}"


def identity_table(schema: str) -> Table:
    return qualified(schema, "mirror_identity")


_COLUMNS = """
        account VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        account_id VARCHAR,
        mode VARCHAR,
        account_source VARCHAR,
        key_fingerprint VARCHAR,
        salt VARCHAR,
        recorded_at TIMESTAMPTZ,
        PRIMARY KEY (account, name)
        """


def _ensure_table(conn: Connection, schema: str, account: str) -> None:
    # Race-free on PostgreSQL (``warehouse/ddl.py``): a pipeline may be creating the same
    # schema at this moment on a fresh warehouse. A table made before accounts: its one row
    # becomes ``account``'s.
    ensure_table(conn, identity_table(schema), _COLUMNS)
    migrate_identity(conn, schema, account)


def migrate_identity(conn: Connection, schema: str, account: str) -> None:
    """A record made before accounts becomes ``account``'s (no-op otherwise)."""
    add_account(
        conn,
        identity_table(schema),
        account,
        ["name"],
        lambda c, t: c.exec_driver_sql(f"CREATE TABLE {t} ({_COLUMNS})"),
    )


def _scope(conn: Connection, table: Table, alias: str = "") -> str:
    """`` AND account = :account``, unless ``table`` was made before accounts (then its rows
    are the one account it held, whichever account the run is for)."""
    return "" if lacks_account(conn, table) else f" AND {alias}account = :account"


def read_identity(conn: Connection, schema: str, account: str = DEFAULT_ACCOUNT) -> Identity | None:
    """The recorded identity of ``account``'s mirror in ``schema`` (None: none recorded)."""
    table = identity_table(schema)
    if not table_exists(conn, table):
        return None
    row = conn.execute(
        sa.text(
            f"SELECT account_id, mode, account_source, key_fingerprint, salt "
            f"FROM {table} WHERE name = :name{_scope(conn, table)}"
        ),
        {"name": IDENTITY_NAME, "account": account},
    ).first()
    return None if row is None else Identity(row[0], row[1], row[2], row[3], row[4])


def holder_of(conn: Connection, schema: str, account: str, account_id: str | None) -> str | None:
    """Another account key under which the mirror in ``schema`` holds the Stripe account
    ``account_id`` (None: no other)."""
    table = identity_table(schema)
    if account_id is None or not table_exists(conn, table) or lacks_account(conn, table):
        return None
    return conn.execute(
        sa.text(
            f"SELECT account FROM {table} WHERE account_id = :id AND account <> :account ORDER BY account LIMIT 1"
        ),
        {"id": account_id, "account": account},
    ).scalar()


def duplicate_refusal(schema: str, account: str, other: str, account_id: str) -> str:
    return (
        f"The account key '{account}' reaches Stripe account {account_id}, which the Stripe mirror "
        f"in schema '{schema}' already holds under the account key '{other}'. Refusing to mirror "
        "it twice: nothing was read from Stripe's customers or written. Configure each Stripe "
        f"account once (remove '{account}' or '{other}' from the accounts file, or point it at "
        "another account's key)."
    )


def write_identity(
    conn: Connection, schema: str, identity: Identity, now: dt.datetime, account: str = DEFAULT_ACCOUNT
) -> None:
    _ensure_table(conn, schema, account)
    if conn.dialect.name == "postgresql":  # one writer of the schema's identities at a time
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": f"mirror-identity:{schema}"}
        )
    other = holder_of(conn, schema, account, identity.account_id)
    if other is not None and identity.account_id is not None:
        raise MirrorIdentityError(duplicate_refusal(schema, account, other, identity.account_id))
    conn.execute(
        sa.text(
            f"INSERT INTO {identity_table(schema)} "
            "(account, name, account_id, mode, account_source, key_fingerprint, salt, recorded_at) "
            "VALUES (:account, :name, :account_id, :mode, :account_source, :key_fingerprint, :salt, :now) "
            "ON CONFLICT (account, name) DO UPDATE SET account_id = excluded.account_id, mode = excluded.mode, "
            "account_source = excluded.account_source, key_fingerprint = excluded.key_fingerprint, "
            "salt = excluded.salt, recorded_at = excluded.recorded_at"
        ),
        {
            "account": account,
            "name": IDENTITY_NAME,
            "account_id": identity.account_id,
            "mode": identity.mode,
            "account_source": identity.account_source,
            "key_fingerprint": identity.key_fingerprint,
            "salt": identity.salt,
            "now": now,
        },
    )


def _held_mode(conn: Connection, schema: str, account: str) -> tuple[bool, str | None]:
    """(the mirror holds data: customers or a cursor, their mode from ``livemode`` in the JSON).

    A mirror that holds nothing (a first run that never committed) takes any key's identity.
    """
    if not table_exists(conn, customers_table(schema)):
        return False, None
    flag = (
        "json_extract_string(raw, '$.livemode')" if conn.dialect.name == "duckdb" else "raw->>'livemode'"
    )
    customers, cursors = customers_table(schema), cursor_table(schema)
    rows = conn.execute(
        sa.text(f"SELECT {flag} FROM {customers} WHERE TRUE{_scope(conn, customers)} LIMIT 20"), {"account": account}
    ).fetchall()
    modes = {str(r[0]).lower() for r in rows if r[0] is not None}
    mode = "live" if modes == {"true"} else "test" if modes == {"false"} else None
    cursor = table_exists(conn, cursors) and (
        conn.execute(
            sa.text(f"SELECT 1 FROM {cursors} WHERE TRUE{_scope(conn, cursors)} LIMIT 1"), {"account": account}
        ).first()
        is not None
    )
    return bool(rows) or cursor, mode


def key_account(api: StripeApi) -> tuple[str | None, str | None]:
    """(account id, how it was learned) of the key behind ``api``: ``GET /v1/account``.

    A restricted key is refused there (403); Stripe's refusal names the key's account. A 401
    (a wrong key) is raised: the run could do nothing with that key anyway.
    """
    try:
        account = api.get("/v1/account")
    except StripeAccessError as err:
        match = _ACCOUNT_IN_403.search(str(err))
        if "(403)" in str(err) and match:
            return match.group(1), "403 answer to GET /v1/account"
        if "(403)" in str(err):
            return None, None
        raise
    except StripeRequestError as err:  # a Stripe-like server without /v1/account
        log.warning("GET /v1/account failed (%s); the mirror's account stays unknown", err)
        return None, None
    account_id = account.get("id") if isinstance(account, dict) else None
    return (account_id, "GET /v1/account") if isinstance(account_id, str) else (None, None)


def differs(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a != b


def refusal(schema: str, held: Identity, key: Identity, what: str) -> str:
    """The message of a refused run: both identities and the way out."""
    same_account = not differs(held.account_id, key.account_id)
    keep = (
        f"a {held.mode}-mode key of {held.account_id or 'the same account'}"
        if held.mode
        else f"a key of {held.account_id}"
    )
    suggestion = f"{schema}_{key.mode}" if same_account and key.mode else f"{schema}_{key.account_id or 'other'}"
    return (
        f"The Stripe mirror in schema '{schema}' holds {held.describe()}, but STRIPE_API_KEY is a "
        f"key for {key.describe()}. Refusing {what}: nothing was read from Stripe's customers or "
        "written to the warehouse or to Stripe. A mirror holds one account's mode; to mirror "
        f"the other data, give it its own schema (set STRIPE_MIRROR_SCHEMA, e.g. to '{suggestion}'); "
        f"to keep using this mirror, set STRIPE_API_KEY to {keep}."
    )


def check_identity(
    api: StripeApi,
    warehouse: Warehouse,
    schema: str,
    *,
    record: bool = True,
    what: str = "this run",
    account: str = DEFAULT_ACCOUNT,
) -> Identity | None:
    """Refuse (``MirrorIdentityError``) a key of another account or mode than the mirror's.

    ``record``: write the identity when the mirror has none yet (or learned more), as the
    mirror's own refresh does; the export's apply step only checks. Returns the identity the
    key has (None when nothing was checked: an apply step against a mirror without a record).
    """
    with warehouse.begin() as conn:
        recorded = read_identity(conn, schema, account)
        if recorded is not None and recorded.salt and recorded.key_fingerprint == api.key_fingerprint(recorded.salt):
            other = holder_of(conn, schema, account, recorded.account_id)
            if other is not None and recorded.account_id is not None:
                raise MirrorIdentityError(duplicate_refusal(schema, account, other, recorded.account_id))
            return recorded  # the key that last matched: same account, same mode, no call
        holds, held_mode = _held_mode(conn, schema, account)
    if recorded is not None:
        held: Identity | None = replace(recorded, mode=recorded.mode or held_mode)
    else:
        held = Identity(None, held_mode) if holds else None
    if held is None and not record:
        return None
    account_id, source = key_account(api)
    mode = api.mode or held_mode
    key = Identity(account_id, api.mode)
    if held is not None and holds and (differs(held.mode, key.mode) or differs(held.account_id, key.account_id)):
        raise MirrorIdentityError(refusal(schema, held, key, what))
    if account_id is not None:
        with warehouse.begin() as conn:
            other = holder_of(conn, schema, account, account_id)
        if other is not None:
            raise MirrorIdentityError(duplicate_refusal(schema, account, other, account_id))
    if not record:
        return key
    keep = held if holds and held is not None else None  # an empty mirror takes the key's identity
    salt = secrets.token_hex(8)
    merged = Identity(
        account_id=(keep.account_id if keep and keep.account_id else account_id),
        mode=(keep.mode if keep and keep.mode else mode),
        account_source=(keep.account_source if keep and keep.account_id else source),
        key_fingerprint=api.key_fingerprint(salt),
        salt=salt,
    )
    if merged.account_id is None:
        log.warning(
            "the key cannot read GET /v1/account (a restricted key?): the mirror's account is "
            "not known, only its mode (%s) is checked",
            merged.mode or "unknown",
        )
    with warehouse.begin() as conn:
        write_identity(conn, schema, merged, dt.datetime.now(dt.UTC), account)
    return merged

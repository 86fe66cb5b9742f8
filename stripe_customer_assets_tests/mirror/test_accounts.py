"""Several Stripe accounts in one mirror table: each account's rows, cursor and counts are its own."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from stripe_customer_assets.mirror.cursor import read_cursor
from stripe_customer_assets.mirror.identity import MirrorIdentityError
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.table import DEFAULT_ACCOUNT, customers_table
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_standin import STANDIN_API_KEY

KEY_B = "sk_test_accountb00000000000"
ACCT_B = "acct_1AccountB000000001"
KEY_C = "sk_test_accountc00000000000"
ACCT_C = "acct_1AccountC000000001"


def client(standin, key: str) -> StripeApi:
    return StripeApi(key, api_base=standin.base_url, rate_limit=10_000, endpoint_rate_limit=10_000, backoff_base_s=0.01)


def rows_of(wh: Warehouse, schema: str, account: str) -> dict[str, dict]:
    with wh.begin() as conn:
        rows = conn.execute(
            sa.text(f"SELECT * FROM {customers_table(schema)} WHERE account = :a"), {"a": account}
        ).mappings()
        return {r["id"]: dict(r) for r in rows}


def assert_account_equals_stripe(wh: Warehouse, schema: str, account: str, data) -> None:
    rows = rows_of(wh, schema, account)
    live = {c["id"]: c for c in data.customers()}
    assert {k for k, r in rows.items() if not r["deleted"]} == set(live), account
    for cid, customer in live.items():
        raw = rows[cid]["raw"]
        assert (json.loads(raw) if isinstance(raw, str) else raw) == customer


def test_three_accounts_in_one_table_scan_change_and_delete_only_their_own(standin, wh, mirror_schema):
    data_a, data_b = standin, standin.dataset(account_id=ACCT_B)
    standin.add_api_key(KEY_B, account_id=ACCT_B)
    standin.add_api_key(KEY_C, account_id=ACCT_C)
    data_a.seed_customers(30, seed=1)
    data_b.seed_customers(20, seed=2)
    api_a, api_b, api_c = client(standin, STANDIN_API_KEY), client(standin, KEY_B), client(standin, KEY_C)

    first_a = refresh_mirror(api_a, wh, mirror_schema, account="a")
    first_b = refresh_mirror(api_b, wh, mirror_schema, account="b")
    empty_c = refresh_mirror(api_c, wh, mirror_schema, account="c")
    assert (first_a.mode, first_a.inserted, first_a.row_count) == ("full", 30, 30)
    assert (first_b.mode, first_b.inserted, first_b.row_count) == ("full", 20, 20)
    assert (empty_c.inserted, empty_c.row_count) == (0, 0)
    assert first_a.mirror_version < first_b.mirror_version < empty_c.mirror_version
    assert_account_equals_stripe(wh, mirror_schema, "a", data_a)
    assert_account_equals_stripe(wh, mirror_schema, "b", data_b)
    with wh.begin() as conn:
        cursors = {a: read_cursor(conn, mirror_schema, a) for a in ("a", "b", "c", DEFAULT_ACCOUNT)}
    assert cursors[DEFAULT_ACCOUNT] is None
    assert [cursors[a].mirror_version for a in "abc"] == [r.mirror_version for r in (first_a, first_b, empty_c)]
    before_b = rows_of(wh, mirror_schema, "b")

    # Changes in A only: A's incremental run writes A's rows at a new version, B's stay as they were.
    customers = data_a.customers()
    for c in customers[:3]:
        data_a.update_customer(c["id"], name=f"Renamed {c['id']}")
    for c in customers[3:5]:
        data_a.delete_customer(c["id"])
    data_a.create_customer(email="new@example.com")
    changed_a = refresh_mirror(api_a, wh, mirror_schema, account="a")
    assert changed_a.mode == "incremental"
    assert (changed_a.inserted, changed_a.updated, changed_a.deleted) == (1, 3, 2)
    assert changed_a.row_count == 29
    assert changed_a.mirror_version == empty_c.mirror_version + 1
    assert_account_equals_stripe(wh, mirror_schema, "a", data_a)
    assert rows_of(wh, mirror_schema, "b") == before_b

    quiet_b = refresh_mirror(api_b, wh, mirror_schema, account="b")
    assert (quiet_b.mode, quiet_b.changed, quiet_b.row_count) == ("incremental", 0, 20)
    assert quiet_b.mirror_version == first_b.mirror_version  # no change, no version

    # A full scan of A lists none of B's customers, and marks none of them deleted.
    rescan_a = refresh_mirror(api_a, wh, mirror_schema, account="a", full_refresh=True)
    assert (rescan_a.mode, rescan_a.changed, rescan_a.row_count) == ("full", 0, 29)
    assert rows_of(wh, mirror_schema, "b") == before_b
    # B's full scan, a delete in B: B's rows only.
    data_b.delete_customer(data_b.customers()[0]["id"])
    rescan_b = refresh_mirror(api_b, wh, mirror_schema, account="b", full_refresh=True)
    assert (rescan_b.deleted, rescan_b.row_count) == (1, 19)
    assert rescan_b.mirror_version > changed_a.mirror_version
    assert_account_equals_stripe(wh, mirror_schema, "a", data_a)
    assert_account_equals_stripe(wh, mirror_schema, "b", data_b)
    with wh.begin() as conn:
        history = conn.exec_driver_sql(
            f'SELECT account, COUNT(*) FROM "{mirror_schema}".customers_history GROUP BY account ORDER BY account'
        ).all()
    assert [tuple(r) for r in history] == [("a", 31 + 3 + 2), ("b", 20 + 1)]


def test_an_account_mirrored_under_another_key_is_refused_naming_both(standin, wh, mirror_schema):
    standin.seed_customers(5, seed=3)
    refresh_mirror(client(standin, STANDIN_API_KEY), wh, mirror_schema, account="eu")
    twin = client(standin, STANDIN_API_KEY)  # another configured name, the same Stripe account
    with pytest.raises(MirrorIdentityError) as refused:
        refresh_mirror(twin, wh, mirror_schema, account="europe")
    assert "'europe'" in str(refused.value) and "'eu'" in str(refused.value)
    assert rows_of(wh, mirror_schema, "europe") == {}
    with wh.begin() as conn:
        assert read_cursor(conn, mirror_schema, "europe") is None


def test_accounts_refresh_at_the_same_time_and_commit_versions_in_order(standin, warehouse_url, mirror_schema):
    """Both accounts reach their commit together (the refresh lock is per account); the
    versions they commit are one sequence, and every reader sees a prefix of it."""
    keys = {"a": STANDIN_API_KEY, "b": KEY_B, "c": KEY_C}
    standin.add_api_key(KEY_B, account_id=ACCT_B)
    standin.add_api_key(KEY_C, account_id=ACCT_C)
    for i, account_id in enumerate([None, ACCT_B, ACCT_C]):
        standin.dataset(account_id=account_id).seed_customers(40, seed=10 + i)
    warehouse = Warehouse(warehouse_url)
    barrier = threading.Barrier(3, timeout=60)
    results: dict[str, object] = {}
    seen: list[set[int]] = []
    stop = threading.Event()

    def run(account: str) -> None:
        try:
            api = client(standin, keys[account])
            results[account] = refresh_mirror(api, warehouse, mirror_schema, account=account, before_commit=barrier.wait)
            data = standin.dataset(account_id={"a": None, "b": ACCT_B, "c": ACCT_C}[account])
            for c in data.customers()[:2]:
                data.update_customer(c["id"], name=f"{account} again")
            results[account + "2"] = refresh_mirror(api, warehouse, mirror_schema, account=account)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            results[account] = err

    def watch() -> None:
        while not stop.is_set():
            with warehouse.begin() as conn:
                if sa.inspect(conn).has_table("customers_history", schema=mirror_schema):
                    versions = conn.exec_driver_sql(
                        f'SELECT DISTINCT mirror_version FROM "{mirror_schema}".customers_history'
                    ).scalars()
                    seen.append(set(versions))

    threads = [threading.Thread(target=run, args=(a,)) for a in keys]
    watcher = threading.Thread(target=watch)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    watcher.join()
    errors = [r for r in results.values() if isinstance(r, BaseException)]
    assert not errors, errors
    versions = sorted(results[k].mirror_version for k in results)
    assert versions == list(range(1, 7))  # one sequence over the accounts, no version twice
    for account in keys:
        assert results[account].row_count == 40 and results[account + "2"].updated == 2
    assert seen and all(s == set(range(1, len(s) + 1)) for s in seen), seen
    warehouse.dispose()


# The tables as a single-account mirror made them, before the account column.
def _legacy_ddl(schema: str, dialect: str) -> list[str]:
    js = "JSONB" if dialect == "postgresql" else "JSON"
    content = (
        f"created TIMESTAMPTZ, email VARCHAR, name VARCHAR, phone VARCHAR, description VARCHAR, currency VARCHAR,"
        f" balance BIGINT, delinquent BOOLEAN, metadata {js}, address {js}, shipping {js}, raw {js} NOT NULL"
    )
    history_key = ", PRIMARY KEY (id, mirror_version)" if dialect == "postgresql" else ""
    s = f'"{schema}"'
    return [
        f"CREATE SCHEMA {s}",
        f"CREATE TABLE {s}.customers (id VARCHAR PRIMARY KEY, {content}, deleted BOOLEAN NOT NULL DEFAULT FALSE,"
        f" deleted_at TIMESTAMPTZ, synced_at TIMESTAMPTZ NOT NULL, mirror_version BIGINT NOT NULL,"
        f" api_version VARCHAR, raw_normalized {js})",
        f"CREATE TABLE {s}.customers_cursor (name VARCHAR PRIMARY KEY, event_id VARCHAR, event_created TIMESTAMPTZ,"
        " mirror_version BIGINT NOT NULL, mode VARCHAR, updated_at TIMESTAMPTZ)",
        f"CREATE TABLE {s}.customers_cursor_events (event_id VARCHAR PRIMARY KEY, customer_id VARCHAR NOT NULL,"
        " created BIGINT NOT NULL)",
        f"CREATE TABLE {s}.customers_history (id VARCHAR NOT NULL, mirror_version BIGINT NOT NULL,"
        f" valid_from TIMESTAMPTZ NOT NULL, valid_to TIMESTAMPTZ, event_id VARCHAR NOT NULL, changed_fields VARCHAR,"
        f" {content}, raw_normalized {js}, deleted BOOLEAN NOT NULL, deleted_at TIMESTAMPTZ{history_key})",
        f"CREATE TABLE {s}.mirror_identity (name VARCHAR PRIMARY KEY, account_id VARCHAR, mode VARCHAR,"
        " account_source VARCHAR, key_fingerprint VARCHAR, salt VARCHAR, recorded_at TIMESTAMPTZ)",
    ]


def make_legacy_mirror(wh: Warehouse, source: str, legacy: str) -> None:
    """``legacy``: the single-account shape holding what ``source`` (one account) holds."""
    with wh.begin() as conn:
        for statement in _legacy_ddl(legacy, conn.dialect.name):
            conn.exec_driver_sql(statement)
        for table in ["customers", "customers_cursor", "customers_cursor_events", "customers_history", "mirror_identity"]:
            cols = ", ".join(f'"{c}"' for c in columns_of(conn, legacy, table))
            conn.exec_driver_sql(f'INSERT INTO "{legacy}"."{table}" ({cols}) SELECT {cols} FROM "{source}"."{table}"')


def columns_of(conn, schema: str, table: str) -> list[str]:
    return conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"
            " ORDER BY ordinal_position"
        ),
        {"s": schema, "t": table},
    ).scalars().all()


def test_a_single_account_mirror_is_migrated_in_place_without_a_rescan(standin, wh, mirror_schema, unique_schema):
    standin.seed_customers(25, seed=4)
    api = client(standin, STANDIN_API_KEY)
    refresh_mirror(api, wh, mirror_schema)
    for c in standin.customers()[:2]:
        standin.update_customer(c["id"], name="Before the move")
    refresh_mirror(api, wh, mirror_schema)
    legacy = unique_schema("legacy")
    make_legacy_mirror(wh, mirror_schema, legacy)
    with wh.begin() as conn:
        old_cursor = read_cursor(conn, legacy, None)
        old_rows = conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{legacy}".customers').scalar()
        old_history = conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{legacy}".customers_history').scalar()

    standin.update_customer(standin.customers()[5]["id"], name="After the move")
    moved = refresh_mirror(api, wh, legacy, account="eu")
    assert (moved.mode, moved.listed, moved.updated, moved.row_count) == ("incremental", 0, 1, 25)
    assert moved.mirror_version == old_cursor.mirror_version + 1
    assert_account_equals_stripe(wh, legacy, "eu", standin)
    with wh.begin() as conn:
        for table in ["customers", "customers_cursor", "customers_cursor_events", "customers_history", "mirror_identity"]:
            accounts = conn.exec_driver_sql(f'SELECT DISTINCT account FROM "{legacy}"."{table}"').scalars().all()
            assert accounts in (["eu"], []), table
        assert conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{legacy}".customers').scalar() == old_rows
        assert conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{legacy}".customers_history').scalar() == old_history + 1
        assert conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{legacy}".customers_cursor').scalar() == 1
        assert read_cursor(conn, legacy, "eu").event_id is not None
    # The key is (account, id): the same id under another account is another row.
    some = next(iter(rows_of(wh, legacy, "eu")))
    with wh.begin() as conn:
        cols = columns_of(conn, legacy, "customers")
    listed = ", ".join(f'"{c}"' for c in cols)
    picked = ", ".join(":a" if c == "account" else f'"{c}"' for c in cols)
    copy = f'INSERT INTO "{legacy}".customers ({listed}) SELECT {picked} FROM "{legacy}".customers WHERE id = :id AND account = \'eu\''
    with wh.begin() as conn:
        conn.execute(sa.text(copy), {"a": "other", "id": some})
        conn.execute(sa.text(f'DELETE FROM "{legacy}".customers WHERE account = :a'), {"a": "other"})
    with pytest.raises(sa.exc.DBAPIError), wh.begin() as conn:
        conn.execute(sa.text(copy), {"a": "eu", "id": some})
    # Another account joins the migrated table.
    standin.add_api_key(KEY_B, account_id=ACCT_B)
    standin.dataset(account_id=ACCT_B).seed_customers(7, seed=8)
    joined = refresh_mirror(client(standin, KEY_B), wh, legacy, account="b")
    assert (joined.mode, joined.inserted, joined.row_count) == ("full", 7, 7)
    again = refresh_mirror(api, wh, legacy, account="eu")
    assert (again.mode, again.changed, again.row_count) == ("incremental", 0, 25)

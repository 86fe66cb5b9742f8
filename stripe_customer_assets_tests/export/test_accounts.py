"""An export whose model targets customers in several Stripe accounts."""

from __future__ import annotations

import pytest

from stripe_customer_assets.export import apply_plan, make_plan, parse_config, sent_keys, store_plan
from stripe_customer_assets.export.accounts import Accounts
from stripe_customer_assets.export.history import history_table
from stripe_customer_assets.export.plan_table import load_plan, plans_table
from stripe_customer_assets.export.preview import markdown_preview
from stripe_customer_assets.export.report import plan_figures
from stripe_customer_assets.export.state_table import read_state
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets_tests.export.accounts_support import (
    ACCOUNTS,
    add_accounts,
    data_set,
    mirror_accounts,
    posts_by_account,
)

KNOWN = Accounts.of("default", set(ACCOUNTS))


def model(wh, schema: str, rows: list[tuple]) -> str:
    table = f'"{schema}"."people"'
    with wh.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql(f"CREATE TABLE {table} (region VARCHAR, email VARCHAR, full_name VARCHAR)")
        for row in rows:
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES ({', '.join(_lit(v) for v in row)})")
    return table


def _lit(value) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def config(table: str, state_schema: str, **extra):
    return parse_config(
        {
            "name": "people",
            "model": f"SELECT * FROM {table}",
            "key": {"column": "email", "stripe_field": "email"},
            "account_column": "region",
            "fields": {"name": "full_name"},
            "state_schema": state_schema,
            **extra,
        }
    )


ROWS = [
    ("eu", "shared@example.com", "Shared in EU"),  # the same email in eu and us: two customers
    ("us", "shared@example.com", "Shared in US"),
    ("eu", "new-eu@example.com", "New EU"),  # created in eu
    ("apac", "new-ap1@example.com", "New APAC 1"),
    ("apac", "new-ap2@example.com", "New APAC 2"),
    ("us", "same@example.com", "Same"),  # already as the model says: nothing sent
    ("mars", "lost@example.com", "Lost"),  # not an account: rejected
    (None, "none@example.com", "Nobody"),  # no account: rejected
]


def run(wh, config, clients, mirror_schema, unique_schema):
    mirror_accounts(wh, mirror_schema, clients, unique_schema)
    plan = make_plan(wh, config, mirror_schema, sent_keys=sent_keys(wh, config), accounts=KNOWN)
    store_plan(wh, config, plan)
    result = apply_plan(
        config, clients["eu"], wh, client_for=clients.__getitem__, concurrency=4, plan=plan
    )
    return plan, result


def test_each_row_is_written_to_its_own_account_once_and_a_rerun_writes_nothing(
    standin, wh, mirror_schema, unique_schema
):
    clients = add_accounts(standin)
    data_set(standin, "eu").create_customer(email="shared@example.com", name="Old EU")
    us_shared = data_set(standin, "us").create_customer(email="shared@example.com", name="Old US")
    data_set(standin, "us").create_customer(email="same@example.com", name="Same")
    table = model(wh, unique_schema("crm"), ROWS)
    cfg = config(table, unique_schema("exports"))
    standin.requests(clear=True)

    plan, result = run(wh, cfg, clients, mirror_schema, unique_schema)

    by_row = {(e.account, e.key): e for e in plan.entries}
    assert by_row[("eu", "shared@example.com")].action == "update"
    assert by_row[("us", "shared@example.com")].stripe_id == us_shared["id"]
    assert by_row[("us", "same@example.com")].action == "unchanged"
    rejected = [e.reason for e in plan.entries if e.action == "reject"]
    assert any("account column 'region'" in r and "'lost@example.com'" in r and "'mars'" in r for r in rejected)
    assert any("account column 'region' is empty" in r and "'none@example.com'" in r for r in rejected)
    assert posts_by_account(standin.requests(clear=True)) == {"eu": 2, "us": 1, "apac": 2}
    assert (result.created, result.updated, result.failed) == (3, 2, 0)
    assert result.by_account == {
        "eu": {"created": 1, "updated": 1},
        "us": {"updated": 1},
        "apac": {"created": 2},
    }
    assert plan_figures(plan)["accounts"]["apac"]["create"] == 2
    for name, emails in {
        "eu": ["new-eu@example.com", "shared@example.com"],
        "us": ["same@example.com", "shared@example.com"],
        "apac": ["new-ap1@example.com", "new-ap2@example.com"],
    }.items():
        assert sorted(c["email"] for c in data_set(standin, name).customers()) == emails
    assert {c["name"] for c in data_set(standin, "us").customers()} == {"Shared in US", "Same"}
    assert not standin.customers()  # the stand-in's own account: nothing
    state = {(r["account"], r["key"]): r for r in read_state(wh, cfg)}
    assert state[("apac", "new-ap1@example.com")]["status"] == "created"
    assert state[("", "lost@example.com")]["status"] == "rejected"
    assert state[("", "none@example.com")]["status"] == "rejected"
    # Two accounts, one email: two keys, never a replay of the other.
    shared = [by_row[(a, "shared@example.com")].idempotency_key for a in ("eu", "us")]
    assert len(set(shared)) == 2

    again, second = run(wh, cfg, clients, mirror_schema, unique_schema)
    assert posts_by_account(standin.requests(clear=True)) == {}
    assert second.writes == 0 and again.summary.writes == 0
    assert again.summary.counts["unchanged"] == 6

    preview = markdown_preview(load_plan(wh, cfg))
    assert "| account | unchanged | reject |" in preview
    assert "| row | account | key | action | reason |" in preview
    with wh.begin() as conn:
        history = conn.exec_driver_sql(
            f"SELECT account, key, status FROM {history_table(cfg)} WHERE status = 'created'"
        ).fetchall()
        by_account = conn.exec_driver_sql(
            f"SELECT by_account FROM {plans_table(cfg)} ORDER BY planned_at LIMIT 1"
        ).scalar()
    assert sorted(history) == [
        ("apac", "new-ap1@example.com", "created"),
        ("apac", "new-ap2@example.com", "created"),
        ("eu", "new-eu@example.com", "created"),
    ]
    assert '"apac": {' in by_account


def test_a_fixed_account_writes_every_row_there(standin, wh, mirror_schema, unique_schema):
    clients = add_accounts(standin)
    data_set(standin, "eu").create_customer(email="a@example.com", name="EU A")
    table = model(wh, unique_schema("crm"), [(None, "a@example.com", "A")])
    cfg = config(table, unique_schema("exports"), account_column=None, account="us")
    standin.requests(clear=True)
    plan, _ = run(wh, cfg, clients, mirror_schema, unique_schema)
    assert [(e.account, e.action) for e in plan.entries] == [("us", "create")]  # eu's is not us's
    assert posts_by_account(standin.requests(clear=True)) == {"us": 1}


def test_the_account_settings_are_checked_where_they_are_written():
    base = {"name": "s", "model": "SELECT 1", "key": {"column": "email", "stripe_field": "email"}}
    with pytest.raises(ValueError, match="not an account key"):
        parse_config({**base, "account": "EU West"})
    with pytest.raises(ValueError, match="is the key column"):
        parse_config({**base, "account_column": "email"})
    assert parse_config({**base, "account": "acct_1AbC"}).account == "acct_1AbC"
    assert parse_config({**base, "account_column": " region "}).model_columns == ["email", "region"]


def test_tables_from_before_accounts_are_migrated_under_the_single_account(wh, unique_schema, monkeypatch):
    from stripe_customer_assets.export.history import ensure_history_table
    from stripe_customer_assets.export.state_table import last_pushed, state_table

    monkeypatch.setenv("STRIPE_ACCOUNT_NAME", "main")
    cfg = parse_config(
        {
            "name": "old",
            "model": "SELECT 'a@x.io' AS email",
            "key": {"column": "email", "stripe_field": "email"},
            "state_schema": unique_schema("exports"),
        }
    )
    with wh.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{cfg.state_schema}"')
        conn.exec_driver_sql(
            f"CREATE TABLE {state_table(cfg)} (key VARCHAR NOT NULL, stripe_id VARCHAR NOT NULL, "
            "status VARCHAR NOT NULL, reason VARCHAR, changed_fields VARCHAR, last_write VARCHAR, "
            "payload_hash VARCHAR, idempotency_key VARCHAR, written_at TIMESTAMPTZ, plan_id VARCHAR, "
            "updated_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (key, stripe_id))"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {state_table(cfg)} VALUES ('a@x.io', 'cus_1', 'updated', NULL, 'name', "
            "'updated', 'h', 'k1', CURRENT_TIMESTAMP, 'p', CURRENT_TIMESTAMP)"
        )
        conn.exec_driver_sql(
            f"CREATE TABLE {history_table(cfg)} (run_id VARCHAR NOT NULL, plan_id VARCHAR NOT NULL, "
            "recorded_at TIMESTAMPTZ NOT NULL, key VARCHAR, stripe_id VARCHAR NOT NULL, action VARCHAR "
            "NOT NULL, status VARCHAR NOT NULL, changes VARCHAR, request_id VARCHAR, message VARCHAR)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {history_table(cfg)} VALUES ('r', 'p', CURRENT_TIMESTAMP, 'a@x.io', 'cus_1', "
            "'update', 'updated', NULL, NULL, NULL)"
        )
    (row,) = read_state(wh, cfg)
    assert (row["account"], row["key"], row["stripe_id"], row["idempotency_key"]) == ("main", "a@x.io", "cus_1", "k1")
    assert sent_keys(wh, cfg) == {"k1"}
    assert last_pushed(wh, cfg) == {}
    with wh.begin() as conn:
        ensure_history_table(conn, cfg)
        assert conn.exec_driver_sql(f"SELECT account, key FROM {history_table(cfg)}").fetchall() == [("main", "a@x.io")]
        # The new key takes the same key and Stripe id in another account.
        conn.exec_driver_sql(
            f"INSERT INTO {state_table(cfg)} (account, key, stripe_id, status, updated_at) "
            "VALUES ('eu', 'a@x.io', 'cus_1', 'updated', CURRENT_TIMESTAMP)"
        )


def test_the_guards_hold_in_each_account():
    from stripe_customer_assets.export.guards import guard_results
    from stripe_customer_assets.export.plan import Plan, build_plan
    from stripe_customer_assets.export.resolve import ModelRow

    cfg = parse_config(
        {
            "name": "g",
            "model": "SELECT 1",
            "key": {"column": "email", "stripe_field": "email"},
            "account_column": "region",
            "fields": {"name": "full_name"},
            "max_reject_percent": 50,
        }
    )
    rows = [ModelRow(i, f"u{i}@x.io", {"full_name": "N"}, account="eu") for i in range(1, 11)]
    rows.append(ModelRow(11, "bad", {"full_name": "N"}, account="us"))  # not an email
    rows.append(ModelRow(12, "m@x.io", {"full_name": "N"}, account="mars"))  # no such account
    plan = Plan("g", "p", None, build_plan(cfg, rows, accounts=KNOWN), accounts=True)  # type: ignore[arg-type]
    reject, _ = guard_results(cfg, plan)
    assert (reject.account, reject.numerator, reject.denominator, reject.passed) == ("us", 1, 1, False)
    assert "in account 'us'" in reject.describe("g")
    (total, _) = guard_results(cfg, plan.summary)
    assert total.passed and total.numerator == 2


def test_accounts_are_written_in_parallel_each_at_its_own_concurrency(monkeypatch):
    import datetime as dt
    import threading
    import time

    from stripe_customer_assets.export import apply as apply_module
    from stripe_customer_assets.export.plan import Plan, PlanEntry
    from stripe_customer_assets.export.writes import WriteResult, send_writes
    from stripe_customer_assets.stripe_api import ApiStats

    lock, in_flight, peak = threading.Lock(), {}, {"all": 0}
    peak_by = {}

    def write(client, entry):
        with lock:
            in_flight[entry.account] = in_flight.get(entry.account, 0) + 1
            peak_by[entry.account] = max(peak_by.get(entry.account, 0), in_flight[entry.account])
            peak["all"] = max(peak["all"], sum(in_flight.values()))
        time.sleep(0.05)
        with lock:
            in_flight[entry.account] -= 1
        assert client.account == entry.account  # each account's own client
        return WriteResult(entry, "updated", entry.stripe_id or "", None, dt.datetime.now(dt.UTC))

    monkeypatch.setattr(apply_module, "send_writes", lambda *a, **k: send_writes(*a, **k, write=write))

    class Client:
        def __init__(self, account):
            self.account, self.stats = account, ApiStats()

        def now(self):
            return dt.datetime.now(dt.UTC)

    entries = [
        PlanEntry(i, f"k{i}", "update", stripe_id=f"cus_{i}", account=a)
        for i, a in enumerate(["eu", "us", "apac"] * 3)
    ]
    plan = Plan("s", "p", dt.datetime.now(dt.UTC), entries, accounts=True)
    outcomes = []
    fatal = apply_module._send_by_account(
        apply_module._Clients(Client("default"), Client),
        entries,
        plan,
        [False],
        outcomes.append,
        1,  # one request at a time per account
        4,
    )
    assert fatal is None and len(outcomes) == 9
    assert peak_by == {"eu": 1, "us": 1, "apac": 1} and peak["all"] >= 2  # accounts at once


def test_a_refused_key_stops_only_its_accounts_writes(standin, wh, mirror_schema, unique_schema):
    from stripe_customer_assets.export import ExportAccessError

    clients = add_accounts(standin)
    table = model(wh, unique_schema("crm"), [("eu", "a@example.com", "A"), ("us", "b@example.com", "B")])
    cfg = config(table, unique_schema("exports"))
    mirror_accounts(wh, mirror_schema, clients, unique_schema)
    plan = make_plan(wh, cfg, mirror_schema, accounts=KNOWN)
    store_plan(wh, cfg, plan)
    standin.remove_api_key(ACCOUNTS["us"][1])
    with pytest.raises(ExportAccessError, match="account 'us'"):
        apply_plan(cfg, clients["eu"], wh, client_for=clients.__getitem__, plan=plan)
    assert [c["email"] for c in data_set(standin, "eu").customers()] == ["a@example.com"]
    assert not data_set(standin, "us").customers()
    state = {(r["account"], r["key"]): r["last_write"] for r in read_state(wh, cfg)}
    assert state == {("eu", "a@example.com"): "created", ("us", "b@example.com"): "failed"}


def test_with_an_accounts_file_rows_name_known_and_mirrored_accounts(
    standin, wh, mirror_schema, unique_schema, tmp_path, monkeypatch
):
    from stripe_customer_assets.export.accounts import deployment_accounts, require_targets
    from stripe_customer_assets.export.errors import ExportError

    clients = add_accounts(standin)
    mirror_accounts(wh, mirror_schema, {"eu": clients["eu"]})  # us configured, not mirrored yet
    accounts_yaml = tmp_path / "accounts.yaml"
    accounts_yaml.write_text(
        "accounts:\n  - {name: eu, api_key_env: K_EU}\n  - {name: us, api_key_env: K_US}\n", encoding="utf-8"
    )
    monkeypatch.setenv("STRIPE_ACCOUNTS_FILE", str(accounts_yaml))
    accounts = deployment_accounts(wh, mirror_schema, "default")
    assert accounts.known == {"eu", "us"} and set(accounts.mirrored or {}) == {"eu"}
    table = model(
        wh, unique_schema("crm"), [("eu", "a@example.com", "A"), ("us", "b@example.com", "B"), ("apac", "c@example.com", "C")]
    )
    cfg = config(table, unique_schema("exports"))
    plan = make_plan(wh, cfg, mirror_schema, accounts=accounts)
    assert [(e.account, e.action) for e in plan.entries] == [("eu", "create"), (None, "reject"), (None, "reject")]
    assert "'us' has not been mirrored yet" in plan.entries[1].reason
    assert "'apac' is not a configured or discovered Stripe account" in plan.entries[2].reason
    with pytest.raises(ExportError, match="account_column"):
        require_targets(config(table, cfg.state_schema, account_column=None))


def test_rows_for_three_connected_accounts_go_through_the_platform_key_once_each(
    standin, wh, mirror_schema, unique_schema, monkeypatch
):
    """Connect: the rows name connected accounts (acct_ ids); each write carries the
    platform's key and the account's Stripe-Context header, exactly once per changed row."""
    from collections import Counter

    from stripe_customer_assets.resources import StripeAccountEntry, StripeResource

    made = standin.create_platform(connected_accounts=3)
    a, b, c = made["accounts"]
    monkeypatch.setenv("KEY_MARKET", made["api_key"])
    stripe = StripeResource(
        api_base=standin.base_url,
        rate_limit=1000,
        endpoint_rate_limit=1000,
        accounts=[StripeAccountEntry(name="market", kind="platform", api_key_env="KEY_MARKET")],
    )
    standin.account(b).create_customer(email="old@example.com", name="Old name")
    standin.account(c).create_customer(email="old@example.com", name="Same")  # same email, other account
    for acct in made["accounts"]:
        refresh_mirror(stripe.api(account=acct), wh, mirror_schema, account=acct, concurrency=2)
    rows = [
        (a, "new-a1@example.com", "A one"),
        (a, "new-a2@example.com", "A two"),
        (b, "old@example.com", "New name"),  # an update in b
        (c, "old@example.com", "Same"),  # c already says so: nothing sent
        (c, "new-c@example.com", "C one"),
    ]
    cfg = config(model(wh, unique_schema("crm"), rows), unique_schema("exports"))
    known = Accounts.of("default", set(made["accounts"]))
    standin.requests(clear=True)

    plan = make_plan(wh, cfg, mirror_schema, sent_keys=sent_keys(wh, cfg), accounts=known)
    store_plan(wh, cfg, plan)
    result = apply_plan(
        cfg, stripe.api(account=a), wh, client_for=lambda acct: stripe.api(account=acct), concurrency=4, plan=plan
    )

    writes = [r for r in standin.requests(clear=True) if r["method"] == "POST"]
    assert Counter(r["account"] for r in writes) == {a: 2, b: 1, c: 1}
    assert all(r["headers"].get("stripe-context") == r["account"] for r in writes)
    assert (result.created, result.updated, result.failed) == (3, 1, 0)
    emails = {acct: sorted(x["email"] for x in standin.account(acct).customers()) for acct in (a, b, c)}
    assert emails == {
        a: ["new-a1@example.com", "new-a2@example.com"],
        b: ["old@example.com"],
        c: ["new-c@example.com", "old@example.com"],
    }
    assert not standin.customers()  # the platform's own customers: none written

    for acct in made["accounts"]:
        refresh_mirror(stripe.api(account=acct), wh, mirror_schema, account=acct, concurrency=2)
    again = make_plan(wh, cfg, mirror_schema, sent_keys=sent_keys(wh, cfg), accounts=known)
    apply_plan(cfg, stripe.api(account=a), wh, client_for=lambda acct: stripe.api(account=acct), plan=again)
    assert [r for r in standin.requests(clear=True) if r["method"] == "POST"] == []

"""Key resolution is a join against the mirror in the warehouse (DuckDB and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from stripe_customer_assets.export import ExportModelError, parse_config
from stripe_customer_assets.export.resolve import resolve_rows
from stripe_customer_assets.mirror.table import (
    DEFAULT_ACCOUNT,
    customer_row,
    customers_table,
    ensure_tables,
    rows_frame,
)
from stripe_customer_assets.warehouse import upsert_frame
from stripe_customer_assets_tests.export.support import account, write_accounts

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def seed_mirror(wh, schema, customers, deleted=()):
    df = rows_frame([customer_row(c) for c in customers])
    df["deleted"] = pd.array([c["id"] in deleted for c in customers], dtype="boolean")
    df["deleted_at"] = pd.to_datetime(
        pd.Series([NOW if c["id"] in deleted else None for c in customers], dtype="object"),
        utc=True,
    )
    df["synced_at"] = pd.to_datetime(pd.Series([NOW] * len(customers)), utc=True)
    df["mirror_version"] = 3
    df.insert(0, "account", DEFAULT_ACCOUNT)
    with wh.begin() as conn:
        ensure_tables(conn, schema)
        upsert_frame(conn, customers_table(schema), df, ["account", "id"])


def customer(cid, email, created, **extra):
    return {
        "id": cid,
        "object": "customer",
        "email": email,
        "created": created,
        "metadata": {},
        **extra,
    }


def config(table, **overrides):
    base = {
        "name": "crm",
        "model": f"SELECT * FROM {table}",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": {"name": "full_name"},
    }
    base.update(overrides)
    return parse_config(base)


def test_email_keys_match_case_insensitively_and_skip_deleted_customers(
    wh, mirror_schema, accounts_table
):
    write_accounts(
        wh, accounts_table, [account(1, email=" User1@Example.com "), account(2), account(3)]
    )
    seed_mirror(
        wh,
        mirror_schema,
        [
            customer("cus_a", "user1@example.com", 100, name="Old"),
            customer("cus_b", "USER2@example.com", 200),
            customer("cus_c", "user2@example.com", 300),
            customer("cus_gone", "user3@example.com", 50),
        ],
        deleted={"cus_gone"},
    )
    rows = resolve_rows(wh, config(accounts_table), mirror_schema)
    assert [r.key for r in rows] == ["User1@Example.com", "user2@example.com", "user3@example.com"]
    assert [[m.id for m in r.matches] for r in rows] == [["cus_a"], ["cus_c", "cus_b"], []]
    assert rows[0].matches[0].customer["name"] == "Old" and rows[0].matches[0].version == 3
    assert rows[2].deleted_ids == ["cus_gone"]
    assert rows[0].values["full_name"] == "Customer 1"


def test_metadata_keys_match_the_external_id_as_text(wh, mirror_schema, accounts_table):
    write_accounts(wh, accounts_table, [account(7), account(8)])
    seed_mirror(
        wh, mirror_schema, [customer("cus_7", "x@example.com", 1, metadata={"crm_id": "7"})]
    )
    rows = resolve_rows(
        wh,
        config(accounts_table, key={"column": "crm_id", "stripe_field": "metadata.crm_id"}),
        mirror_schema,
    )
    assert [(r.key, [m.id for m in r.matches]) for r in rows] == [("7", ["cus_7"]), ("8", [])]


def test_id_keys_match_the_stripe_id(wh, mirror_schema, schemas):
    table = f'"{schemas["model"]}"."ids"'
    with wh.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schemas["model"]}"')
        conn.exec_driver_sql(f"CREATE TABLE {table} AS SELECT 'cus_a' AS cid, 'A' AS full_name")
    seed_mirror(wh, mirror_schema, [customer("cus_a", None, 1)])
    cfg = config(table, key={"column": "cid", "stripe_field": "id"}, behavior="update_only")
    [row] = resolve_rows(wh, cfg, mirror_schema)
    assert [m.id for m in row.matches] == ["cus_a"]


def test_a_mapped_column_missing_from_the_model_names_field_and_column(
    wh, mirror_schema, accounts_table
):
    write_accounts(wh, accounts_table, [account(1)])
    with pytest.raises(ExportModelError) as err:
        resolve_rows(wh, config(accounts_table, fields={"name": "Full_Name"}), mirror_schema)
    message = str(err.value)
    assert "sync 'crm'" in message and "`fields.name` names model column 'Full_Name'" in message
    assert "did you mean 'full_name'?" in message


def test_model_sql_errors_name_the_sync(wh, mirror_schema):
    with pytest.raises(ExportModelError, match="sync 'crm': the model SQL failed in the warehouse"):
        resolve_rows(wh, config("no_such_table_anywhere"), mirror_schema)

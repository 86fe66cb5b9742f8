"""Names that reach SQL are checked where the user sets them and quoted wherever used."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from stripe_customer_assets.mirror.table import customers_table, ensure_tables
from stripe_customer_assets.pipeline import PipelineConfig
from stripe_customer_assets.resources import WarehouseResource, warehouse_resource_from_env
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.names import InvalidNameError, check_name, quote_ident

INJECTION = 'stripe"; CREATE TABLE pwned (x INTEGER); --'


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (INJECTION, f"{INJECTION!r} is not a plain SQL name; use letters, digits and '_'"),
        ("my-schema", "'my-schema' is not a plain SQL name"),
        ("1st", "'1st' is not a plain SQL name"),
        ("s" * 64, "is 64 characters long"),
    ],
)
def test_a_bad_stripe_mirror_schema_is_refused_naming_the_variable(monkeypatch, value, problem):
    monkeypatch.setenv("STRIPE_MIRROR_SCHEMA", value)
    with pytest.raises(InvalidNameError) as raised:
        warehouse_resource_from_env()
    assert str(raised.value).startswith("STRIPE_MIRROR_SCHEMA: ")
    assert problem in str(raised.value)


def test_good_and_empty_stripe_mirror_schema(monkeypatch):
    monkeypatch.setenv("STRIPE_MIRROR_SCHEMA", "Stripe_Live2")
    assert warehouse_resource_from_env().mirror_schema == "Stripe_Live2"
    monkeypatch.setenv("STRIPE_MIRROR_SCHEMA", "")  # as unset
    assert warehouse_resource_from_env().mirror_schema == "stripe"


def test_a_resource_configured_with_a_bad_schema_refuses_before_any_sql(tmp_path):
    resource = WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}", mirror_schema=INJECTION)
    with pytest.raises(InvalidNameError, match=r"^STRIPE_MIRROR_SCHEMA \(the warehouse resource's mirror_schema\)"):
        resource.warehouse()


def test_a_name_with_a_quote_stays_one_identifier_and_never_becomes_sql(tmp_path):
    assert quote_ident('a"b') == '"a""b"'
    assert customers_table(INJECTION) == '"stripe""; CREATE TABLE pwned (x INTEGER); --"."customers"'
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with wh.begin() as conn:
        ensure_tables(conn, INJECTION)  # code that skips the check still cannot inject
        tables = {row[0] for row in conn.execute(sa.text("SELECT table_name FROM information_schema.tables"))}
        schemas = {row[0] for row in conn.execute(sa.text("SELECT schema_name FROM information_schema.schemata"))}
    assert "pwned" not in tables and INJECTION in schemas
    wh.dispose()


@pytest.mark.parametrize("table", ['analytics.cust"omers', "analytics.customers; DROP TABLE x", "a-b.c", "a.b.c"])
def test_a_bad_pipeline_table_is_refused_naming_the_field(table):
    with pytest.raises(ValidationError) as raised:
        PipelineConfig.model_validate({"name": "p", "table": table, "schema": {"email": "string"}})
    [error] = raised.value.errors()
    assert error["loc"] == ("table",)
    assert f"invalid table name {table!r}" in error["msg"]


def test_check_name_returns_a_good_name():
    assert check_name("analytics_2", "field") == "analytics_2"
    assert quote_ident("analytics_2") == '"analytics_2"'


def test_a_table_is_its_quoted_sql_name_and_knows_its_parts_through_a_pickle():
    import pickle

    from stripe_customer_assets.warehouse.names import Table, parse_table

    table = Table('we"ird', "customers")
    assert table == '"we""ird"."customers"' and (table.schema, table.name) == ('we"ird', "customers")
    again = pickle.loads(pickle.dumps(table))  # crosses to a worker process intact
    assert (again, again.schema, again.name) == (table, table.schema, table.name)
    assert (parse_table("analytics.pro").schema, parse_table('"pro"')) == ("analytics", '"pro"')
    with pytest.raises(InvalidNameError, match="not a plain SQL name"):
        parse_table(INJECTION)


def test_ensure_table_and_table_exists_take_the_same_table(warehouse_url):
    import uuid

    from stripe_customer_assets.warehouse.ddl import ensure_table, table_exists
    from stripe_customer_assets.warehouse.names import Table

    table = Table(f"names_shape_{uuid.uuid4().hex[:8]}", "t")
    warehouse = Warehouse(warehouse_url)
    with warehouse.begin() as conn:
        assert not table_exists(conn, table)
        ensure_table(conn, table, "x INTEGER")
        ensure_table(conn, table, "x INTEGER")  # a second time finds it
        assert table_exists(conn, table)
        conn.exec_driver_sql(f"INSERT INTO {table} VALUES (1)")
    assert warehouse.scalar(f"SELECT COUNT(*) FROM {table}") == 1
    with warehouse.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{table.schema}" CASCADE')

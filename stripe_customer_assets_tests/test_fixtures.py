"""The shared fixtures keep a test's DuckDB file open without changing what the project sees."""

from __future__ import annotations

from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.conftest import duckdb_kept_open


def test_a_kept_open_duckdb_file_shares_its_data_but_not_the_settings_of_a_connection(tmp_path):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with duckdb_kept_open(url):
        warehouse = Warehouse(url)
        with warehouse.begin() as conn:
            conn.exec_driver_sql("SET memory_limit = '128MB'")
            conn.exec_driver_sql("SET threads = 1")
            conn.exec_driver_sql("CREATE TABLE t AS SELECT 1 AS x")
        with warehouse.begin() as conn:
            limit, threads = conn.exec_driver_sql(
                "SELECT current_setting('memory_limit'), current_setting('threads')"
            ).one()
            rows = conn.exec_driver_sql("SELECT x FROM t").all()
        warehouse.dispose()
    assert rows == [(1,)]
    assert limit != "128.0 MiB" and threads != 1, "each connection starts as a freshly opened file"

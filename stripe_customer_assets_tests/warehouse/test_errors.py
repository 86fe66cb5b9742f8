"""Warehouse failures name WAREHOUSE_URL (password masked) and what to do, and touch nothing.

Real conditions: a port where no server listens, a DuckDB file another process holds open,
a file that cannot be written, a URL that does not parse.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.warehouse import Warehouse, WarehouseError

PASSWORD = "s3cr3t-Pa55"
HOLD_THE_FILE = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); c.execute('CREATE TABLE t (x INT)'); "
    "print('ready', flush=True); time.sleep(60)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_names_warehouse_url_with_the_password_masked(api):
    url = f"postgresql+psycopg2://loader:{PASSWORD}@127.0.0.1:{free_port()}/warehouse"
    with pytest.raises(WarehouseError) as raised:
        refresh_mirror(api, Warehouse(url), "stripe")
    message = str(raised.value)
    assert message.startswith(
        f"WAREHOUSE_URL=postgresql+psycopg2://loader:***@127.0.0.1:{url.split(':')[-1].split('/')[0]}/warehouse: "
        "the PostgreSQL server could not be reached or refused the connection (connection to server at"
    )
    assert "Connection refused" in message
    assert message.endswith(
        "check that the server runs and that the host, port, database, user and password in WAREHOUSE_URL are right."
    )
    assert PASSWORD not in message and PASSWORD not in repr(raised.value.__cause__)


def test_a_refused_login_names_warehouse_url(postgres_url):
    url = postgres_url.replace("postgres@", f"no_such_role:{PASSWORD}@")
    with pytest.raises(WarehouseError) as raised:
        Warehouse(url).scalar("SELECT 1")
    assert 'role "no_such_role" does not exist' in str(raised.value)
    assert str(raised.value).startswith("WAREHOUSE_URL=postgresql+psycopg2://no_such_role:***@")
    assert PASSWORD not in str(raised.value)


def test_a_duckdb_file_held_by_another_program_names_warehouse_url_and_the_fix(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_THE_FILE,
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseError) as raised:
            Warehouse(f"duckdb:///{path}").scalar("SELECT 1")
    finally:
        holder.kill()
        holder.wait()
    message = str(raised.value)
    assert message.startswith(
        f"WAREHOUSE_URL=duckdb:///{path}: the DuckDB file is open in another program, "
        "and DuckDB lets one process write a file (IO Error: Could not set lock on file"
    )
    assert message.endswith(
        "close the other program (a DuckDB shell, a notebook, a BI tool) or wait for it, "
        "or use PostgreSQL for concurrent work."
    )
    assert Warehouse(f"duckdb:///{path}").scalar("SELECT COUNT(*) FROM t") == 0  # nothing lost


def _make_read_only(path) -> None:
    os.chmod(path, 0o444)
    if os.geteuid() == 0:  # root ignores modes: make the file immutable instead
        assert shutil.which("chattr"), "running as root needs chattr to make a file read-only"
        subprocess.run(["chattr", "+i", str(path)], check=True)


def _make_writable(path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=False)
    os.chmod(path, 0o644)


def test_a_read_only_duckdb_file_names_warehouse_url_and_the_fix(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    Warehouse(f"duckdb:///{path}").scalar("CREATE TABLE kept AS SELECT 42 AS x")
    _make_read_only(path)
    try:
        with pytest.raises(WarehouseError) as raised:
            Warehouse(f"duckdb:///{path}").scalar("SELECT 1")
    finally:
        _make_writable(path)
    message = str(raised.value)
    assert message.startswith(f"WAREHOUSE_URL=duckdb:///{path}: the warehouse cannot be written (IO Error: ")
    assert message.endswith(
        "make the database file, its directory and its .lock file writable by this user, "
        "or point WAREHOUSE_URL at a writable place."
    )
    assert Warehouse(f"duckdb:///{path}").scalar("SELECT x FROM kept") == 42


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        (f"postgres-ql://u:{PASSWORD}@host/db", "Could not parse SQLAlchemy URL"),
        (f"mysqlx://u:{PASSWORD}@host/db", "Can't load plugin: sqlalchemy.dialects:mysqlx"),
    ],
)
def test_an_unusable_url_names_warehouse_url_without_its_password(url, detail):
    with pytest.raises(WarehouseError) as raised:
        Warehouse(url)
    message = str(raised.value)
    assert message.startswith("WAREHOUSE_URL=") and "is not a usable SQLAlchemy URL" in message
    assert detail in message and PASSWORD not in message

"""The quickstart's first command: the main job on embedded defaults, against the stand-in, told
as a short story, on an instance with the project's run queue and Stripe pools."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster._core.instance.ref import InstanceRef
from dagster._core.run_coordinator import QueuedRunCoordinator

from stripe_customer_assets.lib.keys import stripe_pool
from stripe_standin import demo

PROJECT_ROOT = Path(demo.__file__).resolve().parents[1]


def assert_project_instance(instance: dg.DagsterInstance) -> None:
    """The project's dagster.yaml: queued runs, at most 8 at once, one step per Stripe pool."""
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    config = instance.get_concurrency_config()
    assert config.run_queue_config.max_concurrent_runs == 8
    assert config.pool_config.default_pool_limit == 1


def test_demo_without_a_key_runs_the_main_job_against_the_seeded_standin(tmp_path, monkeypatch, capfd):
    warehouse = tmp_path / "warehouse.duckdb"
    home = tmp_path / "home"
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{warehouse}")

    assert demo.main([]) == 0

    captured = capfd.readouterr()
    out, everything = captured.out, captured.out + captured.err
    # The story, not Dagster's event log: no DEBUG lines, no log records, no banners.
    assert "DEBUG" not in everything and " - dagster - " not in everything, everything
    assert "Telemetry" not in everything and "No dagster instance configuration" not in everything
    assert captured.err == "", captured.err
    lines = out.splitlines()
    assert len(lines) <= 20, out
    assert re.fullmatch(
        r"STRIPE_API_KEY is not set: using the built-in Stripe stand-in at http://127\.0\.0\.1:\d+ "
        rf"with {demo.SAMPLE_CUSTOMERS} sample customers",
        lines[0],
    )
    assert lines[1] == (
        f"Dagster instance: DAGSTER_HOME={home} (a copy of the project's dagster.yaml: the run "
        "queue, one pool per Stripe account)"
    )
    assert lines[2].startswith("Running stripe_import: the mirror stripe/customers")
    assert re.fullmatch(
        rf"  stripe/customers: full \(.+\): \+{demo.SAMPLE_CUSTOMERS} ~0 -0 customers, "
        r"Stripe calls: \d+, \d+\.\ds",
        lines[3],
    ), lines[3]
    assert lines[4] == f"  analytics/customers: {demo.SAMPLE_CUSTOMERS} rows (+{demo.SAMPLE_CUSTOMERS} ~0 -0, 0 rejected)"
    assert re.fullmatch(r"  analytics/pro_customers: (\d+) rows \(\+\1 ~0 -0, 0 rejected\)", lines[5])
    assert re.fullmatch(r"stripe_import succeeded in \d+\.\ds \(run [0-9a-f-]{36}\)", lines[6])
    assert lines[7] == f"What landed in the warehouse duckdb:///{warehouse}:"
    assert f"  stripe.customers: {demo.SAMPLE_CUSTOMERS} rows" in lines
    assert lines[-2].startswith("Next: `make dev`")

    engine = sa.create_engine(f"duckdb:///{warehouse}")
    with engine.connect() as conn:
        mirrored = conn.exec_driver_sql("SELECT COUNT(*) FROM stripe.customers WHERE NOT deleted").scalar()
        pro = conn.exec_driver_sql("SELECT COUNT(*) FROM analytics.pro_customers").scalar()
        everyone = conn.exec_driver_sql("SELECT COUNT(*) FROM analytics.customers").scalar()
    engine.dispose()
    assert mirrored == demo.SAMPLE_CUSTOMERS
    assert everyone == demo.SAMPLE_CUSTOMERS
    assert 0 < pro < demo.SAMPLE_CUSTOMERS
    assert f"  analytics/pro_customers: {pro} rows (+{pro} ~0 -0, 0 rejected)" in lines
    assert "STRIPE_API_KEY" not in os.environ  # the stand-in's key was for this run only

    # The instance the run used, and `make dev`'s dg dev uses (same DAGSTER_HOME): the project's
    # dagster.yaml, the run stored there, the account's pool made with the limit of 1.
    assert (home / "dagster.yaml").read_bytes() == (PROJECT_ROOT / "dagster.yaml").read_bytes()
    with dg.DagsterInstance.get() as instance:
        assert_project_instance(instance)
        (run,) = instance.get_runs()
        assert run.job_name == "stripe_import" and run.run_id in lines[6]
        assert instance.event_log_storage.get_concurrency_info(stripe_pool()).slot_count == 1


def test_make_demo_and_make_dev_use_the_repository_root_as_dagster_home(monkeypatch, tmp_path):
    """Where the project's dagster.yaml is, and where `dg dev` starts: Dagster reads that one
    file (and has no other dagster.yaml in the current folder to warn about)."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    home, config = demo.dagster_home()
    assert home == PROJECT_ROOT and os.environ["DAGSTER_HOME"] == str(PROJECT_ROOT)
    assert config == "the project's dagster.yaml: the run queue, one pool per Stripe account"
    command, env = demo.serve_command(3000)
    venv = Path(command[0]).parents[1]
    assert command[1:] == ["dev", "--port", "3000"] and Path(command[0]).name == "dg"
    assert env["DAGSTER_HOME"] == str(PROJECT_ROOT) and env["VIRTUAL_ENV"] == str(venv)
    assert env["PATH"].split(os.pathsep)[0] == str(venv / "bin")
    # The instance Dagster configures from that folder (its storage here in a temporary folder,
    # so the test writes nothing into the repository).
    with dg.DagsterInstance.from_ref(
        InstanceRef.from_dir(str(tmp_path), config_dir=str(PROJECT_ROOT))
    ) as instance:
        assert_project_instance(instance)


def test_a_dagster_home_of_your_own_keeps_its_dagster_yaml(tmp_path, monkeypatch):
    home = tmp_path / "mine"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert demo.dagster_home() == (home, "its own dagster.yaml")
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    # The demo's own runs go to the DAGSTER_HOME the caller set (the test above relies on it).
    assert os.environ["DAGSTER_HOME"] == str(home)


def test_a_plain_dg_dev_in_the_project_root_uses_the_projects_dagster_yaml(tmp_path):
    """With DAGSTER_HOME unset, `dg dev` (dagster dev) keeps its storage in a temporary folder
    and reads the instance settings from the current directory's dagster.yaml: the same ref."""
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(PROJECT_ROOT))) as instance:
        assert_project_instance(instance)

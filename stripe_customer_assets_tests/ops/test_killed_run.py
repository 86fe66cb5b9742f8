"""A killed run never blocks later runs: the project's instance frees a dead run's pool slot.

The deployment's shape on one machine (the code location as its own gRPC server, the daemon,
Dagster's storage on PostgreSQL, deploy/dagster.yaml): a run of ``stripe_import`` takes
the account's pool slot (``stripe_default``, limit 1) for its mirror step; a second run
waits for it; then the first run's worker process (its steps run in it) is SIGKILLed, so
nothing in it frees anything. The second run's mirror step must start within the run monitoring's
interval (poll_interval_seconds + free_slots_after_run_end_seconds), not never.

(The run queue holds the second run while the pool is full, "blocked by global concurrency
limits"; once the slot is free the queue launches it, and its mirror step starts.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from stripe_customer_assets_tests.ops.support import (
    BIN,
    PROJECT_ROOT,
    GiveUp,
    code_server_argv,
    daemon_argv,
    dagster_home_with_project_config,
    free_port,
    grpc_workspace,
    service,
    service_env,
    wait_for,
    wait_for_port,
)
from stripe_standin import STANDIN_API_KEY, StripeStandin

pytestmark = pytest.mark.slow

LOCATION = "stripe-customer-assets"
JOB = "stripe_import"
MIRROR_STEP = "stripe__customers"
INSTANCE = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def launch(workspace: Path, env: dict[str, str]) -> None:
    """``dagster job launch``: submit a run to the instance's queue (the daemon starts it)."""
    subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-j", JOB],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


class Runs:
    """Reads runs and their step events from Dagster's PostgreSQL storage."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url)

    def ids(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT run_id FROM runs ORDER BY id")).all()
        return [r[0] for r in rows]

    def status(self, run_id: str) -> str:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": run_id}
            ).scalar_one()

    def event_time(self, run_id: str, event_type: str, step_key: str) -> float | None:
        with self.engine.connect() as conn:
            when = conn.execute(
                sa.text(
                    "SELECT MIN(timestamp) FROM event_logs WHERE run_id = :id "
                    "AND dagster_event_type = :type AND step_key = :step"
                ),
                {"id": run_id, "type": event_type, "step": step_key},
            ).scalar()
        return when.timestamp() if when is not None else None

    def slots_held(self, run_id: str) -> int:
        """Pool slots claimed by the run (and not freed)."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT COUNT(*) FROM concurrency_slots WHERE run_id = :id"),
                {"id": run_id},
            ).scalar_one()


def test_a_sigkilled_run_frees_its_pool_slot_within_the_monitoring_interval(
    tmp_path, tmp_path_factory, dagster_database
):
    monitoring = INSTANCE["run_monitoring"]
    assert monitoring["enabled"] is True
    bound_s = monitoring["poll_interval_seconds"] + monitoring["free_slots_after_run_end_seconds"]
    logs = tmp_path / "logs"
    logs.mkdir()
    home = dagster_home_with_project_config(tmp_path / "dagster_home", production=True)
    grpc_port = free_port()
    workspace = grpc_workspace(tmp_path / "workspace.yaml", grpc_port, LOCATION)
    runs = Runs(dagster_database.url())

    # Every list call hangs for a minute: the first run's mirror step holds the slot meanwhile.
    with StripeStandin(latency_read=60.0) as standin:
        standin.seed_customers(30, seed=5)
        env = service_env(
            home,
            tmp_path_factory.getbasetemp() / "pycache",
            **dagster_database.env(),
            WAREHOUSE_URL=f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
            STRIPE_API_KEY=STANDIN_API_KEY,
            STRIPE_API_BASE=standin.base_url,
        )
        with service("code-server", code_server_argv(grpc_port, LOCATION), env, logs) as server:
            wait_for_port(grpc_port, server, timeout_s=90)
            with service("daemon", daemon_argv(workspace), env, logs) as daemon:

                def diagnose() -> str:
                    return f"{daemon.log_tail()}\n{server.log_tail()}"

                before = descendants(server.process.pid)
                launch(workspace, env)
                [first] = runs.ids()
                wait_for(
                    "the first run's mirror step to start",
                    lambda: runs.event_time(first, "STEP_START", MIRROR_STEP),
                    timeout_s=120,
                    diagnose=diagnose,
                )
                workers = descendants(server.process.pid) - before
                assert workers, "the run worker runs under the code server"

                assert runs.slots_held(first) == 1
                launch(workspace, env)
                [second] = [r for r in runs.ids() if r != first]
                wait_for(
                    "the second run to wait for the pool slot",
                    lambda: f"Run {second} is blocked by global concurrency limits"
                    in daemon.log_tail(100_000)
                    or "blocked by limit for pool" in daemon.log_tail(100_000),
                    timeout_s=120,
                    diagnose=diagnose,
                )
                standin.configure(latency_read=0.0)

                for pid in workers:  # the run worker (and anything under it): no cleanup of any kind
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                killed_at = time.time()
                wait_for(
                    "the dead run's pool slot to be freed",
                    lambda: runs.slots_held(first) == 0,
                    timeout_s=bound_s + 60,
                    every_s=0.2,
                    diagnose=diagnose,
                )
                freed = time.time() - killed_at

                def second_started() -> float | None:
                    if runs.status(second) in ("FAILURE", "CANCELED"):
                        raise GiveUp(f"the second run ended {runs.status(second)}\n{diagnose()}")
                    return runs.event_time(second, "STEP_START", MIRROR_STEP)

                started = wait_for(
                    "the second run's mirror step to start after the kill",
                    second_started,
                    timeout_s=120,
                    diagnose=diagnose,
                )
                waited = started - killed_at
                wait_for(
                    "the second run to succeed",
                    lambda: runs.status(second) == "SUCCESS",
                    timeout_s=120,
                    diagnose=diagnose,
                )
                assert runs.status(first) == "FAILURE", "the dead run is marked failed"
    runs.engine.dispose()
    print(
        f"SIGKILL of the first run -> its pool slot freed in {freed:.1f}s (bound {bound_s}s), "
        f"the second run's mirror step started in {waited:.1f}s"
    )
    assert freed <= bound_s + 5, f"{freed:.1f}s, over the monitoring bound of {bound_s}s"
    # Then the queue launches the waiting run: a new run worker.
    assert waited <= freed + 60

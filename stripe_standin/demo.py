"""Run the main job (``stripe_import``: the mirror and every enabled import pipeline).

    python -m stripe_standin.demo            # one run, then print what landed
    python -m stripe_standin.demo --serve    # the same, then keep the UI (dg dev) up

With STRIPE_API_KEY unset, the project's Stripe stand-in is started on 127.0.0.1, seeded
with sample customers, and used instead of Stripe; the output says so. Dagster's instance is
DAGSTER_HOME, by default the repository root, where the project's ``dagster.yaml`` is (the run
queue and one concurrency pool per Stripe account); a DAGSTER_HOME of your own gets a copy of
it unless it has a dagster.yaml of its own. The warehouse is
WAREHOUSE_URL (default the DuckDB file ``data/warehouse.duckdb``). The output is a short story
of the run; Dagster's event log is in the UI (``--serve``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CUSTOMERS = 250
JOB = "stripe_import"
# Dagster's console log of the run: warnings and errors only (the story below says the rest).
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def say(line: str = "") -> None:
    print(line, flush=True)


@contextlib.contextmanager
def stripe_account() -> Iterator[str]:
    """The Stripe account to use: the real one when STRIPE_API_KEY is set, else the stand-in."""
    if os.environ.get("STRIPE_API_KEY"):
        yield f"Using Stripe at {os.environ.get('STRIPE_API_BASE', 'https://api.stripe.com')} (STRIPE_API_KEY is set)"
        return
    from stripe_standin import STANDIN_API_KEY, StripeStandin

    standin = StripeStandin(api_keys=[STANDIN_API_KEY])
    standin.seed_customers(SAMPLE_CUSTOMERS, seed=7)
    base_url = standin.start()
    previous_base = os.environ.get("STRIPE_API_BASE")
    os.environ["STRIPE_API_KEY"] = STANDIN_API_KEY
    os.environ["STRIPE_API_BASE"] = base_url
    try:
        yield (
            f"STRIPE_API_KEY is not set: using the built-in Stripe stand-in at {base_url} "
            f"with {SAMPLE_CUSTOMERS} sample customers"
        )
    finally:
        standin.stop()
        del os.environ["STRIPE_API_KEY"]
        if previous_base is None:
            os.environ.pop("STRIPE_API_BASE", None)
        else:
            os.environ["STRIPE_API_BASE"] = previous_base


def dagster_home() -> tuple[Path, str]:
    """DAGSTER_HOME, set for this process and the ``dg dev`` it starts, and what configures it.

    By default the repository root: Dagster reads the project's dagster.yaml where it is, and
    keeps its runs beside it (``history/``, ``schedules/``, ``storage/``, ``logs/``; ignored by
    git). That is also the folder `dg dev` starts in, so Dagster finds one dagster.yaml and
    nothing to warn about. A DAGSTER_HOME of your own without a dagster.yaml gets a copy."""
    configured = os.environ.get("DAGSTER_HOME")
    home = Path(configured).resolve() if configured else ROOT
    os.environ["DAGSTER_HOME"] = str(home)  # Dagster wants an absolute path
    project, instance = ROOT / "dagster.yaml", home / "dagster.yaml"
    described = "the run queue, one pool per Stripe account"
    if home == ROOT:
        return home, f"the project's {project.name}: {described}"
    home.mkdir(parents=True, exist_ok=True)
    if not instance.exists():
        shutil.copyfile(project, instance)
    if instance.read_bytes() == project.read_bytes():
        return home, f"a copy of the project's {project.name}: {described}"
    return home, f"its own {instance.name}"


def run_main_job():
    """One in-process run of the main job on DAGSTER_HOME's instance; Dagster's console log
    shows warnings and errors only."""
    import dagster as dg

    from stripe_customer_assets.definitions import defs

    job = defs().resolve_job_def(JOB)
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False
        )


def run_story(result) -> list[str]:
    """One line per materialized asset (the mirror's changes, each pipeline's rows), then one
    per failed step with its error."""
    lines = []
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        key = materialization.asset_key.to_user_string()
        changes = f"+{meta.get('rows_inserted', 0)} ~{meta.get('rows_updated', 0)}"
        if "rows_deleted" in meta:  # the mirror
            lines.append(
                f"  {key}: {meta.get('mode', '')} ({meta.get('reason', '')}): {changes} "
                f"-{meta['rows_deleted']} customers, Stripe calls: {meta.get('api_calls', 0)}, "
                f"{meta.get('duration_s', 0):.1f}s"
            )
        else:  # an import pipeline
            lines.append(
                f"  {key}: {meta.get('dagster/row_count', '?')} rows ({changes} "
                f"-{meta.get('rows_removed', 0)}, {meta.get('rows_rejected', 0)} rejected)"
            )
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        message = (error.message if error else "no error recorded").strip().splitlines()
        lines.append(f"  FAILED {event.step_key}: {message[0] if message else ''}")
    return lines


def summary() -> str:
    from stripe_customer_assets.resources import warehouse_resource_from_env

    resource = warehouse_resource_from_env()
    warehouse = resource.warehouse()
    lines = [f"What landed in the warehouse {warehouse.display_url()}:"]
    with warehouse.begin() as conn:
        tables = conn.exec_driver_sql(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            count = conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{schema}"."{table}"').scalar()
            lines.append(f"  {schema}.{table}: {count} rows")
    warehouse.dispose()
    return "\n".join(lines)


def serve_command(port: int) -> tuple[list[str], dict[str, str]]:
    """``dg dev`` of this venv, on DAGSTER_HOME's instance, with this venv active (as after
    ``source .venv/bin/activate``, so dg finds the project's venv active and says nothing)."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, VIRTUAL_ENV=str(bin_dir.parent))
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    return [str(bin_dir / "dg"), "dev", "--port", str(port)], env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help="after the run, serve the Dagster UI (dg dev)")
    parser.add_argument("--port", type=int, default=3000, help="UI port with --serve")
    args = parser.parse_args(argv)
    home, config = dagster_home()
    with stripe_account() as where:
        say(where)
        say(f"Dagster instance: DAGSTER_HOME={home} ({config})")
        say(f"Running {JOB}: the mirror stripe/customers, then every enabled import pipeline ...")
        started = time.monotonic()
        result = run_main_job()
        for line in run_story(result):
            say(line)
        outcome = "succeeded" if result.success else "failed"
        say(f"{JOB} {outcome} in {time.monotonic() - started:.1f}s (run {result.run_id})")
        say(summary())
        if not result.success:
            print(f"the {JOB} run failed: see the failed steps above", file=sys.stderr)
            return 1
        if not args.serve:
            say("Next: `make dev` runs the same and opens the Dagster UI (the run, its metadata,")
            say("the asset graph); README.md, 'Add an import pipeline', adds a table of your own.")
            return 0
        say(f"Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C stops it): the run above is under Runs")
        command, env = serve_command(args.port)
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(command, cwd=ROOT, env=env, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the main job (``stripe_import``: the mirror and every enabled import pipeline).

    python -m stripe_standin.demo            # one run, then print what landed
    python -m stripe_standin.demo --serve    # the same, then keep the UI (dg dev) up

With STRIPE_API_KEY unset, the project's Stripe stand-in is started on 127.0.0.1, seeded
with sample customers, and used instead of Stripe; the output says so. Dagster keeps its
runs in DAGSTER_HOME (default ``.dagster_home/``), the warehouse is WAREHOUSE_URL
(default the DuckDB file ``data/warehouse.duckdb``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CUSTOMERS = 250


@contextlib.contextmanager
def stripe_account() -> Iterator[str]:
    """The Stripe account to use: the real one when STRIPE_API_KEY is set, else the stand-in."""
    if os.environ.get("STRIPE_API_KEY"):
        yield f"Stripe at {os.environ.get('STRIPE_API_BASE', 'https://api.stripe.com')}"
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


def _dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    return home


def run_main_job() -> bool:
    import dagster as dg

    from stripe_customer_assets.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def("stripe_import")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    return result.success


def summary() -> str:
    from stripe_customer_assets.resources import warehouse_resource_from_env

    resource = warehouse_resource_from_env()
    warehouse = resource.warehouse()
    lines = [f"warehouse: {warehouse.display_url()}"]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help="after the run, serve the Dagster UI (dg dev)")
    parser.add_argument("--port", type=int, default=3000, help="UI port with --serve")
    args = parser.parse_args(argv)
    home = _dagster_home()
    with stripe_account() as where:
        print(where, flush=True)
        print(f"Dagster home: {home}", flush=True)
        ok = run_main_job()
        print(summary(), flush=True)
        if not ok:
            print("the stripe_import run failed: see the log above", file=sys.stderr)
            return 1
        print("stripe_import succeeded", flush=True)
        if args.serve:
            print(f"Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C stops it)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                subprocess.run(
                    [str(Path(sys.executable).parent / "dg"), "dev", "--port", str(args.port)],
                    cwd=ROOT,
                    check=False,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

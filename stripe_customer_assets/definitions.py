"""The code location: the defs folder (mirror, import pipelines, export syncs) plus resources."""

import functools
import os
from pathlib import Path

import dagster as dg

from stripe_customer_assets.resources import stripe_resource_from_env, warehouse_resource_from_env


@dg.definitions
def defs() -> dg.Definitions:
    # Dagster calls this each time it reconstructs the code location: six times in one
    # `dg launch`, again in a run worker. Built once per process and environment.
    return _build(tuple(sorted(os.environ.items())))


@functools.lru_cache(maxsize=1)
def _build(environment: tuple[tuple[str, str], ...]) -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(
            resources={"stripe": stripe_resource_from_env(), "warehouse": warehouse_resource_from_env()},
            # Every step of a run in the run's own process: see docs/architecture.md, "Runs".
            executor=dg.in_process_executor,
        ),
    )

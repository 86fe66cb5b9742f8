"""The code location: the defs folder (mirror, import pipelines, export syncs) plus resources."""

from pathlib import Path

import dagster as dg

from stripe_customer_assets.resources import stripe_resource_from_env, warehouse_resource_from_env


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(
            resources={"stripe": stripe_resource_from_env(), "warehouse": warehouse_resource_from_env()}
        ),
    )

"""`dg launch` as a user types it, on the project as shipped, with a key set: only the export
sync's own job writes to Stripe.

A fresh DAGSTER_HOME and warehouse, the project's defs folder (the mirror, two import
pipelines, the example export ``crm_export``), STRIPE_API_KEY pointing at the stand-in, whose
request counts show every write. ``dg launch --assets '*'`` and a selection that matches
nothing (Dagster then materializes every asset) send no write; ``dg launch --job
crm_export_job`` creates the example's six customers.
"""

from __future__ import annotations

import subprocess

import pytest

from stripe_customer_assets_tests.export.support import WRITE_ENDPOINTS
from stripe_customer_assets_tests.ops.support import (
    BIN,
    PROJECT_ROOT,
    dagster_home_with_project_config,
    service_env,
)
from stripe_standin import STANDIN_API_KEY, StripeStandin

pytestmark = pytest.mark.slow


def writes(standin: StripeStandin) -> int:
    by_endpoint = standin.stats()["requests_by_endpoint"]
    return sum(by_endpoint.get(e, 0) for e in WRITE_ENDPOINTS)


def dg_launch(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "dg"), "launch", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"dg launch {' '.join(args)} failed:\n{output[-4000:]}"
    return output


@pytest.fixture
def project_env(tmp_path, tmp_path_factory):
    with StripeStandin(seed=3) as standin:
        standin.seed_customers(25, seed=3)
        env = service_env(
            dagster_home_with_project_config(tmp_path / "dagster_home"),
            tmp_path_factory.getbasetemp() / "pycache",
            WAREHOUSE_URL=f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
            STRIPE_API_KEY=STANDIN_API_KEY,
            STRIPE_API_BASE=standin.base_url,
        )
        yield standin, env


def test_launching_every_asset_writes_nothing_and_the_syncs_job_still_writes(project_env):
    standin, env = project_env

    everything = dg_launch(env, "--assets", "*")
    assert standin.stats()["requests_by_endpoint"].get("customers.list", 0) > 0, "it ran"
    assert writes(standin) == 0
    assert "The export sync 'crm_export' sent nothing to Stripe" in everything

    nothing_matches = dg_launch(env, "--assets", "group:no_such_group")
    assert "STEP_START" in nothing_matches and "crm_export_plan" in nothing_matches, (
        "a selection matching nothing runs every asset"
    )
    assert writes(standin) == 0

    dg_launch(env, "--job", "crm_export_job")
    assert standin.stats()["requests_by_endpoint"].get("customers.create") == 6
    assert sorted(c["metadata"].get("crm_id", "") for c in standin.customers())[-6:] == [
        str(i) for i in range(1001, 1007)
    ]

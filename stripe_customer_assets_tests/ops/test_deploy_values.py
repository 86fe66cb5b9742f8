"""deploy/values.yaml (Dagster's Helm chart) and deploy/dagster.yaml (one machine) say what the
project's dagster.yaml says, and keep every secret out of the files."""

from __future__ import annotations

import re
import tomllib

import yaml

from stripe_customer_assets_tests.ops.support import PROJECT_ROOT

VALUES = yaml.safe_load((PROJECT_ROOT / "deploy" / "values.yaml").read_text())
INSTANCE = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())


def test_run_queue_and_pool_limits_match_the_projects_dagster_yaml():
    assert VALUES["dagsterDaemon"]["runCoordinator"]["enabled"] is True
    assert VALUES["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert INSTANCE["run_coordinator"]["class"] == "QueuedRunCoordinator"
    concurrency = VALUES["concurrency"]
    assert concurrency["enabled"] is True
    assert (
        concurrency["runs"]["maxConcurrentRuns"]
        == INSTANCE["concurrency"]["runs"]["max_concurrent_runs"]
    )
    assert concurrency["pools"]["defaultLimit"] == INSTANCE["concurrency"]["pools"]["default_limit"]
    # The chart refuses run limits in two places at once.
    assert not VALUES["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]


def test_run_monitoring_matches_the_projects_dagster_yaml():
    """A dead run's pool slot is freed in both places (docs/reliability.md, "A killed run")."""
    chart, instance = VALUES["dagsterDaemon"]["runMonitoring"], INSTANCE["run_monitoring"]
    assert chart["enabled"] is instance["enabled"] is True
    assert chart["pollIntervalSeconds"] == instance["poll_interval_seconds"]
    assert chart["freeSlotsAfterRunEndSeconds"] == instance["free_slots_after_run_end_seconds"] > 0
    assert chart["startTimeoutSeconds"] == instance["start_timeout_seconds"]
    assert chart["cancelTimeoutSeconds"] == instance["cancel_timeout_seconds"]


def test_runs_launch_as_kubernetes_jobs_with_the_code_locations_secrets():
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert {"name": "stripe-customer-assets"} in deployment["envSecrets"]
    module = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"][
        "module_name"
    ]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == module


def test_dagster_storage_is_external_postgresql_with_the_password_from_a_secret():
    assert VALUES["postgresql"]["enabled"] is False
    assert VALUES["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["global"]["postgresqlSecretName"]
    assert "postgresqlPassword" not in VALUES["postgresql"]


def test_no_secret_value_is_written_in_the_values_file():
    text = (PROJECT_ROOT / "deploy" / "values.yaml").read_text()
    assert not re.search(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]", text)
    assert not re.search(r"postgres(ql)?(\+\w+)?://[^\s:@/]+:[^\s@/]+@", text)
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert not {"STRIPE_API_KEY", "WAREHOUSE_URL", "DAGSTER_PG_PASSWORD"} & set(
        deployment.get("env") or {}
    )


def test_the_one_machine_instance_is_the_projects_with_storage_on_postgresql_from_the_environment():
    """deploy/dagster.yaml (docs/deploy.md, "One machine") repeats the project's dagster.yaml and
    adds only dagster-postgres storage, every setting read from a DAGSTER_PG_* variable."""
    production = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    storage = production.pop("storage")
    assert production == INSTANCE
    assert "storage" not in INSTANCE, "locally Dagster's default: SQLite under DAGSTER_HOME"
    assert storage == {
        "postgres": {
            "postgres_db": {
                **{
                    field: {"env": f"DAGSTER_PG_{name}"}
                    for field, name in [
                        ("hostname", "HOST"),
                        ("port", "PORT"),
                        ("username", "USER"),
                        ("password", "PASSWORD"),
                        ("db_name", "DB"),
                    ]
                },
                # The driver the project ships (as postgresqlScheme in deploy/values.yaml).
                "scheme": VALUES["postgresql"]["postgresqlScheme"],
            }
        }
    }

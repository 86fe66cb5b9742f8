"""The production instance end to end: deploy/dagster.yaml on the real PostgreSQL, the
Dagster daemon and webserver as separate processes, the sensor switched on through GraphQL, a
tick that queues a run, the QueuedRunCoordinator that starts it, and the run that completes.
"""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from stripe_customer_assets_tests.ops.support import (
    MIRROR_NUMBERS,
    REPOSITORY,
    GiveUp,
    GraphQL,
    asset_materializations,
    code_server_argv,
    daemon_argv,
    dagster_home_with_project_config,
    expected_components,
    free_port,
    grpc_workspace,
    numeric_metadata,
    service,
    service_env,
    stripe_standin,
    wait_for,
    wait_for_code_location,
    wait_for_port,
    webserver_argv,
)
from stripe_standin import STANDIN_API_KEY

pytestmark = pytest.mark.slow

SENSOR = "stripe_customer_changes"
POOL = "stripe_default"  # stripe_<STRIPE_ACCOUNT_NAME>, the account's concurrency pool
JOB = "stripe_import"
CUSTOMERS = 40
RUN_TIMEOUT_S = 90

LOCATION = "stripe-customer-assets"  # the code location's name in deploy/values.yaml
SENSOR_SELECTOR = {
    "repositoryLocationName": LOCATION,
    "repositoryName": REPOSITORY,
    "sensorName": SENSOR,
}

START_SENSOR = """
mutation StartSensor($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""

SENSOR_TICKS = """
query SensorTicks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      minIntervalSeconds
      sensorState { status ticks(limit: 1000) { status runIds skipReason error { message } } }
    }
  }
}
"""

INSTANCE = """
query Instance($pool: String!) {
  instance {
    runQueuingSupported
    runQueueConfig { maxConcurrentRuns }
    poolConfig { defaultPoolLimit }
    concurrencyLimit(concurrencyKey: $pool) { concurrencyKey limit usingDefaultLimit }
  }
}
"""

RUNS = """
query Runs($job: String!) {
  runsOrError(filter: {pipelineName: $job}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


def test_sensor_tick_queues_a_run_that_completes_and_is_stored_in_postgres(
    tmp_path, tmp_path_factory, dagster_database
):
    """The deployment's shape on one machine: the code location as its own gRPC server (the
    Helm chart's user deployment), the webserver and the daemon connected to it, all on the
    production instance (deploy/dagster.yaml) with DAGSTER_PG_* set."""
    started = time.monotonic()
    logs = tmp_path / "logs"
    logs.mkdir()
    home = dagster_home_with_project_config(tmp_path / "dagster_home", production=True)
    web_port, grpc_port = free_port(), free_port()
    workspace = grpc_workspace(tmp_path / "workspace.yaml", grpc_port, LOCATION)
    gql = GraphQL(f"http://127.0.0.1:{web_port}")

    with stripe_standin(logs, customers=CUSTOMERS) as stripe_url:
        env = service_env(
            home,
            tmp_path_factory.getbasetemp() / "pycache",
            **dagster_database.env(),
            WAREHOUSE_URL=f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
            STRIPE_API_KEY=STANDIN_API_KEY,
            STRIPE_API_BASE=stripe_url,
            STRIPE_SENSOR_INTERVAL_SECONDS="2",
        )
        with service(
            "code-server", code_server_argv(grpc_port, LOCATION), env, logs
        ) as code_server:
            wait_for_port(grpc_port, code_server, timeout_s=60)
            with (
                service("webserver", webserver_argv(web_port, workspace), env, logs) as webserver,
                service("daemon", daemon_argv(workspace), env, logs) as daemon,
            ):
                _sensor_run_completes(gql, webserver, daemon, code_server, home, dagster_database)
    print(
        f"sensor tick -> queued run -> SUCCESS in {time.monotonic() - started:.1f}s (services included)"
    )


def _sensor_run_completes(gql, webserver, daemon, code_server, home, dagster_database) -> None:
    def diagnose() -> str:
        return f"{daemon.log_tail()}\n{code_server.log_tail()}\n{webserver.log_tail()}"

    wait_for_code_location(gql, webserver, timeout_s=60)

    # Dagster's storage is the fresh PostgreSQL database, not SQLite under DAGSTER_HOME.
    pg = sa.create_engine(dagster_database.url())
    try:
        tables = set(sa.inspect(pg).get_table_names())
        assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables, tables
        assert not (home / "storage").exists(), "the instance fell back to SQLite"

        # The project's dagster.yaml: queued runs (at most 8 at once), one slot per Stripe pool.
        instance = gql(INSTANCE, {"pool": POOL})["instance"]
        assert instance["runQueuingSupported"] is True
        assert instance["runQueueConfig"]["maxConcurrentRuns"] == 8
        assert instance["poolConfig"]["defaultPoolLimit"] == 1

        sensor = gql(START_SENSOR, {"selector": SENSOR_SELECTOR})["startSensor"]
        assert sensor["__typename"] == "Sensor", sensor
        assert sensor["sensorState"]["status"] == "RUNNING"

        def finished_run() -> dict | None:
            runs = gql(RUNS, {"job": JOB})["runsOrError"]["results"]
            for run in runs:
                if run["status"] in ("FAILURE", "CANCELED"):
                    raise GiveUp(f"run {run['runId']} ended {run['status']}\n{diagnose()}")
                if run["status"] == "SUCCESS":
                    return run
            return None

        run = wait_for(
            f"a {JOB} run launched by the sensor to succeed",
            finished_run,
            timeout_s=RUN_TIMEOUT_S,
            every_s=1.0,
            diagnose=diagnose,
        )
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags.get("dagster/sensor_name") == SENSOR
        assert tags.get("stripe/newest_event", "").startswith("evt_")

        # The tick that launched it is recorded with the run id.
        state = gql(SENSOR_TICKS, {"selector": SENSOR_SELECTOR})["sensorOrError"]
        assert state["minIntervalSeconds"] == 2
        ticks = state["sensorState"]["ticks"]
        assert any(run["runId"] in t["runIds"] and t["status"] == "SUCCESS" for t in ticks), ticks

        # The run, its queueing and its materializations are rows in PostgreSQL.
        with pg.connect() as conn:
            status, job = conn.execute(
                sa.text("SELECT status, pipeline_name FROM runs WHERE run_id = :id"),
                {"id": run["runId"]},
            ).one()
            events = {
                row[0]
                for row in conn.execute(
                    sa.text(
                        "SELECT DISTINCT dagster_event_type FROM event_logs WHERE run_id = :id"
                    ),
                    {"id": run["runId"]},
                )
            }
            materialized = {
                row[0]
                for row in conn.execute(
                    sa.text(
                        "SELECT DISTINCT asset_key FROM event_logs "
                        "WHERE run_id = :id AND dagster_event_type = 'ASSET_MATERIALIZATION'"
                    ),
                    {"id": run["runId"]},
                )
            }
        assert (status, job) == ("SUCCESS", JOB)
        # QueuedRunCoordinator: the tick enqueued the run; the daemon's run queue launched it.
        assert {"PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_SUCCESS"} <= events, events
        # The job is the mirror and every enabled import pipeline.
        expected = {json.dumps(["stripe", "customers"])} | {
            json.dumps(list(c.assets[0]))
            for c in expected_components()
            if c.kind == "import" and c.enabled
        }
        assert expected <= materialized, f"expected {expected}, materialized {materialized}"

        # The mirror step ran in the account's pool, which took its limit from pools.default_limit.
        pool = gql(INSTANCE, {"pool": POOL})["instance"]["concurrencyLimit"]
        assert pool["limit"] == 1 and pool["usingDefaultLimit"] is True, pool
    finally:
        pg.dispose()

    # Every materialization of the mirror carries the numbers Dagster plots.
    materializations = asset_materializations(gql, ("stripe", "customers"))
    assert materializations, "the mirror was not materialized"
    for materialization in materializations:
        numbers = numeric_metadata(materialization["metadataEntries"])
        missing = [label for label in MIRROR_NUMBERS if label not in numbers]
        assert not missing, (
            f"mirror materialization of run {materialization['runId']} lacks {missing}"
        )
    ours = [
        numeric_metadata(m["metadataEntries"])
        for m in materializations
        if m["runId"] == run["runId"]
    ]
    assert ours, f"run {run['runId']} did not materialize the mirror"
    assert ours[0]["dagster/row_count"] == CUSTOMERS  # the first run is a full scan of the stand-in
    assert ours[0]["api_calls"] >= 1

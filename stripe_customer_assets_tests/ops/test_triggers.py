"""docs/triggers.md: its GraphQL requests and the Python client start the project's runs.

The documented request bodies are sent, as written, to Dagster's GraphQL schema in this
process, against the project's code location (a code server, as ``dg dev`` starts it) and a
temporary instance that launches each run at once in a run worker process (no queue, no
daemon), against the Stripe stand-in.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import poll_for_finished_run
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster_graphql import DagsterGraphQLClient
from dagster_graphql.test.utils import execute_dagster_graphql
from gql.transport.transport import Transport
from graphql import ExecutionResult, print_ast

from stripe_customer_assets_tests.export.support import WRITE_ENDPOINTS
from stripe_standin.app import STANDIN_API_KEY

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "triggers.md"
SYNC, PLAN = dg.AssetKey("crm_export"), dg.AssetKey("crm_export_plan")


def documented_bodies() -> list[dict]:
    """The JSON bodies of the doc's ``curl ... -d @- <<'JSON'`` examples, in order."""
    return [json.loads(body) for body in re.findall(r"<<'JSON'\n(.*?)\nJSON\n", DOC.read_text(), re.DOTALL)]


def writes(standin) -> int:
    by_endpoint = standin.stats()["requests_by_endpoint"]
    return sum(by_endpoint.get(e, 0) for e in WRITE_ENDPOINTS)


@pytest.fixture
def graphql(standin, tmp_path, monkeypatch):
    """A GraphQL request context on the project's code location, as the webserver has."""
    monkeypatch.setenv("STRIPE_API_KEY", STANDIN_API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", standin.base_url)
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.delenv("STRIPE_MIRROR_SCHEMA", raising=False)
    standin.seed_customers(10, seed=3)
    overrides = {
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}
    }
    target = ModuleTarget(
        module_name="stripe_customer_assets.definitions",
        attribute=None,
        working_directory=str(ROOT),
        location_name="stripe_customer_assets",  # dg dev's name: [tool.dg.project] code_location_name
    )
    with (
        dg.instance_for_test(overrides=overrides) as instance,
        WorkspaceProcessContext(instance, target) as process,
    ):
        yield process.create_request_context()


def materialized(instance: dg.DagsterInstance, run_id: str) -> set[dg.AssetKey]:
    return {
        record.asset_key
        for record in instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
    }


def launch(context, body: dict) -> dg.DagsterRun:
    result = execute_dagster_graphql(context, body["query"], body["variables"]).data["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return poll_for_finished_run(context.instance, result["run"]["runId"], timeout=120)


@pytest.mark.slow  # two runs in run worker processes: about 25 s
def test_the_documented_curl_bodies_preview_then_run_the_sync(graphql, standin):
    sync_body, preview_body = documented_bodies()
    assert sync_body["variables"]["executionParams"]["selector"]["jobName"] == "crm_export_job"

    preview = launch(graphql, preview_body)
    assert preview.status == dg.DagsterRunStatus.SUCCESS
    assert materialized(graphql.instance, preview.run_id) == {dg.AssetKey(["stripe", "customers"]), PLAN}
    assert writes(standin) == 0, "a preview sends nothing"

    run = launch(graphql, sync_body)
    assert (run.job_name, run.status) == ("crm_export_job", dg.DagsterRunStatus.SUCCESS)
    assert SYNC in materialized(graphql.instance, run.run_id)
    assert writes(standin) == 6, "the example's six accounts, created"


def test_a_wrong_job_name_is_named_in_the_answer(graphql):
    body = documented_bodies()[0]
    body["variables"]["executionParams"]["selector"]["jobName"] = "crm_exprot_job"
    result = execute_dagster_graphql(graphql, body["query"], body["variables"]).data["launchRun"]
    assert result["__typename"] == "PipelineNotFoundError"
    assert "crm_exprot_job" in result["message"]


class InProcessTransport(Transport):
    """The Python client's requests, answered by the schema in this process (no HTTP)."""

    def __init__(self, context) -> None:
        self.context = context

    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def execute(self, request, *args, **kwargs) -> ExecutionResult:
        result = execute_dagster_graphql(self.context, print_ast(request.document), request.variable_values)
        return ExecutionResult(data=result.data)


@pytest.mark.slow  # two runs in run worker processes: about 25 s
def test_the_documented_python_client_calls_start_the_sync_and_a_preview(graphql, standin):
    client = DagsterGraphQLClient("127.0.0.1", port_number=3000, transport=InProcessTransport(graphql))
    assert "submit_job_execution(" in DOC.read_text() and "asset_selection=[[" in DOC.read_text()

    preview_id = client.submit_job_execution(
        "__ASSET_JOB",
        repository_location_name="stripe_customer_assets",
        repository_name="__repository__",
        asset_selection=[["stripe", "customers"], ["crm_export_plan"]],
    )
    poll_for_finished_run(graphql.instance, preview_id, timeout=120)
    assert client.get_run_status(preview_id) == dg.DagsterRunStatus.SUCCESS and writes(standin) == 0
    run_id = client.submit_job_execution(
        "crm_export_job", repository_location_name="stripe_customer_assets", repository_name="__repository__"
    )
    poll_for_finished_run(graphql.instance, run_id, timeout=120)
    assert client.get_run_status(run_id) == dg.DagsterRunStatus.SUCCESS
    assert writes(standin) == 6

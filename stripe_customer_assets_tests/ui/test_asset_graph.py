"""The Dagster UI tells the story: Stripe -> mirror -> import pipelines, and mirror -> plan ->
exported state, with checks, the automation and change sensors and the main job.

The main job and each export sync's job run once against the Stripe stand-in, then the
webserver starts on loopback with the project's workspace.yaml and dagster.yaml (no
DAGSTER_PG_*: SQLite under a temporary DAGSTER_HOME, as on a fresh clone). The lineage and the
materialization metadata are asserted through GraphQL, then headless Chromium renders the
global asset graph and the screenshot is saved as artifacts/asset-graph.png.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stripe_customer_assets_tests.ops.support import (
    MIRROR_NUMBERS,
    PROJECT_ROOT,
    ExpectedComponent,
    GraphQL,
    asset_materializations,
    dagster_home_with_project_config,
    expected_components,
    free_port,
    numeric_metadata,
    service,
    service_env,
    wait_for,
    wait_for_code_location,
    webserver_argv,
)
from stripe_customer_assets_tests.ui.browser import chromium, find_browser
from stripe_standin import STANDIN_API_KEY

pytestmark = pytest.mark.slow

SCREENSHOT = PROJECT_ROOT / "artifacts" / "asset-graph.png"
MIRROR = ("stripe", "customers")
GROUPS = ("stripe_mirror", "stripe_import", "stripe_export")
EXAMPLES = {"all_customers", "pro_customers", "crm_export"}  # the example folders under defs/
CUSTOMERS = 60

LINEAGE = """
query Lineage {
  assetNodes {
    assetKey { path }
    groupName
    jobNames
    dependencyKeys { path }
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        jobs { name }
        schedules {
          name
          cronSchedule
          pipelineName
          assetSelection { assetKeys { path } }
        }
        sensors { name minIntervalSeconds targets { pipelineName } }
      }
    }
  }
}
"""


@dataclass
class Ui:
    base_url: str
    gql: GraphQL
    logs: Path


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, with None, unset) environment variables for the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def materialize_examples(home: Path, warehouse_url: str, jobs: list[str]) -> None:
    """Run the main job and every export sync's job once, in process, against the Stripe
    stand-in, so the graph shows materialized assets and their metadata."""
    import dagster as dg

    from stripe_customer_assets.definitions import defs
    from stripe_standin import StripeStandin

    with StripeStandin(seed=5) as standin:
        standin.seed_customers(CUSTOMERS, seed=5)
        with environment(
            DAGSTER_PG_HOST=None,  # the same SQLite storage the webserver below reads
            DAGSTER_PG_URL=None,
            DAGSTER_HOME=str(home),
            WAREHOUSE_URL=warehouse_url,
            STRIPE_API_KEY=STANDIN_API_KEY,
            STRIPE_API_BASE=standin.base_url,
        ):
            definitions = defs()
            with dg.DagsterInstance.from_config(str(home)) as instance:
                for job in jobs:
                    result = definitions.resolve_job_def(job).execute_in_process(
                        instance=instance, raise_on_error=False
                    )
                    assert result.success, (
                        f"{job} failed: {[str(e) for e in result.all_events if e.is_failure]}"
                    )


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[Ui]:
    tmp = tmp_path_factory.mktemp("ui")
    logs = tmp / "logs"
    logs.mkdir()
    home = dagster_home_with_project_config(tmp / "dagster_home")
    warehouse_url = f"duckdb:///{tmp / 'warehouse.duckdb'}"
    export_jobs = [c.job for c in expected_components() if c.kind == "export" and c.enabled]
    materialize_examples(home, warehouse_url, ["stripe_import", *export_jobs])
    env = service_env(
        home,
        tmp_path_factory.getbasetemp() / "pycache",
        WAREHOUSE_URL=warehouse_url,
        STRIPE_API_KEY=STANDIN_API_KEY,
        STRIPE_API_BASE="http://127.0.0.1:9",  # nothing runs from the UI here
    )
    port = free_port()
    with service("webserver", webserver_argv(port), env, logs) as webserver:
        base_url = f"http://127.0.0.1:{port}"
        gql = GraphQL(base_url)
        wait_for_code_location(gql, webserver, timeout_s=90)
        yield Ui(base_url, gql, logs)


@pytest.fixture(scope="module")
def lineage(ui) -> dict:
    data = ui.gql(LINEAGE)
    nodes = {tuple(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    (repo,) = data["repositoriesOrError"]["nodes"]
    return {"nodes": nodes, "repo": repo}


@pytest.fixture(scope="module")
def components() -> list[ExpectedComponent]:
    found = expected_components()
    assert EXAMPLES <= {c.folder for c in found}, (
        f"example pipelines/syncs missing from defs/: {found}"
    )
    return found


def deps(node: dict) -> set[tuple[str, ...]]:
    return {tuple(k["path"]) for k in node["dependencyKeys"]}


def checks(node: dict) -> dict[str, bool]:
    result = node["assetChecksOrError"]
    assert result["__typename"] == "AssetChecks", result
    return {c["name"]: c["blocking"] for c in result["checks"]}


def test_mirror_is_the_root_with_its_sensors_and_job(lineage):
    nodes, repo = lineage["nodes"], lineage["repo"]
    mirror = nodes[MIRROR]
    assert deps(mirror) == set()
    assert mirror["groupName"] == "stripe_mirror"
    assert checks(mirror) == {}  # freshness is Dagster's FreshnessPolicy, not a check
    assert "stripe_import" in mirror["jobNames"]
    assert "stripe_import" in {j["name"] for j in repo["jobs"]}
    sensors = {s["name"]: s for s in repo["sensors"]}
    assert "stripe_customer_changes" in sensors
    assert [t["pipelineName"] for t in sensors["stripe_customer_changes"]["targets"]] == [
        "stripe_import"
    ]
    assert "stripe_automation" in sensors
    assert repo["schedules"] == [], "crons are automation conditions, not schedules"


def test_every_import_pipeline_reads_the_mirror_and_has_a_check(lineage, components):
    nodes = lineage["nodes"]
    imports = [c for c in components if c.kind == "import"]
    assert imports
    for pipeline in imports:
        (key,) = pipeline.assets
        assert key in nodes, f"import pipeline {pipeline.name}: no asset {'/'.join(key)}"
        node = nodes[key]
        assert deps(node) == {MIRROR}, f"{pipeline.name}: depends on {deps(node)}"
        assert node["groupName"] == "stripe_import"
        assert "reject_rate" in checks(node)
        if pipeline.enabled:
            assert "stripe_import" in node["jobNames"], (
                f"{pipeline.name} is not in the stripe_import job"
            )


def test_every_export_sync_plans_from_the_mirror_behind_blocking_checks(lineage, components):
    nodes, repo = lineage["nodes"], lineage["repo"]
    jobs = {j["name"] for j in repo["jobs"]}
    exports = [c for c in components if c.kind == "export"]
    assert exports
    for sync in exports:
        plan_key, sync_key = sync.assets
        assert plan_key in nodes and sync_key in nodes, f"export {sync.name}: assets missing"
        assert MIRROR in deps(nodes[plan_key]), f"{plan_key} does not read the mirror"
        assert deps(nodes[sync_key]) == {plan_key}, f"{sync_key} depends on {deps(nodes[sync_key])}"
        plan_checks = checks(nodes[plan_key])
        assert plan_checks.get("reject_rate") is True and plan_checks.get("change_rate") is True, (
            plan_checks
        )
        assert "writes_succeeded" in checks(nodes[sync_key])
        assert {nodes[plan_key]["groupName"], nodes[sync_key]["groupName"]} == {"stripe_export"}
        assert sync.job in jobs
        assert sync.job in nodes[MIRROR]["jobNames"], f"{sync.job} does not refresh the mirror"


def test_every_asset_belongs_to_a_declared_component_or_the_mirror(lineage, components):
    declared = {MIRROR} | {key for c in components for key in c.assets}
    assert set(lineage["nodes"]) == declared


def test_every_materialization_carries_numbers_dagster_can_plot(ui, lineage):
    """Every asset was materialized by the example runs, each time with a numeric row count;
    the mirror (also in an export sync's job) with rows, API calls and duration."""
    for key in lineage["nodes"]:
        materializations = asset_materializations(ui.gql, key)
        assert materializations, f"{'/'.join(key)} was not materialized by the example runs"
        for materialization in materializations:
            numbers = numeric_metadata(materialization["metadataEntries"])
            wanted = MIRROR_NUMBERS if key == MIRROR else ("dagster/row_count",)
            missing = [label for label in wanted if label not in numbers]
            assert not missing, (
                f"{'/'.join(key)} in run {materialization['runId']} lacks numeric {missing}"
            )


def test_chromium_renders_the_asset_graph_with_the_full_lineage(ui, lineage, tmp_path):
    find_browser()
    labels = collections.Counter(key[-1] for key in lineage["nodes"])
    expanded = ",".join(f"global@global:{group}" for group in GROUPS)
    graph_url = f"{ui.base_url}/asset-groups?{urllib.parse.urlencode({'expanded': expanded})}"

    with chromium(ui.logs, tmp_path / "chromium-profile", width=1600, height=1100) as browser:
        # Dagster's first-run dialog ("Join the Dagster community") would cover the graph: mark
        # it seen in this origin's localStorage before opening the graph.
        browser.open(ui.base_url + "/")
        browser.run("window.localStorage.setItem('communityNux', JSON.stringify('1'));")
        browser.open(graph_url)

        def every_node_drawn() -> bool:
            lines = collections.Counter(line.strip() for line in browser.text().splitlines())
            return all(lines[label] >= count for label, count in labels.items()) and all(
                lines[group] for group in GROUPS
            )

        wait_for("the asset graph to draw every asset", every_node_drawn, timeout_s=45, every_s=1.0)
        screenshot = _settled_screenshot(browser, tmp_path)
        assert "Join the Dagster community" not in browser.text()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(screenshot)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SCREENSHOT.stat().st_size > 20_000, "the screenshot looks blank"


def _settled_screenshot(browser, tmp_path: Path, timeout_s: float = 20.0) -> bytes:
    """A screenshot taken once two in a row are identical (layout and zoom have settled)."""
    deadline = time.monotonic() + timeout_s
    previous = b""
    shot = tmp_path / "shot.png"
    while True:
        time.sleep(1.0)
        current = browser.screenshot(shot).read_bytes()
        if current == previous or time.monotonic() > deadline:
            return current
        previous = current

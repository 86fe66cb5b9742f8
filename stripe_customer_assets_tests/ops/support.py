"""Running the Dagster services as a deployment does: subprocesses on loopback, GraphQL polls.

Shared by the daemon test (``ops/``) and the browser test (``ui/``). Every process is started
in its own process group and ended by that group id, so code servers and run workers that
the webserver or the daemon spawn end with it. Every wait is bounded.

Longer than 400 lines on purpose: it is the one place that starts, polls and ends the
services for both slow tests, and the pieces (ports, processes, GraphQL, the expected
components) are used together.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFS_DIR = PROJECT_ROOT / "stripe_customer_assets" / "defs"
BIN = Path(sys.executable).parent
MODULE = "stripe_customer_assets.definitions"  # the code location (pyproject [tool.dagster])
REPOSITORY = "__repository__"
IMPORT_TYPE = "stripe_customer_assets.StripeCustomerImport"
EXPORT_TYPE = "stripe_customer_assets.StripeCustomerExport"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GiveUp(AssertionError):
    """Raised by a probe when waiting longer cannot help (a run failed, a process exited)."""


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout_s: float,
    every_s: float = 0.5,
    diagnose: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout_s``.
    Errors from the probe count as "not yet", except ``GiveUp``, which fails at once."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as err:  # noqa: BLE001 - kept for the failure message
            last_error = err
        time.sleep(every_s)
    detail = f" (last error: {last_error!r})" if last_error else ""
    extra = f"\n{diagnose()}" if diagnose else ""
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}{detail}{extra}")


@dataclass
class Service:
    """A subprocess in its own process group, its output in a log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return f"--- {self.name} log ({self.log_path}) ---\n{text[-chars:]}"

    def stop(self, grace_s: float = 10.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        # Children (code servers, run workers) may outlive the leader: end the whole group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


@contextlib.contextmanager
def service(
    name: str, argv: list[str], env: dict[str, str], log_dir: Path, cwd: Path = PROJECT_ROOT
) -> Iterator[Service]:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    svc = Service(name, process, log_path)
    try:
        yield svc
    finally:
        svc.stop()


@contextlib.contextmanager
def stripe_standin(log_dir: Path, customers: int = 40, timeout_s: float = 30.0) -> Iterator[str]:
    """``python -m stripe_standin`` on a free loopback port; yields its base URL."""
    argv = [
        sys.executable,
        "-m",
        "stripe_standin",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed-customers",
        str(customers),
        "--seed",
        "7",
        "--record-events",
    ]
    log_path = log_dir / "standin.log"
    with open(log_path, "wb") as err:
        process = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    svc = Service("standin", process, log_path)
    try:
        first_line: list[bytes] = []
        reader = threading.Thread(
            target=lambda: first_line.append(process.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(timeout_s)
        url = first_line[0].decode().strip() if first_line else ""
        if not url.startswith("http"):
            raise AssertionError(
                f"the Stripe stand-in printed no base URL in {timeout_s:.0f}s\n{svc.log_tail()}"
            )
        # Keep draining stdout so the stand-in never blocks on a full pipe.
        threading.Thread(target=lambda: process.stdout.read(), daemon=True).start()
        yield url
    finally:
        svc.stop()


def service_env(dagster_home: Path, pycache: Path, **extra: str) -> dict[str, str]:
    """The environment of the Dagster services: the caller's, minus any Dagster/Stripe settings
    of the developer's shell, plus DAGSTER_HOME and ``extra``.

    Every service, run worker and step process imports Dagster and the project afresh; with
    PYTHONDONTWRITEBYTECODE set (as on CI machines) each would compile them from source again.
    Bytecode goes to ``pycache`` instead, outside the work tree, so only the first compiles.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_", "STRIPE_", "WAREHOUSE_"))
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        DAGSTER_HOME=str(dagster_home),
        PYTHONUNBUFFERED="1",
        PYTHONPYCACHEPREFIX=str(pycache),
        **extra,
    )
    return env


def dagster_home_with_project_config(path: Path, production: bool = False) -> Path:
    """A DAGSTER_HOME holding a copy of the project's top-level dagster.yaml (SQLite storage under
    DAGSTER_HOME), or with ``production`` of deploy/dagster.yaml (storage from DAGSTER_PG_*)."""
    path.mkdir(parents=True, exist_ok=True)
    source = PROJECT_ROOT / ("deploy/dagster.yaml" if production else "dagster.yaml")
    shutil.copy(source, path / "dagster.yaml")
    return path


def webserver_argv(port: int, workspace: Path = PROJECT_ROOT / "workspace.yaml") -> list[str]:
    return [
        str(BIN / "dagster-webserver"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workspace),
    ]


def daemon_argv(workspace: Path = PROJECT_ROOT / "workspace.yaml") -> list[str]:
    return [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]


def code_server_argv(port: int, location: str) -> list[str]:
    """The code location as its own gRPC server, as Dagster's Helm chart runs it."""
    return [
        str(BIN / "dagster"),
        "api",
        "grpc",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        MODULE,
        "--working-directory",
        str(PROJECT_ROOT),
        "--location-name",
        location,
    ]


def grpc_workspace(path: Path, port: int, location: str) -> Path:
    """A workspace.yaml pointing the webserver and the daemon at one running code server."""
    path.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": location}}
                ]
            }
        )
    )
    return path


def wait_for_port(port: int, svc: Service, timeout_s: float) -> None:
    def listening() -> bool:
        if svc.process.poll() is not None:
            raise GiveUp(f"{svc.name} exited with {svc.process.returncode}\n{svc.log_tail()}")
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(
        f"{svc.name} to listen on 127.0.0.1:{port}", listening, timeout_s, diagnose=svc.log_tail
    )


class GraphQL:
    """A tiny client for the webserver's /graphql endpoint."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def __call__(
        self, query: str, variables: dict[str, Any] | None = None, timeout_s: float = 30.0
    ) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]


LOCATION_STATUS = """
query LocationStatus {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message stack }
        }
      }
    }
  }
}
"""


def wait_for_code_location(gql: GraphQL, server: Service, timeout_s: float = 60.0) -> None:
    """Wait until the webserver answers and has loaded the code location; a load error fails
    at once with Dagster's own message (for example a component's defs.yaml problem)."""

    def loaded() -> bool:
        if server.process.poll() is not None:
            raise AssertionError(
                f"{server.name} exited with {server.process.returncode}\n{server.log_tail()}"
            )
        try:
            data = gql(LOCATION_STATUS, timeout_s=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        entries = data["workspaceOrError"].get("locationEntries") or []
        for entry in entries:
            result = entry.get("locationOrLoadError") or {}
            if result.get("__typename") == "PythonError":
                raise AssertionError(
                    f"code location {entry['name']} failed to load:\n{result['message']}\n{result.get('stack')}"
                )
        return bool(entries) and all(
            e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries
        )

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if loaded():
            return
        time.sleep(0.5)
    raise AssertionError(f"the code location did not load in {timeout_s:.0f}s\n{server.log_tail()}")


@dataclass(frozen=True)
class ExpectedComponent:
    """What one defs/<folder>/defs.yaml promises the asset graph will hold."""

    folder: str
    kind: str  # "import" | "export"
    name: str
    assets: tuple[tuple[str, ...], ...]  # the asset keys it makes, upstream first
    schedule: str | None  # the cron of its automation condition
    job: str | None
    enabled: bool


def expected_components(defs_dir: Path = DEFS_DIR) -> list[ExpectedComponent]:
    """The import pipelines and export syncs declared in the defs folder, read from their YAML."""
    found = []
    for path in sorted(defs_dir.glob("*/defs.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        kind = {IMPORT_TYPE: "import", EXPORT_TYPE: "export"}.get(doc.get("type"))
        if kind is None:
            continue
        attrs = doc.get("attributes") or {}
        name = attrs["name"]
        enabled = attrs.get("enabled", True) is not False
        schedule = attrs.get("schedule")
        if kind == "import":
            assets = (tuple(attrs["table"].split(".")),)
            found.append(
                ExpectedComponent(path.parent.name, kind, name, assets, schedule, None, enabled)
            )
        else:
            assets = ((f"{name}_plan",), (name,))
            found.append(
                ExpectedComponent(
                    path.parent.name, kind, name, assets, schedule, f"{name}_job", enabled
                )
            )
    return found


MATERIALIZATIONS = """
query Materializations($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 50) {
        runId
        metadataEntries {
          label
          __typename
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
        }
      }
    }
  }
}
"""

# Numeric metadata every materialization of the mirror carries, so Dagster plots it over time:
# rows, Stripe API calls, duration and throughput.
MIRROR_NUMBERS = ("dagster/row_count", "api_calls", "duration_s", "customers_per_s")


def asset_materializations(gql: GraphQL, key: tuple[str, ...]) -> list[dict]:
    """The asset's materializations (newest first), each with its run id and metadata entries."""
    asset = gql(MATERIALIZATIONS, {"path": list(key)})["assetOrError"]
    assert asset["__typename"] == "Asset", f"no asset {'/'.join(key)}: {asset}"
    return asset["assetMaterializations"]


def numeric_metadata(entries: list[dict]) -> dict[str, float]:
    """label -> value of the integer and float metadata entries (the ones Dagster plots)."""
    numbers = {}
    for entry in entries:
        if entry["__typename"] == "IntMetadataEntry":
            numbers[entry["label"]] = entry["intValue"]
        elif entry["__typename"] == "FloatMetadataEntry":
            numbers[entry["label"]] = entry["floatValue"]
    return numbers

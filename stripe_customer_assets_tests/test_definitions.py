"""A snapshot of every definition the code location builds, kept in ``definitions.yaml``.

For each asset: deps, group, kinds, tags, table, pool, code version, partitions, automation
condition and its checks (name, blocking, whether the check runs in the asset's step); then
every job (its assets, checks and executor), schedule and sensor, and the resources. A
change to any of them fails this test with a diff of the snapshot; when the change is meant,
write the new snapshot and commit it with the change:

    SNAPSHOT_UPDATE=1 .venv/bin/python -m pytest stripe_customer_assets_tests/test_definitions.py

The definitions load in a child process with none of the project's environment variables set
(``WAREHOUSE_URL``, ``STRIPE_*``, ...), as a fresh deployment with the defaults loads them: the
snapshot does not depend on the machine or on what other tests imported first.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

SNAPSHOT = Path(__file__).with_name("definitions.yaml")
# The same code location in a multi-account deployment (STRIPE_ACCOUNTS_FILE set).
ACCOUNTS_SNAPSHOT = Path(__file__).with_name("definitions_accounts.yaml")
ACCOUNTS_FILE = Path(__file__).with_name("accounts_example.yaml")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
UPDATE_VAR = "SNAPSHOT_UPDATE"
KIND_TAG = "dagster/kind/"  # kinds are listed on their own
# The variables the definitions read at load; the child process loads without them.
PROJECT_VARS = ("STRIPE_", "WAREHOUSE_", "DAGSTER_PG_")


def condition_text(condition) -> str | None:
    """An automation condition as a reader writes it: labels where Dagster has them
    (``eager``, ``on_cron(0 * * * *, UTC)``), ``AND``/``OR``/``NOT``/``SINCE`` otherwise."""
    if condition is None:
        return None
    label = condition.get_label()
    if label:
        return label
    parts = [condition_text(child) for child in condition.children]
    if condition.name in ("AND", "OR", "SINCE"):
        return "(" + f" {condition.name} ".join(parts) + ")"
    if condition.name == "NOT":
        return f"NOT {parts[0]}"
    return f"{condition.name}({', '.join(parts)})" if parts else condition.name


def freshness_text(policy) -> str | None:
    """A freshness policy in a line: ``time_window(fail=1 day, 0:00:00, warn=12:00:00)``."""
    if policy is None:
        return None
    fail, warn = getattr(policy, "fail_window", None), getattr(policy, "warn_window", None)
    if fail is None:
        return str(policy)
    text = f"time_window(fail={fail.to_timedelta()}"
    return text + (f", warn={warn.to_timedelta()})" if warn is not None else ")")


def key_text(key) -> str:
    return key.to_user_string()


def check_text(check_key) -> str:
    return f"{key_text(check_key.asset_key)}:{check_key.name}"


def asset_entries(graph) -> dict[str, Any]:
    assets: dict[str, Any] = {}
    checks: dict[str, list[dict[str, Any]]] = {}
    for assets_def in graph.assets_defs:
        in_step = bool(assets_def.keys)
        for spec in assets_def.check_specs:
            checks.setdefault(key_text(spec.asset_key), []).append(
                {"name": spec.name, "blocking": spec.blocking, "in_asset_step": in_step}
            )
        for spec in assets_def.specs:
            assets[key_text(spec.key)] = {
                "deps": sorted(key_text(dep.asset_key) for dep in spec.deps),
                "group": spec.group_name,
                "kinds": sorted(spec.kinds),
                "tags": {k: v for k, v in sorted(spec.tags.items()) if not k.startswith(KIND_TAG)},
                "table": spec.metadata.get("dagster/table_name"),
                "pool": assets_def.op.pool if assets_def.is_executable else None,
                "code_version": spec.code_version,
                "partitions": str(spec.partitions_def) if spec.partitions_def else None,
                "freshness": freshness_text(spec.freshness_policy),
                "automation_condition": condition_text(spec.automation_condition),
            }
    for key, entry in assets.items():
        entry["checks"] = sorted(checks.pop(key, []), key=lambda check: check["name"])
    assert not checks, f"checks of assets outside the code location: {sorted(checks)}"
    return assets


def target(definitions, job_name: str) -> dict[str, Any]:
    """What a job (named or a schedule's anonymous one) runs."""
    job = definitions.resolve_job_def(job_name)
    layer = job.asset_layer
    selected = layer.selected_asset_keys
    checks = [k for k in layer.asset_graph.asset_check_keys if k.asset_key in selected]
    return {
        "assets": sorted(key_text(k) for k in selected),
        "checks": sorted(check_text(k) for k in checks),
        "executor": job.executor_def.name,
    }


def snapshot() -> dict[str, Any]:
    """Every definition of the code location, in a plain, sorted, comparable shape."""
    from stripe_customer_assets.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    jobs = {
        job.name: target(definitions, job.name)
        for job in definitions.jobs or []
        if not job.name.startswith("__")
    }
    schedules = {
        schedule.name: {
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "default_status": schedule.default_status.value,
            "job": schedule.job_name if not schedule.job_name.startswith("__") else None,
            "target": target(definitions, schedule.job_name)
            if schedule.job_name.startswith("__")
            else None,
        }
        for schedule in definitions.schedules or []
    }
    sensors = {
        sensor.name: {
            "type": sensor.sensor_type.value,
            "default_status": sensor.default_status.value,
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "jobs": sorted(job.name for job in sensor.jobs) if sensor.has_jobs else [],
            "assets": sorted(key_text(k) for k in sensor.asset_selection.resolve(graph))
            if sensor.asset_selection is not None
            else None,
        }
        for sensor in definitions.sensors or []
    }
    return {
        "assets": dict(sorted(asset_entries(graph).items())),
        "jobs": dict(sorted(jobs.items())),
        "schedules": dict(sorted(schedules.items())),
        "sensors": dict(sorted(sensors.items())),
        "resources": sorted(definitions.resources or {}),
    }


def render(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)


def load_in_clean_process(extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARS)}
    env.update(extra or {})
    done = subprocess.run(
        [sys.executable, "-c", f"import {__name__} as m; m.main()"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    print(json.dumps(snapshot()))


@pytest.mark.parametrize(
    ("snapshot_file", "extra"),
    [(SNAPSHOT, {}), (ACCOUNTS_SNAPSHOT, {"STRIPE_ACCOUNTS_FILE": str(ACCOUNTS_FILE)})],
    ids=["single-account", "accounts-file"],
)
def test_the_definitions_match_the_snapshot(snapshot_file, extra):
    current = render(load_in_clean_process(extra))
    if os.environ.get(UPDATE_VAR):
        snapshot_file.write_text(current)
        return
    stored = snapshot_file.read_text() if snapshot_file.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            stored.splitlines(keepends=True),
            current.splitlines(keepends=True),
            fromfile=f"{snapshot_file.name} (stored)",
            tofile="the definitions now",
        )
    )
    if diff:
        here = Path(__file__).resolve().relative_to(PROJECT_ROOT)
        pytest.fail(
            f"The definitions changed (- stored, + now). If that is meant, run "
            f"`{UPDATE_VAR}=1 python -m pytest {here}` and commit {snapshot_file.name}.\n{diff}",
            pytrace=False,
        )


def test_automation_conditions_read_as_written():
    import dagster as dg

    on_cron = dg.AutomationCondition.on_cron("0 * * * *")
    written = (on_cron | dg.AutomationCondition.eager()) & ~dg.AutomationCondition.in_progress()

    assert condition_text(written) == "((on_cron(0 * * * *, UTC) OR eager) AND NOT in_progress)"
    assert condition_text(None) is None


def test_freshness_policies_read_as_written():
    import datetime as dt

    import dagster as dg

    policy = dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(hours=24), warn_window=dt.timedelta(hours=12)
    )

    assert freshness_text(policy) == "time_window(fail=1 day, 0:00:00, warn=12:00:00)"
    assert freshness_text(None) is None

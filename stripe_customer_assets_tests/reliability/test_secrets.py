"""The Stripe API key appears nowhere: not in Dagster's storage, logs or errors, nor the warehouse.

Import and export run through Dagster with a persistent instance (a temporary DAGSTER_HOME)
and the key given the way a deployment gives it: the STRIPE_API_KEY environment variable,
read through ``dg.EnvVar``. Then a run with a revoked key (401) and one with a restricted key
lacking customer write (403) fail, and their errors are searched too.
"""

from __future__ import annotations

import textwrap
import traceback
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox
from dagster_shared.serdes import serialize_value

from stripe_customer_assets.defs.mirror.assets import stripe_customers
from stripe_customer_assets.resources import stripe_resource_from_env, warehouse_resource_from_env
from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.export.support import account, seed_customer, write_accounts

MARKER = "SECRETMARKER"

IMPORT_YAML = """
type: stripe_customer_assets.StripeCustomerImport
attributes:
  name: secret_import
  table: analytics.secret_import
  transformation:
    mapping:
      email: lower(email)
  schema:
    email: string
    name: string
"""
EXPORT_YAML = """
type: stripe_customer_assets.StripeCustomerExport
attributes:
  name: secret_export
  model: SELECT * FROM crm.accounts
  key: {column: email, stripe_field: email}
  fields:
    name: full_name
    metadata.plan: plan
"""


def project_defs(sandbox) -> dg.Definitions:
    """The mirror asset, one import pipeline and one export sync from defs.yaml, and the
    resources exactly as ``definitions.py`` makes them (from the environment)."""
    built = []
    for name, text in (("secret_import", IMPORT_YAML), ("secret_export", EXPORT_YAML)):
        folder = sandbox.defs_folder_path / name
        folder.mkdir()
        (folder / "defs.yaml").write_text(textwrap.dedent(text))
    with sandbox.build_component_tree() as tree:
        for name in ("secret_import", "secret_export"):
            built.append(tree.build_defs(sandbox.defs_folder_path / name))
    return dg.Definitions.merge(
        *built,
        dg.Definitions(
            assets=[stripe_customers],
            resources={
                "stripe": stripe_resource_from_env(),
                "warehouse": warehouse_resource_from_env(),
            },
        ),
    )


class Runs(list):
    """"Materialize all" (which never writes to Stripe), then the export's own job."""

    @property
    def success(self) -> bool:
        return all(result.success for result in self)


def run_all(defs: dg.Definitions, instance: dg.DagsterInstance) -> Runs:
    everything = defs.resolve_implicit_global_asset_job_def()
    export = defs.resolve_job_def("secret_export_job")
    return Runs(
        job.execute_in_process(instance=instance, raise_on_error=False)
        for job in (everything, export)
    )


def files_containing(root: Path, needles: list[str]) -> list[str]:
    """Every file under ``root`` whose bytes contain one of ``needles`` (SQLite files too)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


def warehouse_text(url: str) -> str:
    """Every table of the warehouse, every row, as text."""
    wh = Warehouse(url)
    out = []
    with wh.begin() as conn:
        tables = conn.exec_driver_sql(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            rows = conn.exec_driver_sql(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            out.append(f"{schema}.{table}: {rows!r}")
    return "\n".join(out)


def failure_messages(results: Runs) -> str:
    return "\n".join(
        e.step_failure_data.error.to_string()
        for result in results
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE
    )


@pytest.mark.slow  # six Dagster runs on a persistent instance, then a scan of all it stored
def test_the_api_key_appears_nowhere_after_import_and_export_runs(
    standin, tmp_path, monkeypatch, capfd
):
    secret = f"sk_test_{MARKER}{uuid.uuid4().hex}"
    restricted = f"rk_test_{MARKER}{uuid.uuid4().hex}"
    needles = [secret, restricted, MARKER]
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("STRIPE_API_KEY", secret)
    monkeypatch.setenv("STRIPE_API_BASE", standin.base_url)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    standin.add_api_key(secret)
    standin.add_restricted_key(restricted, {"customers": "read", "events": "read"})
    standin.seed_customers(30, seed=51)
    for i in range(1, 4):
        seed_customer(standin, i)
    write_accounts(Warehouse(warehouse_url), "crm.accounts", [account(i) for i in range(1, 8)])

    with create_defs_folder_sandbox() as sandbox:
        defs = project_defs(sandbox)
        with dg.DagsterInstance.get() as instance:
            ok = run_all(defs, instance)
            assert ok.success
            assert len(standin.customers()) == 30 + 7, "3 updated, 4 created"

            # A revoked key: the mirror's first call fails with 401.
            standin.remove_api_key(secret)
            revoked = run_all(defs, instance)
            # A restricted key without customer write: plans, then the sync fails with 403.
            monkeypatch.setenv("STRIPE_API_KEY", restricted)
            write_accounts(
                Warehouse(warehouse_url),
                "crm.accounts",
                [account(i, full_name=f"Renamed {i}") for i in range(1, 8)],
            )
            forbidden = run_all(defs, instance)

            runs = instance.get_runs()
            records = [record for run in runs for record in instance.all_logs(run.run_id)]
            materializations = [
                instance.fetch_materializations(key, limit=100).records
                for key in instance.get_asset_keys()
            ]
            stored = {
                "event log": serialize_value(records),
                "runs and run config": serialize_value(runs),
                "run configs": repr([run.run_config for run in runs]),
                "materialization metadata": serialize_value(materializations),
            }

    assert not revoked.success and not forbidden.success
    errors = {"401": failure_messages(revoked), "403": failure_messages(forbidden)}
    assert "Stripe rejected the API key in STRIPE_API_KEY (401 Unauthorized)" in errors["401"]
    assert "lacks the 'rak_customer_write' permission" in errors["403"]
    with pytest.raises(StripeAccessError) as caught:
        StripeApi(secret, api_base=standin.base_url).check_connection()
    errors["raised"] = "".join(traceback.format_exception(caught.value)) + repr(caught.value)

    captured = capfd.readouterr()
    texts = {
        **stored,
        **{f"error ({k})": v for k, v in errors.items()},
        "warehouse tables": warehouse_text(warehouse_url),
        "stdout and stderr (Python logging included)": captured.out + captured.err,
    }
    assert (
        "secret_import" in texts["warehouse tables"]
        and "secret_export" in texts["warehouse tables"]
    )
    leaks = [f"{where}: {n}" for where, text in texts.items() for n in needles if n in text]
    leaks += files_containing(home, needles)  # SQLite storage, compute logs, schedules
    assert leaks == []
    assert list(home.rglob("*.db")), "the instance stored its runs under DAGSTER_HOME"
    assert list(home.rglob("compute_logs/*.err")), "and captured the steps' output there"
    assert "rak_customer_write" in stored["event log"], "the errors were stored (and searched)"


def test_a_key_with_a_trailing_newline_works_and_appears_nowhere(
    standin, tmp_path, monkeypatch, capfd
):
    """A key read from a secret file keeps its newline: the run works (the key is stripped),
    and neither the key nor a header quoting it reaches storage, logs or output."""
    secret = f"sk_test_{MARKER}{uuid.uuid4().hex}"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("STRIPE_API_KEY", secret + "\n")
    monkeypatch.setenv("STRIPE_API_BASE", standin.base_url)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    standin.add_api_key(secret)
    standin.seed_customers(10, seed=52)
    write_accounts(Warehouse(warehouse_url), "crm.accounts", [account(i) for i in range(1, 4)])

    with create_defs_folder_sandbox() as sandbox:
        defs = project_defs(sandbox)
        with dg.DagsterInstance.get() as instance:
            results = run_all(defs, instance)
            records = [r for run in instance.get_runs() for r in instance.all_logs(run.run_id)]
            stored = serialize_value(records) + serialize_value(instance.get_runs())

    assert results.success, failure_messages(results)
    assert len(standin.customers()) == 10 + 3
    assert standin.stats()["requests_by_endpoint"].get("customers.create") == 3, "no retries"
    captured = capfd.readouterr()
    texts = {
        "stored": stored,
        "output": captured.out + captured.err,
        "warehouse": warehouse_text(warehouse_url),
    }
    leaks = [f"{where}: {MARKER}" for where, text in texts.items() if MARKER in text]
    leaks += files_containing(home, [secret, MARKER])
    assert leaks == []
    assert list(home.rglob("compute_logs/*.err")), "the steps' output was captured and searched"

"""The sync history: three runs with a row Stripe refuses, a rejected row and changing rows;
the queries documented in docs/exports.md return them."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from stripe_customer_assets.export import apply as apply_module
from stripe_customer_assets.export import apply_plan, read_state
from stripe_customer_assets.export.history import history_table, plan_history_table
from stripe_customer_assets.export.plan_table import plans_table
from stripe_customer_assets.warehouse.engine import frame_from
from stripe_customer_assets_tests.export.support import account, export_config, write_accounts

DOC = Path(__file__).resolve().parents[2] / "docs" / "exports.md"
BY_CRM_ID = {"column": "crm_id", "stripe_field": "metadata.crm_id"}
FIELDS = {"email": "email", "name": "full_name", "preferred_locales": "locales"}


def documented_queries() -> dict[tuple[str, str], str]:
    """The SQL blocks of docs/exports.md marked ``<!-- history-query: <name> <dialect> -->``."""
    pattern = re.compile(r"<!-- history-query: (\w+) (\w+) -->\n```sql\n(.*?)```", re.DOTALL)
    return {(name, dialect): sql for name, dialect, sql in pattern.findall(DOC.read_text())}


def run_query(wh, config, name: str) -> list[dict]:
    with wh.begin() as conn:
        sql = documented_queries()[(name, conn.dialect.name)]
        sql = sql.replace("exports.crm_history", history_table(config)).rstrip().rstrip(";")
        records = frame_from(conn, sql).to_dict("records")
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in records]


def as_json(value):
    return value if isinstance(value, (dict, list)) else json.loads(value)


def model(names: dict[int, str]) -> list[dict]:
    rows = [account(i, full_name=names.get(i, f"Customer {i}")) for i in range(1, 5)]
    rows[0]["email"] = "not-an-email"  # row 1: the plan rejects it
    return rows


def test_three_runs_leave_one_history_entry_per_run_for_each_row(
    standin, syncer, wh, accounts_table, schemas
):
    # Row 2 asks for a locale Stripe refuses (over 5000 characters); rows 3 and 4 change.
    sql = (
        f"SELECT *, CASE WHEN crm_id = 2 THEN repeat('x', 5001) ELSE 'en' END AS locales "
        f"FROM {accounts_table}"
    )
    config = export_config(
        "crm", accounts_table, schemas["state"], model=sql, key=BY_CRM_ID, fields=FIELDS
    )
    run_ids = []
    for n in (1, 2, 3):
        write_accounts(wh, accounts_table, model({3: f"Name {n}", 4: f"Other {n}"}))
        syncer.plan(config)
        result = apply_plan(config, syncer.api, wh, concurrency=2, run_id=f"run-{n}")
        assert (result.created + result.updated, result.failed) == (2, 1)
        run_ids.append(result.run_id)

    with wh.begin() as conn:
        history = frame_from(conn, f"SELECT * FROM {history_table(config)}").to_dict("records")
    by = {(h["run_id"], h["key"]): h for h in history}
    assert len(history) == 12 and len(by) == 12, "one entry per run for each of 4 rows"
    for n, run in enumerate(run_ids, start=1):
        rejected = by[(run, "1")]
        assert (rejected["action"], rejected["status"]) == ("reject", "rejected")
        assert "'not-an-email' is not a valid email address" in rejected["message"]
        refused = by[(run, "2")]
        assert refused["status"] == "failed" and "5000 characters" in refused["message"]
        assert refused["message"].startswith("Stripe refused POST /v1/customers (400")
        assert refused["request_id"].startswith("req_")
        assert as_json(refused["changes"])["preferred_locales"] == [None, ["x" * 5001]]
        for key, name in (("3", f"Name {n}"), ("4", f"Other {n}")):
            row = by[(run, key)]
            assert row["status"] == ("created" if n == 1 else "updated")
            assert row["request_id"].startswith("req_") and row["stripe_id"].startswith("cus_")
            old = None if n == 1 else name.replace(str(n), str(n - 1))
            assert as_json(row["changes"])["name"] == [old, name]
    assert len({by[(r, "3")]["request_id"] for r in run_ids}) == 3

    changed = run_query(wh, config, "changed_last_week")
    names = [(c["key"], c["old_value"], c["new_value"]) for c in changed if c["field"] == "name"]
    assert sorted(names, key=str) == sorted(
        [("3", None, "Name 1"), ("4", None, "Other 1")]
        + [("3", "Name 1", "Name 2"), ("4", "Other 1", "Other 2")]
        + [("3", "Name 2", "Name 3"), ("4", "Other 2", "Other 3")],
        key=str,
    )
    assert all(c["request_id"].startswith("req_") for c in changed)
    failing = {f["key"]: f for f in run_query(wh, config, "keep_failing")}
    assert set(failing) == {"1", "2"}
    assert failing["2"]["attempts"] == 3 and failing["2"]["last_status"] == "failed"
    assert "5000 characters" in failing["2"]["last_message"]
    assert failing["1"]["attempts"] == 3 and "not a valid email" in failing["1"]["last_message"]

    with wh.begin() as conn:
        plans = frame_from(
            conn, f"SELECT plan_id, key, action, changes FROM {plan_history_table(config)}"
        )
    assert plans["plan_id"].nunique() == 3, "each plan's row-level changes are kept"
    assert len(plans) == 12 and set(plans["action"]) == {"reject", "create", "update"}


@pytest.mark.parametrize("days", [1, 30])
def test_history_older_than_history_days_is_pruned(
    standin, syncer, wh, accounts_table, schemas, days
):
    write_accounts(wh, accounts_table, [account(5), account(6)])
    config = export_config("crm", accounts_table, schemas["state"], history_days=days)
    syncer.plan(config)
    apply_plan(config, syncer.api, wh, run_id="first")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with wh.begin() as conn:
        conn.execute(sa.text(f"UPDATE {history_table(config)} SET recorded_at = :t"), {"t": old})
        conn.execute(sa.text(f"UPDATE {plan_history_table(config)} SET planned_at = :t"), {"t": old})
        conn.execute(sa.text(f"UPDATE {plans_table(config)} SET planned_at = :t"), {"t": old})
    write_accounts(wh, accounts_table, [account(5, full_name="New"), account(6)])
    syncer.plan(config)
    apply_plan(config, syncer.api, wh, run_id="second")

    with wh.begin() as conn:
        runs = frame_from(conn, f"SELECT run_id FROM {history_table(config)}")["run_id"]
        plans = frame_from(conn, f"SELECT plan_id FROM {plans_table(config)}")["plan_id"]
        planned = frame_from(conn, f"SELECT DISTINCT plan_id FROM {plan_history_table(config)}")
    assert sorted(set(runs)) == (["second"] if days == 1 else ["first", "second"])
    assert len(plans) == (1 if days == 1 else 2) and len(planned) == (1 if days == 1 else 2)


def test_after_a_crash_every_write_is_in_the_history_once(
    standin, syncer, wh, accounts_table, schemas, monkeypatch
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 41)])
    config = export_config("crm", accounts_table, schemas["state"])
    syncer.plan(config)
    real_record = apply_module.record_results
    flushes = []

    def crash_on_third_batch(*args, **kwargs):
        flushes.append(1)
        if len(flushes) == 3:
            raise RuntimeError("simulated crash between writes and their recording")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(apply_module, "record_results", crash_on_third_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        apply_plan(config, syncer.api, wh, concurrency=4, batch_size=5, run_id="crashed")
    monkeypatch.setattr(apply_module, "record_results", real_record)

    def history() -> list[dict]:
        with wh.begin() as conn:
            return frame_from(conn, f"SELECT * FROM {history_table(config)}").to_dict("records")

    recorded = {r["key"] for r in read_state(wh, config)}
    assert len(recorded) == 10 and {h["key"] for h in history()} == recorded
    apply_plan(config, syncer.api, wh, concurrency=4, batch_size=5, run_id="rerun")
    created = [h["key"] for h in history() if h["status"] == "created"]
    assert len(created) == 40 and len(set(created)) == 40, "each write once, none lost"
    assert len(standin.customers()) == 40

"""Bad input stops with a message naming what the user controls, and nothing written is lost.

Each test starts from a synced world (mirror, an export that already ran, an import
pipeline's table), feeds one bad input, checks the message, and checks that the warehouse
(and Stripe) hold exactly what they held before. Messages are pinned in more detail by the
tests listed in docs/reliability.md; these add the "nothing lost" half.

Longer than 400 lines on purpose: every test shares the synced world built here (``world``,
a third of the file), and the tests read as one list of bad inputs beside it.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from stripe_customer_assets.defs.mirror.assets import stripe_customers
from stripe_customer_assets.export import (
    ExportAccessError,
    ExportModelError,
    apply_plan,
    make_plan,
    parse_config,
    read_state,
    sent_keys,
    store_plan,
)
from stripe_customer_assets.mirror.sync import events_overlap_s, refresh_mirror
from stripe_customer_assets.pipeline import PipelineConfig, compile_pipeline, run_pipeline
from stripe_customer_assets.resources import WarehouseResource, stripe_resource_from_env
from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.export.support import (
    FIELDS,
    account,
    seed_customer,
    write_accounts,
)
from stripe_customer_assets_tests.reliability.support import (
    dump_tables,
    faulty_api,
    mirror_differences,
)
from stripe_standin import MALFORMED_KINDS, StripeStandin


@dataclass
class World:
    """A synced setup: 30 customers mirrored, a sync 'crm' applied once, a pipeline table."""

    standin: StripeStandin
    wh: Warehouse
    mirror_schema: str
    schemas: list[str]
    attributes: dict[str, Any]  # the export sync's defs.yaml attributes
    api: StripeApi

    def snapshot(self) -> tuple[dict[str, list[tuple]], list[dict[str, Any]]]:
        """Every warehouse table of the world, and Stripe's customers."""
        return dump_tables(self.wh, self.schemas), self.standin.all_customers()

    def config(self, **overrides: Any):
        return parse_config({**self.attributes, **overrides})

    def plan(self, **overrides: Any):
        config = self.config(**overrides)
        plan = make_plan(self.wh, config, self.mirror_schema, sent_keys=sent_keys(self.wh, config))
        store_plan(self.wh, config, plan)
        return config, plan


@pytest.fixture
def world(standin, wh, mirror_schema, unique_schema) -> World:
    model, state, analytics = (
        unique_schema("crm"),
        unique_schema("exports"),
        unique_schema("analytics"),
    )
    accounts = f'"{model}"."accounts"'
    write_accounts(wh, accounts, [account(i) for i in range(1, 21)])
    for i in range(1, 11):
        seed_customer(standin, i)
    standin.seed_customers(20, seed=41)
    attributes = {
        "name": "crm",
        "model": f"SELECT * FROM {accounts}",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": dict(FIELDS),
        "partial_address": "keep_stripe",
        "state_schema": state,
    }
    api = faulty_api(standin)
    w = World(standin, wh, mirror_schema, [mirror_schema, model, state, analytics], attributes, api)
    refresh_mirror(api, wh, mirror_schema, concurrency=4)
    config, _ = w.plan()
    result = apply_plan(config, api, wh, concurrency=4)
    assert (result.created, result.updated, result.failed) == (10, 10, 0)
    refresh_mirror(api, wh, mirror_schema, concurrency=4)
    pipeline = compile_pipeline(
        PipelineConfig.model_validate(
            {"name": "everyone", "table": f"{analytics}.customers", "schema": {"email": "string"}}
        )
    )
    run_pipeline(pipeline, wh, mirror_schema)
    return w


# -- configuration: refused at load, before anything can run ------------------------------

EXPORT_YAML = """
type: stripe_customer_assets.StripeCustomerExport
attributes:
  name: crm
  model: SELECT 'a@example.com' AS email, 'A' AS full_name
  key: {column: email, stripe_field: email}
  fields:
    name: full_name
  schedule: "0 * * * *"
"""
IMPORT_YAML = """
type: stripe_customer_assets.StripeCustomerImport
attributes:
  name: pros
  table: analytics.pros
  filters:
    conditions:
      - {property: metadata.plan, operator: is, value: pro}
  transformation:
    mapping:
      email: lower(email)
  schema:
    email: string
  schedule: "0 * * * *"
"""


CONFIG_ERRORS = [
    # (what, defs.yaml, replace this, with this, the message names)
    ("export: unknown field", EXPORT_YAML, "  schedule:", "  colour: blue\n  schedule:", "colour"),
    ("import: unknown field", IMPORT_YAML, "  schedule:", "  colour: blue\n  schedule:", "colour"),
    (
        "export: bad cron",
        EXPORT_YAML,
        '"0 * * * *"',
        '"every hour"',
        "attributes.schedule at ",
    ),
    (
        "import: bad cron",
        IMPORT_YAML,
        '"0 * * * *"',
        '"every hour"',
        "'every hour' is not a valid cron expression",
    ),
    (
        "import: unknown filter operator",
        IMPORT_YAML,
        "operator: is,",
        "operator: equals,",
        "attributes.filters.conditions.0.operator at ",
    ),
    (
        "import: a table name holding a quote",
        IMPORT_YAML,
        "table: analytics.pros",
        'table: analytics.pro"s',
        """invalid table name 'analytics.pro"s'""",
    ),
    (
        "import: mapping to an undefined property",
        IMPORT_YAML,
        "email: lower(email)",
        "full_name: lower(name)",
        "'full_name' is not a property of the schema",
    ),
]


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_configuration_errors_fail_the_load_naming_file_line_and_field_and_touch_nothing(world):
    before = world.snapshot()
    for what, yaml_text, old, new, expected in CONFIG_ERRORS:
        broken = textwrap.dedent(yaml_text).replace(old, new)
        assert broken != textwrap.dedent(yaml_text), what

        with pytest.raises(Exception) as caught, create_defs_folder_sandbox() as sandbox:
            folder = sandbox.defs_folder_path / "broken"
            folder.mkdir()
            (folder / "defs.yaml").write_text(broken)
            with sandbox.build_component_tree() as tree:
                tree.build_defs(folder)

        message = _messages(caught.value)
        assert expected in message, (what, message)
        assert "broken/defs.yaml" in message and re.search(r"defs\.yaml:\d+|line \d+", message), (
            what
        )
    assert world.snapshot() == before


def _messages(error: BaseException | None) -> str:
    parts = []
    while error is not None:
        parts.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


# -- the export's model ---------------------------------------------------------------------


MODEL_ERRORS = [
    # (what, attributes changed, the message)
    (
        "SQL that fails",
        {"model": "SELECT * FROM no_such_table"},
        r"sync 'crm': the model SQL failed in the warehouse: .*no_such_table",
    ),
    (
        "model missing the key column",
        {"key": {"column": "mail", "stripe_field": "email"}},
        r"sync 'crm': `key\.column` names model column 'mail', which the model does not return",
    ),
    (
        "mapping to a missing column",
        {"fields": {**FIELDS, "description": "notes"}},
        r"sync 'crm': `fields\.description` names model column 'notes', which the model does not",
    ),
]


def test_model_problems_stop_the_plan_naming_sync_and_column_and_keep_the_last_plan(world):
    before = world.snapshot()
    for what, overrides, expected in MODEL_ERRORS:
        with pytest.raises(ExportModelError, match=expected):
            world.plan(**overrides)
        assert world.snapshot() == before, f"{what}: plan, state, mirror and Stripe as they were"
    _, plan = world.plan()  # the warehouse connection is fine afterwards (PostgreSQL aborts)
    assert plan.summary.writes == 0


# -- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_a_missing_stripe_api_key_names_the_variable_and_changes_nothing(world, monkeypatch):
    before = world.snapshot()
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("STRIPE_API_BASE", world.standin.base_url)

    with pytest.raises(StripeAccessError, match="set the STRIPE_API_KEY environment variable"):
        StripeApi("", api_base=world.standin.base_url)
    with pytest.raises(dg.DagsterInvalidConfigError) as caught:
        dg.materialize(
            [stripe_customers],
            resources={
                "stripe": stripe_resource_from_env(),
                "warehouse": WarehouseResource(url=world.wh.url, mirror_schema=world.mirror_schema),
            },
        )

    assert 'the environment variable "STRIPE_API_KEY" which is not set' in str(caught.value)
    assert world.snapshot() == before


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_a_wrong_key_401_names_stripe_api_key_and_leaves_mirror_and_cursor(world):
    rename(world)
    config, plan = world.plan()
    assert plan.summary.writes == 20
    world.standin.update_customer(world.standin.customers()[0]["id"], name="Changed meanwhile")
    before = world.snapshot()
    wrong = StripeApi("sk_test_wrong_key_000000000000", api_base=world.standin.base_url)

    with pytest.raises(StripeAccessError) as caught:
        refresh_mirror(wrong, world.wh, world.mirror_schema, concurrency=4)
    with pytest.raises(ExportAccessError) as export_caught:
        apply_plan(config, wrong, world.wh, concurrency=4)

    for message in (str(caught.value), str(export_caught.value)):
        assert "Stripe rejected the API key in STRIPE_API_KEY (401 Unauthorized)" in message
    tables, stripe_after = world.snapshot()
    state = f"{config.state_schema}.{config.name}"
    assert stripe_after == before[1], "Stripe as it was"
    assert {k: v for k, v in tables.items() if k != state} == {
        k: v for k, v in before[0].items() if k != state
    }, "mirror, cursor and plan as they were"
    # Like a 403, the 401 records the writes that were in flight as failed, keeping their ids.
    after_rows = {r[0]: r for r in tables[state]}
    before_rows = {r[0]: r for r in before[0][state]}
    assert after_rows.keys() == before_rows.keys()
    assert all(after_rows[k][1] == before_rows[k][1] for k in after_rows), "customer ids kept"
    changed = [r for k, r in after_rows.items() if r != before_rows[k]]
    assert all(r[2] == "failed" and "STRIPE_API_KEY" in r[3] for r in changed)
    refresh_mirror(world.api, world.wh, world.mirror_schema, concurrency=4)
    assert mirror_differences(world.wh, world.mirror_schema, world.standin) == []


def rename(world: World) -> None:
    """Change every model row's name: the next plan updates 20 customers."""
    accounts = world.attributes["model"].removeprefix("SELECT * FROM ")
    write_accounts(world.wh, accounts, [account(i, full_name=f"Renamed {i}") for i in range(1, 21)])


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_a_key_without_customer_write_403_names_the_permission_and_keeps_earlier_results(world):
    rename(world)
    config, plan = world.plan()
    assert plan.summary.counts["update"] == 20
    state_before = {r["key"]: r for r in read_state(world.wh, config)}
    stripe_before = world.standin.all_customers()
    world.standin.add_restricted_key("rk_test_read_only", {"customers": "read", "events": "read"})
    read_only = StripeApi("rk_test_read_only", api_base=world.standin.base_url, rate_limit=2000, endpoint_rate_limit=2000)

    with pytest.raises(ExportAccessError) as caught:
        apply_plan(config, read_only, world.wh, concurrency=2)

    message = str(caught.value)
    assert "sync 'crm' stopped after 0 of 20 writes" in message
    assert (
        "The restricted key in STRIPE_API_KEY lacks the 'rak_customer_write' permission" in message
    )
    assert world.standin.all_customers() == stripe_before
    state = {r["key"]: r for r in read_state(world.wh, config)}
    assert state.keys() == state_before.keys(), "no row lost"
    tried = {k for k, r in state.items() if r["status"] == "failed"}
    assert tried and all("rak_customer_write" in state[k]["reason"] for k in tried)
    assert all(state[k] == state_before[k] for k in state.keys() - tried)
    assert all(state[k]["stripe_id"] == state_before[k]["stripe_id"] for k in tried)

    result = apply_plan(config, world.api, world.wh, concurrency=4)  # with the right key
    assert (result.updated, result.failed) == (20, 0)


# -- what Stripe sends ------------------------------------------------------------------------


def test_malformed_customers_from_stripe_land_as_raw_json_without_a_crash(world):
    ids = {
        kind: world.standin.inject_malformed_customers(2, kind=kind, record_events=True)
        for kind in MALFORMED_KINDS
    }
    every = [i for group in ids.values() for i in group]

    incremental = refresh_mirror(world.api, world.wh, world.mirror_schema, concurrency=4)
    full = refresh_mirror(
        world.api, world.wh, world.mirror_schema, full_refresh=True, concurrency=4
    )

    assert incremental.mode == "incremental" and incremental.inserted == len(every)
    assert full.mode == "full" and (full.inserted, full.updated, full.deleted) == (0, 0, 0)
    assert mirror_differences(world.wh, world.mirror_schema, world.standin) == [], "raw JSON kept"
    rows = world.wh.read_frame(
        f'SELECT id, email, created FROM "{world.mirror_schema}".customers WHERE id IN '
        f"({', '.join(repr(i) for i in every)})"
    )
    assert sorted(rows["id"]) == sorted(every)
    wrong = rows[rows["id"].isin(ids["wrong_types"])]
    assert wrong["email"].isna().all() and wrong["created"].isna().all(), "typed columns NULL"
    _, plan = world.plan()  # the export's plan reads the same rows without a crash
    assert plan.summary.rows == 20 and plan.summary.writes == 0


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_a_malformed_answer_is_stored_as_sent_and_the_next_full_scan_repairs_it(world):
    changed = world.standin.customers()[0]["id"]
    # The setup's events (the export's) out of the mirror's overlap, so the page holds just
    # this update: a malformed copy of an event applied before would be skipped, and one in
    # the same second as others of its customer read back.
    world.standin.advance_clock(seconds=events_overlap_s() + 2)
    refresh_mirror(world.api, world.wh, world.mirror_schema, concurrency=4)
    world.standin.update_customer(changed, name="Changed")
    world.standin.inject_fault("malformed-object", endpoints="events.list")
    api = world.api

    damaged = refresh_mirror(api, world.wh, world.mirror_schema, concurrency=4)

    assert damaged.mode == "incremental" and damaged.updated == 1
    assert mirror_differences(world.wh, world.mirror_schema, world.standin) == [
        f"{changed}: mirror JSON differs from Stripe (a lost update)"
    ], "stored as Stripe sent it"
    world.standin.inject_fault("malformed-object", endpoints="customers.list")
    refresh_mirror(api, world.wh, world.mirror_schema, full_refresh=True, concurrency=4)
    repaired = refresh_mirror(api, world.wh, world.mirror_schema, full_refresh=True, concurrency=4)
    assert repaired.mode == "full"
    assert mirror_differences(world.wh, world.mirror_schema, world.standin) == []


# -- a bad value from Stripe ---------------------------------------------------------------


def test_a_nul_character_in_one_customer_stops_nothing_and_changes_nothing_already_written(world):
    """PostgreSQL cannot store U+0000: the mirror and the pipeline keep it as text and go on."""
    before, _ = world.snapshot()
    world.standin.create_customer(name="Nul\x00Name", email="nul@example.com", metadata={"note": "a\x00"})
    world.standin.create_customer(name="Later", email="later@example.com")
    result = refresh_mirror(world.api, world.wh, world.mirror_schema, concurrency=4)
    assert (result.mode, result.inserted) == ("incremental", 2)
    pipeline = compile_pipeline(
        PipelineConfig.model_validate(
            {"name": "everyone", "table": f"{world.schemas[3]}.customers", "schema": {"email": "string"}}
        )
    )
    assert run_pipeline(pipeline, world.wh, world.mirror_schema).inserted == 2
    after, _ = world.snapshot()
    moving = ("customers_cursor", "import_state")  # the cursor and the pipeline's state move on
    for table, rows in before.items():
        if not table.endswith(moving):
            assert all(row in after[table] for row in rows), table
    _, plan = world.plan()
    assert {entry.action for entry in plan.entries} == {"unchanged"}

"""Declarative automation: what runs on its own, evaluated against a Dagster instance.

The assets are the project's own specs (the mirror, pipelines and syncs loaded from
defs.yaml), each given a body that does nothing, so every tick is the automation's decision
alone; runs are real runs in the instance (which run updated what decides a condition).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import textwrap
from collections.abc import Iterator

import dagster as dg
from dagster.components.testing import create_defs_folder_sandbox

from stripe_customer_assets.defs.mirror.assets import stripe_customers
from stripe_customer_assets.lib.keys import MIRROR_KEY
from stripe_customer_assets_tests.components.test_stripe_import import pipeline_yaml

PIPELINE = dg.AssetKey(["analytics", "pro_customers"])
PLAN, SYNC = dg.AssetKey("crm_plan"), dg.AssetKey("crm")
SOURCE = dg.AssetKey(["crm_src", "accounts"])
START = dt.datetime(2030, 1, 1, 0, 1, tzinfo=dt.UTC)


def export_yaml(schedule: str | None = None, deps: str = "", enabled: bool = True) -> str:
    lines = [
        "type: stripe_customer_assets.StripeCustomerExport",
        "attributes:",
        "  name: crm",
        "  model: SELECT 'a@example.com' AS email, 'A' AS full_name",
        "  key: {column: email, stripe_field: email}",
        "  fields: {name: full_name}",
        f"  enabled: {str(enabled).lower()}",
    ]
    if schedule:
        lines.append(f'  schedule: "{schedule}"')
    if deps:
        lines.append(f"  deps: [{deps}]")
    return "\n".join(lines) + "\n"


def _does_nothing(spec: dg.AssetSpec) -> dg.AssetsDefinition:
    @dg.multi_asset(name=spec.key.to_python_identifier(), specs=[spec.replace_attributes(skippable=False)])
    def _asset():
        yield dg.MaterializeResult(asset_key=spec.key)

    return _asset


@dg.asset(key=SOURCE)
def crm_source() -> None:
    """A model's input, outside the project (no condition of its own)."""


@contextlib.contextmanager
def project(**components: str) -> Iterator[list[dg.AssetsDefinition]]:
    """The mirror and the components ``folder=defs.yaml text``, as assets that do nothing."""
    with create_defs_folder_sandbox() as sandbox:
        for folder, text in components.items():
            path = sandbox.defs_folder_path / folder
            path.mkdir(parents=True)
            (path / "defs.yaml").write_text(textwrap.dedent(text))
        with sandbox.build_all_defs() as defs:
            specs = [*stripe_customers.specs, *(s for a in defs.assets or () for s in a.specs)]
    yield [_does_nothing(s) for s in specs if s.key != SOURCE] + [crm_source]


class Ticks:
    """Successive ticks of the automation sensor at chosen times, against one instance."""

    def __init__(self, assets: list[dg.AssetsDefinition], instance: dg.DagsterInstance):
        self.assets, self.instance, self.cursor = assets, instance, None

    def at(self, when: dt.datetime) -> set[dg.AssetKey]:
        result = dg.evaluate_automation_conditions(
            defs=self.assets, instance=self.instance, evaluation_time=when, cursor=self.cursor
        )
        self.cursor = result.cursor
        return {a.key for a in self.assets if result.get_num_requested(a.key)}

    def run(self, *keys: dg.AssetKey) -> None:
        """One run materializing ``keys`` (as a job or the automation's run would)."""
        assert dg.materialize(self.assets, selection=list(keys), instance=self.instance).success


def minutes(n: float) -> dt.datetime:
    return START + dt.timedelta(minutes=n)


def test_a_pipeline_on_its_cron_gets_a_fresh_mirror_then_runs_in_the_same_run():
    with project(pro_customers=pipeline_yaml()) as assets, dg.instance_for_test() as instance:
        ticks = Ticks(assets, instance)
        assert ticks.at(minutes(0)) == set()  # a deployment runs nothing at once
        assert ticks.at(minutes(9)) == set()
        assert ticks.at(minutes(14.5)) == {MIRROR_KEY, PIPELINE}  # the tick at 00:15
        ticks.run(MIRROR_KEY, PIPELINE)
        assert ticks.at(minutes(15)) == set()
        assert ticks.at(minutes(29.5)) == {MIRROR_KEY, PIPELINE}


def test_a_pipeline_follows_every_refresh_of_the_mirror():
    with project(pro_customers=pipeline_yaml()) as assets, dg.instance_for_test() as instance:
        ticks = Ticks(assets, instance)
        ticks.at(minutes(0))
        ticks.run(MIRROR_KEY)  # materialized by hand, or by an export's job
        assert ticks.at(minutes(1)) == {PIPELINE}
        ticks.run(PIPELINE)
        assert ticks.at(minutes(2)) == set()
        ticks.run(MIRROR_KEY, PIPELINE)  # the change sensor's run: both at once
        assert ticks.at(minutes(3)) == set()


def test_a_disabled_pipeline_has_no_automation_and_asks_nothing_of_the_mirror():
    with project(pro_customers=pipeline_yaml(enabled="false")) as assets, dg.instance_for_test() as instance:
        [pipeline] = [a for a in assets if a.key == PIPELINE]
        assert pipeline.specs_by_key[PIPELINE].automation_condition is None
        ticks = Ticks(assets, instance)
        ticks.at(minutes(0))
        assert ticks.at(minutes(14.5)) == set()
        ticks.run(MIRROR_KEY)
        assert ticks.at(minutes(16)) == set()


def test_an_export_on_its_cron_refreshes_the_mirror_plans_and_syncs_in_one_run():
    with project(crm=export_yaml(schedule="0 * * * *")) as assets, dg.instance_for_test() as instance:
        ticks = Ticks(assets, instance)
        ticks.at(minutes(0))
        assert ticks.at(minutes(30)) == set()
        assert ticks.at(minutes(59.5)) == {MIRROR_KEY, PLAN, SYNC}
        ticks.run(MIRROR_KEY, PLAN, SYNC)
        assert ticks.at(minutes(61)) == set()


def test_a_plan_materialized_by_hand_never_starts_its_sync():
    with project(crm=export_yaml(schedule="0 * * * *", deps="crm_src/accounts")) as assets, dg.instance_for_test() as instance:
        ticks = Ticks(assets, instance)
        ticks.at(minutes(0))
        ticks.run(MIRROR_KEY, PLAN)  # a preview
        assert ticks.at(minutes(1)) == set()
        ticks.run(PLAN)
        assert ticks.at(minutes(2)) == set()


def test_an_export_runs_when_its_model_input_changes_with_a_fresh_mirror():
    with project(crm=export_yaml(deps="crm_src/accounts"), pro_customers=pipeline_yaml()) as assets, dg.instance_for_test() as instance:
        ticks = Ticks(assets, instance)
        ticks.at(minutes(0))
        ticks.run(SOURCE)
        # the mirror refreshes first; the pipeline follows the refresh in the same run
        assert ticks.at(minutes(1)) == {MIRROR_KEY, PIPELINE, PLAN, SYNC}
        ticks.run(MIRROR_KEY, PIPELINE, PLAN, SYNC)
        assert ticks.at(minutes(2)) == set()
        ticks.run(MIRROR_KEY, PIPELINE)  # the change sensor's run: the model did not change
        assert ticks.at(minutes(3)) == set()


def test_an_export_reading_a_pipeline_follows_it_without_refreshing_the_mirror_again():
    text = export_yaml(deps="analytics/pro_customers")
    with project(crm=text, pro_customers=pipeline_yaml()) as assets, dg.instance_for_test() as instance:
        ticks = Ticks(assets, instance)
        ticks.at(minutes(0))
        ticks.run(MIRROR_KEY, PIPELINE)  # the change sensor's run: the mirror is fresh
        assert ticks.at(minutes(1)) == {PLAN, SYNC}
        ticks.run(PLAN, SYNC)
        assert ticks.at(minutes(2)) == set()
        ticks.run(PIPELINE)  # rebuilt alone (by hand): the mirror refreshes with the plan
        assert ticks.at(minutes(3)) == {MIRROR_KEY, PIPELINE, PLAN, SYNC}
        ticks.run(MIRROR_KEY, PIPELINE, PLAN, SYNC)
        assert ticks.at(minutes(4)) == set()


def test_a_run_of_an_exports_job_settles_after_the_pipeline_it_reads_follows_the_mirror():
    text = export_yaml(deps="analytics/pro_customers")
    with project(crm=text, pro_customers=pipeline_yaml()) as assets, dg.instance_for_test() as instance:
        ticks = Ticks(assets, instance)
        ticks.at(minutes(0))
        ticks.run(MIRROR_KEY, PLAN, SYNC)  # crm_job
        assert ticks.at(minutes(1)) == {PIPELINE}
        ticks.run(PIPELINE)
        assert ticks.at(minutes(2)) == {MIRROR_KEY, PIPELINE, PLAN, SYNC}
        ticks.run(MIRROR_KEY, PIPELINE, PLAN, SYNC)
        assert ticks.at(minutes(3)) == set()
        assert ticks.at(minutes(4)) == set()


def test_a_disabled_export_or_one_without_schedule_or_deps_has_no_automation():
    for text in (export_yaml(schedule="0 * * * *", deps="crm_src/accounts", enabled=False), export_yaml()):
        with project(crm=text) as assets, dg.instance_for_test() as instance:
            conditions = {
                key: spec.automation_condition for a in assets for key, spec in a.specs_by_key.items()
            }
            assert conditions[PLAN] is None and conditions[SYNC] is None
            ticks = Ticks(assets, instance)
            ticks.at(minutes(0))
            ticks.run(SOURCE)
            assert ticks.at(minutes(60.5)) == set()


def test_the_projects_automation_sensor_runs_by_default_and_covers_every_condition():
    from stripe_customer_assets.definitions import defs

    project_defs = defs()
    sensor = project_defs.resolve_sensor_def("stripe_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = project_defs.resolve_asset_graph()
    automated = {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition}
    assert {MIRROR_KEY, dg.AssetKey(["analytics", "pro_customers"])} <= automated
    assert automated <= sensor.asset_selection.resolve(graph)
    # Dagster's own default sensor (stopped until switched on) is not needed: none is made.
    sensors = {s.name for s in project_defs.get_repository_def().sensor_defs}
    assert sensors == {"stripe_automation", "stripe_customer_changes", "stripe_alerts_on_failure", "stripe_alerts_on_checks"}
    assert project_defs.get_repository_def().schedule_defs == []


def test_the_projects_dagster_yaml_has_the_daemon_evaluate_automation_and_freshness(
    tmp_path, monkeypatch
):
    from dagster._daemon.asset_daemon import AssetDaemon
    from dagster._daemon.freshness import FreshnessDaemon

    from stripe_customer_assets_tests.ops.support import dagster_home_with_project_config

    monkeypatch.delenv("DAGSTER_PG_HOST", raising=False)
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    home = dagster_home_with_project_config(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.auto_materialize_use_sensors  # sensors such as stripe_automation
        daemons = instance.get_required_daemon_types()
    assert AssetDaemon.daemon_type() in daemons and FreshnessDaemon.daemon_type() in daemons

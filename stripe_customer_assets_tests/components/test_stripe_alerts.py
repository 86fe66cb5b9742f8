"""Alerts end to end: a real sync's runs in a Dagster instance, the alert sensors evaluated
tick by tick as the daemon would (their cursor included), a local HTTP receiver standing in
for Slack and a webhook."""

from __future__ import annotations

import dagster as dg
import pytest

from stripe_customer_assets.components.stripe_alerts import AlertsConfig, EmailConfig, alert_defs
from stripe_customer_assets.components.stripe_export import export_defs
from stripe_customer_assets.resources import StripeResource
from stripe_customer_assets_tests.alerts.receiver import receiver
from stripe_customer_assets_tests.components.test_stripe_export import resources, with_mirror
from stripe_customer_assets_tests.components.test_stripe_import import KEY, pipeline_yaml
from stripe_customer_assets_tests.export.support import (
    account,
    export_config,
    seed_customer,
    write_accounts,
)
from stripe_customer_assets_tests.pipeline.component_support import load_defs_yaml, with_warehouse
from stripe_customer_assets_tests.pipeline.support import customer
from stripe_standin import STANDIN_API_KEY, Fault

SENSORS = ("stripe_alerts_on_failure", "stripe_alerts_on_checks")


@pytest.fixture
def hooks(monkeypatch):
    with receiver() as server:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", f"{server.base_url}/slack/T000/B000/secret-token")
        monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{server.base_url}/hook")
        monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://dagster.example:3000/")
        yield server


class Ticks:
    """Each sensor ticked with the cursor of its previous tick, like the daemon."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.repo, self.instance = defs.get_repository_def(), instance
        self.cursors: dict[str, str | None] = {}
        self.tick()  # the first tick of a run status sensor starts its cursor at "now"

    def tick(self) -> list[str]:
        """Each sensor once; the errors it reported (a sensor's error is reported on its tick)."""
        errors = []
        for name in SENSORS:
            sensor = self.repo.get_sensor_def(name)
            context = dg.build_sensor_context(
                instance=self.instance, repository_def=self.repo, cursor=self.cursors.get(name)
            )
            result = sensor.evaluate_tick(context)
            self.cursors[name] = result.cursor
            errors += [r.error.message for r in result.dagster_run_reactions if r.error is not None]
        return errors


def crm_defs(standin, warehouse_url, mirror_schema, accounts_table, schemas, **attributes):
    config = export_config("crm", accounts_table, schemas["state"], **attributes)
    res = resources(standin, warehouse_url, mirror_schema)
    res["stripe"] = StripeResource(
        api_key=STANDIN_API_KEY, api_base=standin.base_url, rate_limit=2000, max_retries=1
    )
    return dg.Definitions.merge(with_mirror(export_defs(config), res), alert_defs(AlertsConfig()))


def test_a_failing_run_sends_one_alert_with_the_sync_what_happened_and_the_run_link(
    hooks, standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 4)])
    seed_customer(standin, 1)
    defs = crm_defs(standin, warehouse_url, mirror_schema, accounts_table, schemas)
    standin.inject_fault(Fault.HTTP_500, count=2, endpoints="customers.update")
    with dg.instance_for_test() as instance:
        ticks = Ticks(defs, instance)
        result = defs.resolve_job_def("crm_job").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        assert ticks.tick() == []
        assert ticks.tick() == []  # the cursor moved past the run: nothing is sent twice

    run_id = result.run_id
    [hook] = hooks.at("/hook")
    assert hook["kind"] == "run_failure" and hook["name"] == "crm" and hook["job"] == "crm_job"
    assert "crm failed: sync 'crm': 1 of 3 writes failed after retries" in hook["what"]
    assert "user1@example.com" in hook["what"]
    assert hook["link"] == f"http://dagster.example:3000/runs/{run_id}"
    [slack] = hooks.at("/slack/T000/B000/secret-token")
    assert "[crm]" in slack["text"] and f"/runs/{run_id}" in slack["text"]
    section = slack["blocks"][0]["text"]["text"]
    assert section.startswith("*Run failed: crm*") and f"<http://dagster.example:3000/runs/{run_id}|" in section
    assert len(hooks.received) == 2


def test_a_breached_limit_sends_one_alert_and_a_clean_run_none(
    hooks, standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(i) for i in range(1, 4)])
    defs = crm_defs(
        standin, warehouse_url, mirror_schema, accounts_table, schemas, alerts={"max_changes": 1}
    )
    with dg.instance_for_test() as instance:
        ticks = Ticks(defs, instance)
        first = defs.resolve_job_def("crm_job").execute_in_process(instance=instance)
        assert ticks.tick() == []
        assert ticks.tick() == []
        # The second run finds nothing to change: within the limit, no alert.
        assert defs.resolve_job_def("crm_job").execute_in_process(instance=instance).success
        assert ticks.tick() == []

    [hook] = hooks.at("/hook")
    assert hook["kind"] == "check_failed" and hook["name"] == "crm"
    assert hook["what"] == "check alert_thresholds on crm_plan failed: 3 changes > max_changes 1"
    assert hook["link"] == f"http://dagster.example:3000/runs/{first.run_id}"
    assert len(hooks.at("/slack/T000/B000/secret-token")) == 1


def test_a_failed_delivery_fails_the_tick_without_the_secret_url(
    hooks, standin, wh, warehouse_url, mirror_schema, accounts_table, schemas
):
    write_accounts(wh, accounts_table, [account(1)])
    defs = crm_defs(
        standin, warehouse_url, mirror_schema, accounts_table, schemas, alerts={"max_changes": 0}
    )
    hooks.status = 500
    with dg.instance_for_test() as instance:
        ticks = Ticks(defs, instance)
        defs.resolve_job_def("crm_job").execute_in_process(instance=instance)
        [message] = ticks.tick()
        # The cursor moved on: a failed delivery is reported once, not retried every tick.
        assert ticks.tick() == []
    assert "slack webhook (SLACK_WEBHOOK_URL) answered HTTP 500" in message
    assert "webhook (ALERT_WEBHOOK_URL) answered HTTP 500" in message
    assert "secret-token" not in message and hooks.base_url not in message
    assert len(hooks.received) == 2


def test_email_on_failure_uses_dagsters_smtp_sensor(monkeypatch):
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, context=None):
            sent.append({"host": host, "port": port})

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def login(self, user, password):
            sent[-1]["login"] = (user, password)

        def sendmail(self, sender, to, message):
            sent[-1]["message"] = message

    monkeypatch.setattr("dagster._utils.alert.smtplib.SMTP_SSL", FakeSMTP)
    monkeypatch.setenv("ALERT_EMAIL_PASSWORD", "pw")

    @dg.op(name="crm_plan")
    def broken():
        raise dg.Failure(description="the model SQL failed")

    job = dg.GraphDefinition("crm", node_defs=[broken]).to_job(name="crm_job")
    email = EmailConfig.model_validate({"to": ["ops@example.com"], "from": "d@example.com", "smtp_host": "smtp.example"})
    defs = dg.Definitions(jobs=[job], sensors=alert_defs(AlertsConfig(email=email)).sensors)
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("stripe_alerts_email")
    with dg.instance_for_test() as instance:
        cursor = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, repository_def=repo)).cursor
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        sensor.evaluate_tick(dg.build_sensor_context(instance=instance, repository_def=repo, cursor=cursor))

    [mail] = sent
    assert mail["host"] == "smtp.example" and mail["port"] == 465 and mail["login"] == ("d@example.com", "pw")
    assert "Subject: Dagster run failed: crm" in mail["message"]
    assert "[crm] crm failed: the model SQL failed" in mail["message"]
    assert f"/runs/{result.run_id}" in mail["message"]


def test_email_without_its_password_is_refused_at_load(monkeypatch):
    monkeypatch.delenv("ALERT_EMAIL_PASSWORD", raising=False)
    email = EmailConfig.model_validate({"to": ["ops@example.com"], "from": "d@example.com", "smtp_host": "smtp.example"})
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="ALERT_EMAIL_PASSWORD"):
        alert_defs(AlertsConfig(email=email))


def test_an_import_pipeline_past_its_limits_sends_one_alert_naming_each(hooks, duck_mirror):
    mirror, wh = duck_mirror, duck_mirror.warehouse
    seats = ["1", "2", "3", "many", "5", "6", "7", "lots", "9", "10"]  # 2 of 10 rejected
    mirror.put([customer(i, metadata={"plan": "pro", "seats": s}) for i, s in enumerate(seats)])
    yaml = pipeline_yaml(max_reject_rate=0.5) + "  alerts: {max_reject_share: 0.1, max_changes: 5}\n"
    with load_defs_yaml(yaml) as loaded, dg.instance_for_test() as instance:
        defs = dg.Definitions.merge(with_warehouse(loaded, wh.url, mirror.schema), alert_defs(AlertsConfig()))
        ticks = Ticks(defs, instance)
        result = dg.materialize([defs.resolve_assets_def(KEY)], instance=instance)
        assert ticks.tick() == [] and ticks.tick() == []

    [hook] = hooks.at("/hook")
    assert hook["name"] == "pro_customers"
    assert hook["what"] == (
        "check alert_thresholds on analytics/pro_customers failed: "
        "reject share 20.0% > max_reject_share 10.0%; 8 changes > max_changes 5"
    )
    assert hook["link"] == f"http://dagster.example:3000/runs/{result.run_id}"

"""``StripeAlerts``: where alerts go (``type: stripe_customer_assets.StripeAlerts``).

One component, ``defs/alerts/defs.yaml``. It builds Dagster sensors over this code
location's runs (every job, asset jobs and automation runs included):

- ``stripe_alerts_on_failure`` (``run_failure_sensor``): one alert per failed run, naming
  the pipelines and syncs whose steps failed, each step's message (a failed blocking check
  fails its run and is named here) and the failed checks of the run;
- ``stripe_alerts_on_checks`` (``run_status_sensor`` on success): one alert per failed check
  of a run that succeeded: a breached ``alerts`` limit (``alert_thresholds``), or a failed
  non-blocking check such as an import's ``reject_rate``;
- ``stripe_alerts_email`` with ``email`` set: Dagster's ``make_email_on_run_failure_sensor``
  (SMTP) with the same text.

Each sensor's cursor is Dagster's run-status cursor: a run is alerted once. Slack and webhook
URLs and the SMTP password are read from environment variables, never from the YAML.
"""

from __future__ import annotations

import html
import os
from typing import Literal

import dagster as dg
from pydantic import Field

from stripe_customer_assets.alerts.send import Alert, deliver, run_link, set_destinations
from stripe_customer_assets.config_model import StrictModel
from stripe_customer_assets.lib.yaml_model import YamlModelComponent

MESSAGE_LIMIT = 500


class EmailConfig(StrictModel):
    to: list[str] = Field(min_length=1, description="Recipients.")
    sender: str = Field(alias="from", description="The sender address.")
    smtp_host: str
    smtp_port: int | None = Field(default=None, description="465 for SSL, 587 for STARTTLS by default.")
    smtp_type: Literal["SSL", "STARTTLS"] = "SSL"
    smtp_user: str | None = Field(default=None, description="Defaults to the sender.")
    password_env: str = Field(
        default="ALERT_EMAIL_PASSWORD", description="Environment variable holding the SMTP password."
    )


class AlertsConfig(StrictModel):
    """Where alerts go: environment variable names, so no URL or password sits in YAML."""

    slack_webhook_url_env: str | None = Field(
        default="SLACK_WEBHOOK_URL", description="Env var with a Slack incoming-webhook URL."
    )
    webhook_url_env: str | None = Field(
        default="ALERT_WEBHOOK_URL", description="Env var with a URL that receives each alert as JSON."
    )
    email: EmailConfig | None = Field(default=None, description="Email on run failure (SMTP).")

    def destinations(self) -> dict[str, str]:
        found = {"slack": self.slack_webhook_url_env, "webhook": self.webhook_url_env}
        return {kind: env for kind, env in found.items() if env}


class StripeAlerts(YamlModelComponent, AlertsConfig):
    """Alerts on failed runs, failed checks and breached ``alerts`` limits: to Slack, a
    webhook and email. Its attributes are ``AlertsConfig``."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return alert_defs(self)


def alert_defs(config: AlertsConfig) -> dg.Definitions:
    sensors = [failure_sensor(config), check_sensor(config)]
    if config.email is not None:
        sensors.append(email_sensor(config.email))
    return dg.Definitions(sensors=sensors)


def failure_sensor(config: AlertsConfig) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="stripe_alerts_on_failure",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="One alert per failed run of this code location (Slack, webhook).",
    )
    def _on_failure(context: dg.RunFailureSensorContext):
        _send(context, [failure_alert(context)], config)

    return _on_failure


def check_sensor(config: AlertsConfig) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        name="stripe_alerts_on_checks",
        run_status=dg.DagsterRunStatus.SUCCESS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="One alert per failed check (a breached alerts limit included) of a run "
        "that succeeded (Slack, webhook).",
    )
    def _on_checks(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        alerts = [
            Alert(_check_name(e), "check_failed", _check_words(e), run.run_id, run.job_name, run_link(run.run_id))
            for e in failed_checks(context.instance, run.run_id)
        ]
        _send(context, alerts, config)

    return _on_checks


def email_sensor(email: EmailConfig) -> dg.SensorDefinition:
    password = os.environ.get(email.password_env, "")
    if not password:
        raise dg.DagsterInvalidDefinitionError(
            f"defs/alerts/defs.yaml: email is set but the environment variable "
            f"{email.password_env} (email.password_env) holding the SMTP password is not"
        )
    return dg.make_email_on_run_failure_sensor(
        name="stripe_alerts_email",
        email_from=email.sender,
        email_password=password,
        email_to=email.to,
        email_subject_fn=lambda context: f"Dagster run failed: {failure_alert(context).name}",
        email_body_fn=lambda context: "<pre>" + html.escape(failure_alert(context).text()) + "</pre>",
        smtp_host=email.smtp_host,
        smtp_port=email.smtp_port,
        smtp_type=email.smtp_type,
        smtp_user=email.smtp_user,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )


def failure_alert(context: dg.RunFailureSensorContext) -> Alert:
    run = context.dagster_run
    names, lines = [], []
    for event in context.get_step_failure_events():
        name = subject(event.step_key or "")
        names.append(name)
        lines.append(f"{name} failed: {_short(_step_message(event))}")
    lines += [f"{_check_name(e)}: {_check_words(e)}" for e in failed_checks(context.instance, run.run_id)]
    if not lines:
        lines.append(_short(context.failure_event.message or "the run failed"))
    name = ", ".join(dict.fromkeys(names)) or subject(run.job_name)
    return Alert(name, "run_failure", "\n".join(lines), run.run_id, run.job_name, run_link(run.run_id))


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [e for e in evaluations if e is not None and not e.passed]


def subject(step_or_job: str) -> str:
    """The pipeline or sync a step or job belongs to: ``import_<pipeline>``, ``<sync>_plan``,
    ``<sync>``, ``<sync>_job``."""
    name = step_or_job.removeprefix("import_")
    for suffix in ("_plan", "_job"):
        name = name.removesuffix(suffix)
    return name


def _check_name(evaluation: dg.AssetCheckEvaluation) -> str:
    named = evaluation.metadata.get("name")
    if named is not None:
        return str(named.value)
    return evaluation.asset_key.to_user_string()


def _check_words(evaluation: dg.AssetCheckEvaluation) -> str:
    what = f"check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed"
    return f"{what}: {_short(evaluation.description)}" if evaluation.description else what


def _step_message(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    return data.error.message.strip() if data.error else "step failed"


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _send(context: dg.RunStatusSensorContext, alerts: list[Alert], config: AlertsConfig) -> None:
    if not alerts:
        return
    destinations = config.destinations()
    if not set_destinations(destinations):
        context.log.info(
            f"{len(alerts)} alert(s) not sent: none of {', '.join(destinations.values())} is set"
        )
        return
    problems = [p for alert in alerts for p in deliver(alert, destinations)]
    if problems:
        raise dg.Failure(description="alert delivery failed: " + "; ".join(sorted(set(problems))))

"""One alert and its delivery: a Slack incoming webhook and a generic JSON webhook.

The webhook URLs are secrets: they are read from the environment when an alert is sent and
never appear in a log line, metadata or an error (a failed delivery names the destination
and the environment variable, not the URL).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
TIMEOUT_S = 10


@dataclass(frozen=True)
class Alert:
    name: str  # the pipeline or sync (or the job when no step names one)
    kind: str  # run_failure | check_failed
    what: str  # what happened, in words
    run_id: str
    job: str
    link: str

    def text(self) -> str:
        return f"[{self.name}] {self.what}\nRun: {self.link}"


def run_link(run_id: str) -> str:
    base = os.environ.get("DAGSTER_WEBSERVER_URL") or DEFAULT_WEBSERVER_URL
    return f"{base.rstrip('/')}/runs/{run_id}"


def slack_payload(alert: Alert) -> dict:
    """Slack's incoming-webhook shape: ``text`` (the fallback) and one section block."""
    title = "Run failed" if alert.kind == "run_failure" else "Check failed"
    return {
        "text": alert.text(),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{title}: {alert.name}*\n{alert.what}\n<{alert.link}|View run {alert.run_id[:8]}>",
                },
            }
        ],
    }


def webhook_payload(alert: Alert) -> dict:
    return {**asdict(alert), "text": alert.text()}


def deliver(alert: Alert, destinations: dict[str, str]) -> list[str]:
    """POST the alert to each destination (``slack``/``webhook`` -> env var name holding the
    URL); returns the problems (empty when every set destination took it)."""
    problems = []
    for kind, env_var in destinations.items():
        url = os.environ.get(env_var, "").strip()
        if not url:
            continue
        body = slack_payload(alert) if kind == "slack" else webhook_payload(alert)
        try:
            _post(url, body)
        except urllib.error.HTTPError as err:
            problems.append(f"{kind} webhook ({env_var}) answered HTTP {err.code}")
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            problems.append(f"{kind} webhook ({env_var}) unreachable: {type(reason).__name__}")
    return problems


def set_destinations(destinations: dict[str, str]) -> list[str]:
    return [kind for kind, env_var in destinations.items() if os.environ.get(env_var, "").strip()]


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        response.read()

"""Headless Chromium driven through chromedriver's W3C WebDriver API, with the standard library.

Debian's ``chromium`` and ``chromium-driver`` packages (scripts/install-browser.sh) come from
one source build, so their versions always match. No Python package is needed: WebDriver is
JSON over HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stripe_customer_assets_tests.ops.support import free_port, service, wait_for, wait_for_port

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def find_browser() -> tuple[str, str]:
    """Paths of chromium and chromedriver. Missing: skip outside CI, fail in CI (where
    scripts/install-browser.sh must have installed them)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    message = "chromium and chromedriver are needed (bash scripts/install-browser.sh installs both)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Browser:
    """One WebDriver session."""

    def __init__(self, driver_url: str, session_id: str):
        self.driver_url = driver_url
        self.session_id = session_id

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout_s: float = 60
    ) -> Any:
        return webdriver_call(
            self.driver_url, method, f"/session/{self.session_id}{path}", body, timeout_s
        )

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def text(self) -> str:
        return self.run("return document.body ? document.body.innerText : '';") or ""

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call("DELETE", "", timeout_s=10)


def webdriver_call(
    driver_url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    timeout_s: float = 60,
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{driver_url}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            payload = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        raise AssertionError(
            f"WebDriver {method} {path}: {err.code} {err.read()[:2000]!r}"
        ) from None
    return payload.get("value")


@contextlib.contextmanager
def chromium(
    log_dir: Path, profile_dir: Path, width: int = 1600, height: int = 1000
) -> Iterator[Browser]:
    """Headless Chromium (a fresh profile in ``profile_dir``) behind a chromedriver on loopback."""
    binary, driver = find_browser()
    port = free_port()
    argv = [
        driver,
        f"--port={port}",
        "--allowed-ips=127.0.0.1",
        f"--log-path={log_dir / 'chromedriver-verbose.log'}",
    ]
    with service("chromedriver", argv, dict(os.environ), log_dir) as svc:
        wait_for_port(port, svc, timeout_s=30)
        driver_url = f"http://127.0.0.1:{port}"
        wait_for(
            "chromedriver to be ready",
            lambda: webdriver_call(driver_url, "GET", "/status", timeout_s=5)["ready"],
            timeout_s=30,
        )
        options = {
            "binary": binary,
            "args": [
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile_dir}",
                f"--window-size={width},{height}",
            ],
        }
        session = webdriver_call(
            driver_url,
            "POST",
            "/session",
            {
                "capabilities": {
                    "alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}
                }
            },
            timeout_s=60,
        )
        browser = Browser(driver_url, session["sessionId"])
        try:
            yield browser
        finally:
            browser.close()

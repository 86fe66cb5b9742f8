"""The connection test the README promises: `python -m stripe_customer_assets.check`."""

from __future__ import annotations

import subprocess
import sys

from stripe_customer_assets.check import main
from stripe_standin import STANDIN_API_KEY

RESTRICTED = "rk_test_checkonly000000000000000"


def run(monkeypatch, capsys, standin, key: str) -> tuple[int, str]:
    monkeypatch.setenv("STRIPE_API_KEY", key)
    monkeypatch.setenv("STRIPE_API_BASE", standin.base_url)
    code = main([])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_working_key_passes_every_read_and_writes_nothing(standin, monkeypatch, capsys):
    code, out = run(monkeypatch, capsys, standin, STANDIN_API_KEY)
    assert code == 0, out
    assert "ok    connection and key (balance read): GET /v1/balance answered (test mode)" in out
    assert "ok    customers read" in out and "ok    events read" in out
    assert "customers write: not tried" in out
    stats = standin.stats()
    assert stats["writes_applied"] == 0
    assert set(stats["requests_by_endpoint"]) == {"balance.retrieve", "customers.list", "events.list"}


def test_a_restricted_key_without_a_permission_names_it(standin, monkeypatch, capsys):
    standin.add_restricted_key(RESTRICTED, {"customers": "read", "balance": "read"})
    code, out = run(monkeypatch, capsys, standin, RESTRICTED)
    assert code == 1
    assert "ok    customers read" in out
    assert "FAIL  events read: The restricted key in STRIPE_API_KEY lacks the 'rak_event_read' permission" in out
    assert RESTRICTED not in out


def test_a_revoked_key_says_so_once(standin, monkeypatch, capsys):
    code, out = run(monkeypatch, capsys, standin, "sk_test_revoked00000000000000000")
    assert code == 1
    assert out.count("FAIL") == 1 and "Stripe rejected the API key in STRIPE_API_KEY (401" in out
    assert "sk_test_revoked00000000000000000" not in out


def test_it_runs_as_a_module(standin):
    done = subprocess.run(
        [sys.executable, "-m", "stripe_customer_assets.check"],
        env={"STRIPE_API_KEY": STANDIN_API_KEY + "\n", "STRIPE_API_BASE": standin.base_url},
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "connection and key (balance read)" in done.stdout

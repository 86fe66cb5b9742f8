"""README's `dg` commands, run as README says (the project's venv activated, from the repository
root), print no warning: dg warns when the project's .venv is not the active virtualenv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from stripe_customer_assets_tests.ops.support import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
VENV = Path(sys.executable).parents[1]
MISMATCH = "does not match the virtual environment found in the project"


def activated_env() -> dict[str, str]:
    """What `source .venv/bin/activate` sets, minus the developer's Dagster/Stripe settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "STRIPE_"))}
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = os.pathsep.join([str(VENV / "bin"), env.get("PATH", "")])
    return env


def test_readme_runs_dg_from_the_activated_venv():
    assert "source .venv/bin/activate" in README
    assert ".venv/bin/dg" not in README, "that form warns: the venv is not active"
    commands = set(re.findall(r"`(dg [a-z]+ [a-z]+|dg [a-z]+)", README))
    assert {"dg dev", "dg check defs", "dg list defs", "dg launch"} <= commands, commands


def test_dg_check_defs_prints_no_venv_warning():
    """One command stands for all: dg checks the venv when it builds its context, for every
    command (without the activation it prints the warning: `.venv/bin/dg check defs`)."""
    done = subprocess.run(
        ["dg", "check", "defs"],
        cwd=PROJECT_ROOT,
        env=activated_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert MISMATCH not in output and "warning" not in output.lower(), output[-3000:]
    assert "All definitions loaded successfully." in output

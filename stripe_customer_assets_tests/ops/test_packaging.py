"""What ships: the wheel and the production image hold the product, not the Stripe stand-in, the
tests or the benchmark, and declare the project's licence."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stripe_customer_assets_tests.ops.support import PROJECT_ROOT

PRODUCT = "stripe_customer_assets"
DEV_ONLY = ("stripe_standin", "stripe_customer_assets_tests", "bench")


def uv() -> str:
    """The uv the Makefile uses (it passes it as UV), else uv on PATH, else the bootstrapped one."""
    for candidate in (os.environ.get("UV"), shutil.which("uv"), ".tools/bin/uv"):
        if candidate and (PROJECT_ROOT / candidate).is_file():  # an absolute path stays as it is
            return str(PROJECT_ROOT / candidate)
    pytest.fail("uv not found: set UV, put uv on PATH, or run `make install` (it bootstraps .tools/bin/uv)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [uv(), "build", "--wheel", "--out-dir", str(out), str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"uv build --wheel failed:\n{done.stdout}\n{done.stderr}"
    (built,) = out.glob("*.whl")
    return built


def product_files() -> set[str]:
    """Every source and data file of the product package in the repository."""
    root = PROJECT_ROOT / PRODUCT
    return {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_holds_the_product_and_no_standin_tests_or_benchmark(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    top_levels = {name.split("/")[0] for name in names}
    assert top_levels == {PRODUCT, "stripe_customer_assets-0.1.0.dist-info"}, top_levels
    assert not [n for n in names if "standin" in n.lower()]
    assert not [n for n in names if n.startswith(DEV_ONLY) or "_tests/" in n or "conftest" in n]
    # Every module and defs file of the product is in it, the components and examples included.
    missing = product_files() - names
    assert not missing, f"the wheel lacks {sorted(missing)}"
    assert {
        f"{PRODUCT}/definitions.py",
        f"{PRODUCT}/components/stripe_import.py",
        f"{PRODUCT}/components/stripe_export.py",
        f"{PRODUCT}/defs/crm_export/defs.yaml",
    } <= names


def test_the_wheel_declares_the_apache_licence(wheel):
    archive = zipfile.ZipFile(wheel)
    metadata = archive.read("stripe_customer_assets-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    licence = archive.read("stripe_customer_assets-0.1.0.dist-info/licenses/LICENSE").decode()
    assert licence == (PROJECT_ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence


def test_the_product_loads_its_definitions_from_the_wheel_alone(wheel, tmp_path):
    """The image's shape: the wheel's contents in a venv below the project's pyproject.toml
    (Dagster's defs folder loader finds the project by it), the repository off sys.path. The
    definitions load, and the stand-in is neither imported nor importable."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", app / "pyproject.toml")
    site = app / ".venv" / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import sys\n"
        f"sys.path[:] = [p for p in sys.path if p not in ('', {str(PROJECT_ROOT)!r})]\n"
        f"sys.path.insert(0, {str(site)!r})\n"
        "import importlib.util\n"
        "from stripe_customer_assets.definitions import defs\n"
        "import stripe_customer_assets\n"
        "keys = sorted(k.to_user_string() for k in defs().resolve_asset_graph().get_all_asset_keys())\n"
        "print(stripe_customer_assets.__file__)\n"
        "print(keys)\n"
        "print('standin imported:', any('standin' in m for m in sys.modules))\n"
        "print('standin importable:', importlib.util.find_spec('stripe_standin') is not None)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PYTHONPATH"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith(str(site)), lines[0]
    assert "stripe/customers" in lines[1] and "crm_export_plan" in lines[1]
    assert lines[2:] == ["standin imported: False", "standin importable: False"]


def test_the_production_image_copies_the_product_only():
    dockerfile = (PROJECT_ROOT / "deploy" / "Dockerfile").read_text()
    copied = set()
    for line in dockerfile.splitlines():
        if line.startswith(("COPY", "ADD")):
            *sources, _dest = line.split()[1:]
            copied |= {s for s in sources if not s.startswith("--")}
    assert copied == {"pyproject.toml", "uv.lock", "README.md", "LICENSE", PRODUCT}, copied
    # The venv gets the wheel (not an editable install of the sources), and the sources go.
    assert re.search(r"uv sync --locked --no-dev --group deploy --no-editable", dockerfile)
    assert f"rm -rf {PRODUCT}" in dockerfile
    # The build context is the same allow-list, so nothing else can be copied by accident.
    rules = [
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    assert {rule[1:] for rule in rules if rule.startswith("!")} == copied

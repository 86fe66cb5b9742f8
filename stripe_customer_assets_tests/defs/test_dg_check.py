"""`dg check defs` as a user runs it, on a project whose defs.yaml has one mistake: the output
names the file, the line, the attribute and what would be valid.

Each case is a throwaway project (its own ``pyproject.toml`` and defs folder) using the two
components of this package, checked with this environment's ``dg``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stripe_customer_assets.pipeline.config import PipelineConfig

BIN = Path(sys.executable).parent

PYPROJECT = """
[project]
name = "broken-defs"
version = "0"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "broken_defs"
defs_module = "broken_defs.defs"
code_location_target_module = "broken_defs.definitions"
code_location_name = "broken_defs"
"""
DEFINITIONS = """
from pathlib import Path

import dagster as dg


@dg.definitions
def defs():
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""
IMPORT = """
type: stripe_customer_assets.StripeCustomerImport
attributes:
  name: eu_customers
  table: analytics.eu_customers
  filters:
    conditions:
      - {property: address.country, operator: is_one_of, value: [DE, FR]}
  transformation:
    mapping:
      email: lower(trim(email))
      country: address.country
  schema:
    email: string
    country: string
  schedule: "0 6 * * *"
"""
EXPORT = """
type: stripe_customer_assets.StripeCustomerExport
attributes:
  name: vip_export
  model: SELECT email, upper(name) AS name FROM analytics.eu_customers
  behavior: update_only
  key: {column: email, stripe_field: email}
  fields:
    name: name
  max_change_percent: 20
  schedule: "0 * * * *"
"""

CASES = [
    pytest.param(
        IMPORT,
        ("country: address.country", "country: address.countyr"),
        "transformation.mapping.country",
        "unknown field 'countyr' in 'address.countyr'; did you mean 'country'? address has: "
        "city, country, line1, line2, postal_code, state",
        id="typo-in-a-mapping-sub-path",
    ),
    pytest.param(
        IMPORT,
        ("operator: is_one_of", "operator: in"),
        "filters.conditions.0.operator",
        "Input should be 'is', 'is_not', 'contains', 'not_contains', 'starts_with', "
        "'ends_with', 'is_empty', 'is_not_empty', 'is_one_of', 'greater_than' or 'less_than'",
        id="unknown-operator",
    ),
    pytest.param(
        EXPORT,
        ('schedule: "0 * * * *"', 'schedule: "every hour"'),
        "schedule",
        "'every hour' is not a valid cron expression; use five fields (minute hour day month "
        "weekday), e.g. '0 * * * *'",
        id="bad-cron",
    ),
    pytest.param(
        EXPORT,
        ("max_change_percent: 20", "max_change_percent: twenty"),
        "max_change_percent",
        "Input should be a valid number",
        id="wrong-type",
    ),
    pytest.param(
        IMPORT,
        ('schedule: "0 6 * * *"', 'schedule: "0 6 * * *"\n  enabeld: false'),
        "enabeld",
        "unknown attribute 'enabeld'; did you mean 'enabled'? use one of: "
        + ", ".join(f.alias or name for name, f in PipelineConfig.model_fields.items()),
        id="unknown-attribute",
    ),
]


@pytest.mark.parametrize(("document", "change", "field", "valid"), CASES)
def test_dg_check_defs_names_file_line_field_and_what_is_valid(
    tmp_path, document, change, field, valid
):
    text = textwrap.dedent(document).lstrip().replace(*change)
    assert text != textwrap.dedent(document).lstrip()
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    package = tmp_path / "broken_defs"
    (package / "defs" / "broken").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    defs_yaml = package / "defs" / "broken" / "defs.yaml"
    defs_yaml.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if change[1].split("\n")[-1] in t)

    done = subprocess.run(
        [str(BIN / "dg"), "check", "defs", "--use-active-venv"],
        cwd=tmp_path,
        env={"PATH": str(BIN), "PYTHONPATH": str(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    placed = re.search(
        re.escape(f"attributes.{field} at {defs_yaml}:{line}`") + r"\n  (.*)", output
    )
    assert placed, output[-3000:]
    assert valid in placed.group(1)
    assert "1 validation error for " in output

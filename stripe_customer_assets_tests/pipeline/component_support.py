"""Loading import pipeline components from defs.yaml files, as `dg` does, in a sandbox project."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster.components.testing import create_defs_folder_sandbox

import stripe_customer_assets
from stripe_customer_assets.lib.keys import MIRROR_KEY
from stripe_customer_assets.resources import WarehouseResource

SHIPPED_DEFS = Path(stripe_customer_assets.__file__).parent / "defs"


@contextlib.contextmanager
def load_defs_yaml(
    yaml_text: str, folder: str = "pipeline", files: dict[str, str] | None = None
) -> Iterator[dg.Definitions]:
    """The definitions of one ``defs/<folder>/defs.yaml`` (and ``files`` beside it) in a
    throwaway project. Without ``files``, the Python files of the shipped ``defs/<folder>``
    come along (``python: .transform:...`` finds them)."""
    if files is None:
        files = {p.name: p.read_text() for p in (SHIPPED_DEFS / folder).glob("*.py")}
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.defs_folder_path / folder
        path.mkdir(parents=True)
        (path / "defs.yaml").write_text(yaml_text)
        for name, text in files.items():
            (path / name).write_text(text)
        with sandbox.build_all_defs() as defs:
            yield defs


@dg.asset(key=MIRROR_KEY)
def mirror_stand_in() -> None:
    """Stands for the mirror asset (seeded directly by the tests) so selections resolve."""


def with_warehouse(defs: dg.Definitions, url: str, mirror_schema: str) -> dg.Definitions:
    return dg.Definitions.merge(
        defs,
        dg.Definitions(
            assets=[mirror_stand_in],
            resources={"warehouse": WarehouseResource(url=url, mirror_schema=mirror_schema)},
        ),
    )

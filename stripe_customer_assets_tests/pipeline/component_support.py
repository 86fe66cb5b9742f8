"""Loading import pipeline components from defs.yaml files, as `dg` does, in a sandbox project."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dagster as dg
from dagster.components.testing import create_defs_folder_sandbox

from stripe_customer_assets.lib.keys import MIRROR_KEY
from stripe_customer_assets.resources import WarehouseResource


@contextlib.contextmanager
def load_defs_yaml(
    yaml_text: str, folder: str = "pipeline", files: dict[str, str] | None = None
) -> Iterator[dg.Definitions]:
    """The definitions of one ``defs/<folder>/defs.yaml`` (and ``files`` beside it) in a
    throwaway project."""
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.defs_folder_path / folder
        path.mkdir(parents=True)
        (path / "defs.yaml").write_text(yaml_text)
        for name, text in (files or {}).items():
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

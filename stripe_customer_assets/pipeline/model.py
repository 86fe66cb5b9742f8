"""The customer model: the typed properties a pipeline's table holds, one column each.

Besides the properties, every table has the key ``stripe_customer_id`` and the bookkeeping
columns ``_synced_at`` (when the row last changed), ``_mirror_version`` (the mirror version
of the customer it was built from) and ``_row_hash`` (to tell changed rows from unchanged).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stripe_customer_assets.pipeline.config import PropertySpec

KEY_COLUMN = "stripe_customer_id"
BOOKKEEPING_COLUMNS = ("_synced_at", "_mirror_version", "_row_hash")
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

_SQL_TYPES = {
    "duckdb": {
        "string": "VARCHAR",
        "integer": "BIGINT",
        "number": "DOUBLE",
        "boolean": "BOOLEAN",
        "timestamp": "TIMESTAMPTZ",
        "json": "JSON",
    },
    "postgresql": {
        "string": "TEXT",
        "integer": "BIGINT",
        "number": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "timestamp": "TIMESTAMPTZ",
        "json": "JSONB",
    },
}


@dataclass(frozen=True)
class ModelProperty:
    name: str
    type: str
    nullable: bool = True
    description: str | None = None

    def sql_type(self, dialect: str) -> str:
        return _SQL_TYPES[dialect][self.type]


@dataclass(frozen=True)
class CustomerModel:
    properties: tuple[ModelProperty, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.properties]

    def __contains__(self, name: object) -> bool:
        return name in self.names

    @property
    def columns(self) -> list[str]:
        return [KEY_COLUMN, *self.names, *BOOKKEEPING_COLUMNS]

    def signature(self) -> list[tuple[str, str, bool]]:
        """What the table's columns depend on (changes mean a new table)."""
        return [(p.name, p.type, p.nullable) for p in self.properties]


def build_model(properties: Mapping[str, PropertySpec]) -> CustomerModel:
    """The model from checked declarations (``PipelineConfig.properties``)."""
    return CustomerModel(
        tuple(
            ModelProperty(name, spec.type, spec.nullable, spec.description)
            for name, spec in properties.items()
        )
    )

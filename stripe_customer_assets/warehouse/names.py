"""Names that reach SQL: checked where the user sets them, quoted wherever they are used.

Every schema, table and column name the project puts into SQL text goes through
``quote_ident`` (a quoted identifier, inner quotes doubled), so no name can end the
identifier and become SQL. Names the user controls (``STRIPE_MIRROR_SCHEMA``, a pipeline's
``table``, an export's schemas) are also checked when they are read (``check_name``):
letters, digits and ``_``, starting with a letter or ``_``, at most 63 characters
(PostgreSQL cuts longer names short, so two long names could become one table). A bad name
is refused with a message naming the variable or YAML field that holds it.
"""

from __future__ import annotations

import re
from typing import Self

MAX_LENGTH = 63  # PostgreSQL's NAMEDATALEN - 1
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RULE = f"use letters, digits and '_', starting with a letter or '_', at most {MAX_LENGTH} characters"


class InvalidNameError(ValueError):
    """A name the user set cannot be used in SQL; the message names where it was set."""


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a plain SQL name, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "is empty" if name in ("", None) else f"{name!r} is not text"
    if len(name) > MAX_LENGTH:
        return f"{name!r} is {len(name)} characters long; {RULE}"
    if not _PLAIN.match(name):
        return f"{name!r} is not a plain SQL name; {RULE}"
    return None


def check_name(name: object, where: str) -> str:
    """``name`` when it is a plain SQL name; else InvalidNameError naming ``where``."""
    problem = name_problem(name)
    if problem:
        raise InvalidNameError(f"{where}: {problem}")
    return name  # type: ignore[return-value]


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier: ``a"b`` -> ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


class Table(str):
    """A table as SQL text, ``"schema"."name"`` (or ``"name"``), that also knows its parts.

    Every table the project reads or writes is named this way: each module has a function
    that returns its tables (``customers_table(schema)``, ``plan_table(config)``, ...), a
    name the user wrote is parsed once (``parse_table``), and what creates or looks for a
    table (``ddl.ensure_table``, ``ddl.table_exists``) takes the same value. Being a ``str``,
    it goes into SQL text as it is.
    """

    schema: str | None
    name: str

    def __new__(cls, schema: str | None, name: str) -> Self:
        text = f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)
        table = super().__new__(cls, text)
        table.schema = schema or None
        table.name = name
        return table

    def __getnewargs__(self) -> tuple[str | None, str]:  # type: ignore[override]
        return self.schema, self.name


def qualified(schema: str | None, name: str) -> Table:
    """``"schema"."name"`` (or ``"name"`` without a schema)."""
    return Table(schema, name)


def parse_table(name: str) -> Table:
    """A table the user named, ``schema.table`` or ``table`` (checked: ``split_qualified``)."""
    return Table(*split_qualified(name))


def split_qualified(name: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table`` (parts may be written in double quotes), each part checked."""
    if not isinstance(name, str):
        raise InvalidNameError(f"invalid table name {name!r}: expected 'table' or 'schema.table'")
    parts = [p.strip() for p in name.split(".")]
    parts = [p[1:-1] if len(p) >= 2 and p[0] == p[-1] == '"' else p for p in parts]
    if not 1 <= len(parts) <= 2:
        raise InvalidNameError(f"invalid table name {name!r}: expected 'table' or 'schema.table'")
    for part in parts:
        problem = name_problem(part)
        if problem:
            raise InvalidNameError(f"invalid table name {name!r}: {problem}")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])

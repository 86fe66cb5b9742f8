"""U+0000 on PostgreSQL: kept as its JSON escape, the six characters ``\\u0000``.

PostgreSQL's ``text`` and ``jsonb`` cannot hold the NUL character: ``COPY`` refuses the byte
and ``'"\\u0000"'::jsonb`` fails with "unsupported Unicode escape sequence". Stripe takes the
character in names and metadata values, so one customer holding it must not stop a write.
On PostgreSQL every bulk write (``COPY``) therefore stores it as the text ``\\u0000``: in a
text column the character becomes those six characters; in a JSON column the escape becomes
an escaped backslash followed by ``u0000`` (the same string the mirror derives in SQL,
``mirror.table.pg_jsonb``). DuckDB stores the character as it is and is left alone.

The replacement is one-way: a value that really was the six characters ``\\u0000`` reads the
same afterwards.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import pyarrow as pa

NUL = "\x00"
NUL_TEXT = "\\u0000"
# A JSON ``\u0000`` escape: after an even number of backslashes (an odd number makes it text).
# The same pattern and replacement serve PostgreSQL's regexp_replace and Python's re.
JSON_NUL_ESCAPE = r"(?<!\\)((?:\\\\)*)\\u0000"
JSON_NUL_REPLACEMENT = r"\1\\\\u0000"
_JSON_NUL = re.compile(JSON_NUL_ESCAPE)
# PostgreSQL type OIDs of json and jsonb.
_JSON_OIDS = {114, 3802}


def escape_text(value: str) -> str:
    """A text value PostgreSQL can hold: each NUL character as the six characters ``\\u0000``."""
    return value.replace(NUL, NUL_TEXT) if NUL in value else value


def escape_json_text(value: str) -> str:
    """JSON text PostgreSQL can cast to jsonb: each ``\\u0000`` escape kept as text."""
    if NUL_TEXT not in value:
        return escape_text(value)
    return _JSON_NUL.sub(JSON_NUL_REPLACEMENT, escape_text(value))


def json_columns(conn: Connection, table_sql: str) -> set[str]:
    """The json / jsonb columns of ``table_sql`` (PostgreSQL)."""
    cursor = conn.exec_driver_sql(f"SELECT * FROM {table_sql} LIMIT 0").cursor
    return {column.name for column in cursor.description if column.type_code in _JSON_OIDS}


def _has(column: pa.ChunkedArray | pa.Array, text: str) -> bool:
    import pyarrow.compute as pc
    return bool(pc.any(pc.match_substring(column, text)).as_py())


def arrow_for_postgres(conn: Connection, table_sql: str, table: pa.Table) -> pa.Table:
    """``table`` with every NUL stored as ``\\u0000`` (see the module); unchanged without one."""
    import pyarrow as pa
    import pyarrow.compute as pc
    json_cols: set[str] | None = None
    for index, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(index)
        raw, escaped = _has(column, NUL), _has(column, NUL_TEXT)
        if not raw and not escaped:
            continue
        if escaped and json_cols is None:
            json_cols = json_columns(conn, table_sql)
        if escaped and field.name in (json_cols or set()):
            values = [None if v is None else escape_json_text(v) for v in column.to_pylist()]
            table = table.set_column(index, field, pa.array(values, field.type))
        elif raw:
            table = table.set_column(index, field, pc.replace_substring(column, NUL, NUL_TEXT))
    return table


def frame_value_for_postgres(value: object, is_json: bool) -> object:
    """One value of a mixed (non-Arrow) column, as ``arrow_for_postgres`` would write it."""
    if not isinstance(value, str):
        return value
    return escape_json_text(value) if is_json else escape_text(value)

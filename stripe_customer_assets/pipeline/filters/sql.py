"""Filters compiled to one parameterized SQL boolean over the mirror, per dialect.

Every value is a bound parameter (never spliced into the SQL), cast to its SQL type.
JSON paths are bound too: DuckDB ``json_extract_string(col, '$."metadata"."plan"')``,
PostgreSQL ``col #>> '{plan}'``. A missing value never matches a positive operator;
the negative ones (``is_not``, ``not_contains``, ``is_not_empty``) match it, except
``is_not_empty`` which by definition does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_customer_assets.pipeline.config import Condition, FilterGroup
from stripe_customer_assets.pipeline.filters.operands import Operand, operands_for
from stripe_customer_assets.pipeline.properties import CustomerPath, parse_path
from stripe_customer_assets.warehouse.names import quote_ident

SQL_TYPES = {
    "text": "VARCHAR",
    "number": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
}
# A decimal number as JSON or metadata text holds it: what may be cast to a number.
NUMBER_PATTERN = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


@dataclass(frozen=True)
class SqlFilter:
    """A boolean SQL expression over the mirror alias and its bound parameters."""

    sql: str
    params: dict[str, Any]


def compile_filter(group: FilterGroup | None, dialect: str, alias: str = "m") -> SqlFilter:
    """The filter as SQL for ``dialect`` ('duckdb' or 'postgresql'); no filter is TRUE."""
    if group is None or not group.conditions:
        return SqlFilter("TRUE", {})
    compiler = _Compiler(dialect, alias)
    return SqlFilter(compiler.group(group), compiler.params)


class _Compiler:
    def __init__(self, dialect: str, alias: str):
        if dialect not in ("duckdb", "postgresql"):
            raise ValueError(f"filters are not implemented for the {dialect} dialect")
        self.dialect = dialect
        self.alias = alias
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def group(self, group: FilterGroup) -> str:
        joiner = " AND " if group.match == "all" else " OR "
        parts = [
            self.group(item) if isinstance(item, FilterGroup) else self.condition(item)
            for item in group.conditions
        ]
        return "(" + joiner.join(parts) + ")"

    def condition(self, condition: Condition) -> str:
        path = parse_path(condition.property)
        operands = operands_for(path, condition.operator, condition.value)
        sql = self._predicate(path, condition.operator, operands, condition.ignore_case)
        return f"COALESCE({sql}, FALSE)"

    def _predicate(
        self, path: CustomerPath, op: str, operands: list[Operand], ignore_case: bool
    ) -> str:
        if op == "is_not":
            return f"NOT COALESCE({self._predicate(path, 'is', operands, ignore_case)}, FALSE)"
        if op == "not_contains":
            return (
                f"NOT COALESCE({self._predicate(path, 'contains', operands, ignore_case)}, FALSE)"
            )
        if op == "is_not_empty":
            return f"NOT {self._empty(path)}"
        if op == "is_empty":
            return self._empty(path)
        if op == "is_one_of":
            return self._one_of(path, operands, ignore_case)
        operand = operands[0]
        left = self._side(path, operand, ignore_case)
        right = self._operand(operand, ignore_case)
        if op == "is":
            return f"{left} = {right}"
        if op == "contains":
            return f"strpos({left}, {right}) > 0"
        if op == "starts_with":
            return f"starts_with({left}, {right})"
        if op == "ends_with":
            return f"right({left}, length({right})) = {right}"
        if op in ("greater_than", "less_than"):
            sign = ">" if op == "greater_than" else "<"
            if operand.kind == "text" and self.dialect == "postgresql":
                left = f'{left} COLLATE "C"'  # byte order, as DuckDB compares
            return f"{left} {sign} {right}"
        raise ValueError(f"unknown operator '{op}'")

    def _one_of(self, path: CustomerPath, operands: list[Operand], ignore_case: bool) -> str:
        by_kind: dict[str, list[Operand]] = {}
        for operand in operands:
            by_kind.setdefault(operand.kind, []).append(operand)
        parts = []
        for same_kind in by_kind.values():
            left = self._side(path, same_kind[0], ignore_case)
            values = ", ".join(self._operand(o, ignore_case) for o in same_kind)
            parts.append(f"{left} IN ({values})")
        return "(" + " OR ".join(parts) + ")"

    def _empty(self, path: CustomerPath) -> str:
        value = self.value(path)
        if path.kind == "json":
            return f"({value} IS NULL OR {value} IN ('', '{{}}', '[]'))"
        if path.kind == "text":
            return f"({value} IS NULL OR {value} = '')"
        return f"({value} IS NULL)"

    def _side(self, path: CustomerPath, operand: Operand, ignore_case: bool) -> str:
        """The property as SQL, in the operand's type."""
        value = self.value(path)
        if operand.kind == "number":
            return (
                self._number(value) if path.kind == "json" else f"CAST({value} AS DOUBLE PRECISION)"
            )
        if operand.kind == "text" and ignore_case:
            return f"lower({value})"
        return value

    def _operand(self, operand: Operand, ignore_case: bool) -> str:
        value = operand.value
        if operand.kind == "text" and ignore_case:
            value = str(value).lower()
        return f"CAST({self.bind(value)} AS {SQL_TYPES[operand.kind]})"

    def value(self, path: CustomerPath) -> str:
        """The property as SQL: a typed column, or text extracted from a JSON column."""
        column = f"{self.alias}.{quote_ident(path.column)}"
        if not path.json_path:
            return column
        if self.dialect == "duckdb":
            return f"json_extract_string({column}, CAST({self.bind(_duckdb_path(path.json_path))} AS VARCHAR))"
        return f"({column} #>> CAST({self.bind([str(s) for s in path.json_path])} AS TEXT[]))"

    def _number(self, text_sql: str) -> str:
        pattern = f"'{NUMBER_PATTERN}'"  # a constant of this module, not user data
        if self.dialect == "duckdb":
            return f"(CASE WHEN regexp_full_match({text_sql}, {pattern}) THEN TRY_CAST({text_sql} AS DOUBLE) END)"
        return f"(CASE WHEN {text_sql} ~ {pattern} THEN CAST({text_sql} AS DOUBLE PRECISION) END)"


def _duckdb_path(segments: tuple[str | int, ...]) -> str:
    out = "$"
    for segment in segments:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += '."' + segment.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return out

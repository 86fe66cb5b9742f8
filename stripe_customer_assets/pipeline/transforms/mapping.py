"""A pipeline's mapping: model property -> expression over the Stripe customer, checked once.

A string value is an expression (``email``, ``lower(trim(email))``,
``concat(name, " <", email, ">")``); any other YAML scalar is a constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_customer_assets.pipeline.properties import CustomerPath, lookup, path_from_segments
from stripe_customer_assets.pipeline.transforms.mapping_functions import FUNCTIONS, MappingError
from stripe_customer_assets.pipeline.transforms.mapping_parse import (
    Call,
    Expression,
    Literal,
    PathRef,
    parse_expression,
)


@dataclass(frozen=True)
class CompiledExpression:
    source: Any
    tree: Expression
    paths: dict[PathRef, CustomerPath]

    def evaluate(self, customer: dict[str, Any]) -> Any:
        return _evaluate(self.tree, customer, self.paths)


def compile_expression(source: Any) -> CompiledExpression:
    """Parse and check an expression; raises ValueError naming the problem."""
    if not isinstance(source, str):
        return CompiledExpression(source, Literal(source), {})
    tree = parse_expression(source)
    paths: dict[PathRef, CustomerPath] = {}
    _check(tree, paths)
    return CompiledExpression(source, tree, paths)


def _check(node: Expression, paths: dict[PathRef, CustomerPath]) -> None:
    if isinstance(node, PathRef):
        paths[node] = path_from_segments(list(node.segments), node.text)
    elif isinstance(node, Call):
        function = FUNCTIONS.get(node.name)
        if function is None:
            raise ValueError(f"unknown function '{node.name}'; use one of {', '.join(FUNCTIONS)}")
        count = len(node.args)
        if count < function.min_args or (
            function.max_args is not None and count > function.max_args
        ):
            raise ValueError(
                f"{node.name}() takes {_arity(function.min_args, function.max_args)}; usage: {function.usage}"
            )
        for arg in node.args:
            _check(arg, paths)


def _arity(low: int, high: int | None) -> str:
    if high is None:
        return f"{low} or more arguments"
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def _evaluate(
    node: Expression, customer: dict[str, Any], paths: dict[PathRef, CustomerPath]
) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, PathRef):
        return lookup(customer, paths[node])
    args = [_evaluate(arg, customer, paths) for arg in node.args]
    try:
        return FUNCTIONS[node.name].call(*args)
    except MappingError:
        raise
    except (TypeError, ValueError, OverflowError) as err:
        raise MappingError(f"{node.name}(): {err}") from None

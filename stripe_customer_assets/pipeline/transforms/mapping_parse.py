"""The mapping expression language: parse ``lower(trim(email))`` into a small tree.

    expression := literal | path | function "(" [expression ("," expression)*] ")"
    path       := name ("." (name | digits | quoted))*      e.g. address.country, metadata."my key"
    literal    := "text" | 'text' | number | true | false | null

A name followed by ``(`` is a function call; otherwise it is a customer path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_NUMBER = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_SEGMENT = re.compile(r"[A-Za-z0-9_\-]+")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class PathRef:
    segments: tuple[str, ...]

    @property
    def text(self) -> str:
        return ".".join(self.segments)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expression, ...]


Expression = Literal | PathRef | Call


class MappingSyntaxError(ValueError):
    pass


def parse_expression(text: str) -> Expression:
    parser = _Parser(text)
    expr = parser.expression()
    parser.skip_space()
    if parser.pos != len(text):
        parser.fail("unexpected text")
    return expr


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> None:
        shown = self.text[self.pos : self.pos + 20] or "end of expression"
        raise MappingSyntaxError(f"{what} at position {self.pos + 1} ('{shown}') in '{self.text}'")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expression(self) -> Expression:
        char = self.peek()
        if char in ("'", '"'):
            return Literal(self.string())
        if char and (char.isdigit() or char in "-."):
            match = _NUMBER.match(self.text, self.pos)
            if not match:
                self.fail("expected a number")
            self.pos = match.end()
            number = match.group(0)
            return Literal(float(number) if any(c in number for c in ".eE") else int(number))
        match = _NAME.match(self.text, self.pos)
        if not match:
            self.fail("expected a path, a function call or a literal")
        name = match.group(0)
        self.pos = match.end()
        if self.peek() == "(":
            return self.call(name)
        if name in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[name])
        return self.path(name)

    def call(self, name: str) -> Call:
        self.pos += 1  # "("
        args: list[Expression] = []
        if self.peek() == ")":
            self.pos += 1
            return Call(name, ())
        while True:
            args.append(self.expression())
            char = self.peek()
            self.pos += 1
            if char == ")":
                return Call(name, tuple(args))
            if char != ",":
                self.pos -= 1
                self.fail(f"expected ',' or ')' in {name}(...)")

    def path(self, head: str) -> PathRef:
        segments = [head]
        while self.pos < len(self.text) and self.text[self.pos] == ".":
            self.pos += 1
            if self.pos < len(self.text) and self.text[self.pos] in ("'", '"'):
                segments.append(self.string())
                continue
            match = _SEGMENT.match(self.text, self.pos)
            if not match:
                self.fail("expected a field name after '.'")
            segments.append(match.group(0))
            self.pos = match.end()
        return PathRef(tuple(segments))

    def string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(_ESCAPES.get(self.text[self.pos + 1], self.text[self.pos + 1]))
                self.pos += 2
                continue
            self.pos += 1
            if char == quote:
                return "".join(out)
            out.append(char)
        self.fail("unterminated string")
        raise AssertionError  # unreachable

"""Stripe-style form encoding: ``metadata[plan]=pro``, ``address[line1]=..``, ``types[]=a``,
``types[0]=a``, ``created[gte]=1``, ``shipping[address][city]=..``.

``parse_form`` turns a query string or an ``application/x-www-form-urlencoded`` body into nested
dicts. ``key[]`` appends to a list; ``key[0]`` produces a dict with the key ``"0"``: whether that
is a list index or a hash key (``metadata[0]``) is decided later by the parameter's schema
(see ``params.coerce``), the same way Stripe's API decides it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode


class FormError(ValueError):
    """A malformed parameter name or conflicting parameter shapes."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.message = message
        self.param = param


def split_key(key: str) -> list[str]:
    """``'a[b][]'`` -> ``['a', 'b', '']``; brackets nested inside a segment stay in it
    (``'metadata[a[b]]'`` -> ``['metadata', 'a[b]']``)."""
    i = key.find("[")
    if i <= 0:
        if i == 0:
            raise FormError(f"Invalid parameter name: {key}", key)
        return [key]
    parts = [key[:i]]
    n = len(key)
    while i < n:
        if key[i] != "[":
            raise FormError(f"Invalid parameter name: {key}", key)
        depth = 0
        j = i
        while j < n:
            c = key[j]
            if c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= n:
            raise FormError(f"Invalid parameter name: {key}", key)
        parts.append(key[i + 1 : j])
        i = j + 1
    return parts


def _display(parts: list[str]) -> str:
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = split_key(key)
        node: Any = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            nxt = parts[depth + 1] if not last else None
            if isinstance(node, list):
                # "a[][b]" style: each new object starts when its first key repeats
                if part != "":
                    raise FormError(
                        f"Invalid array: {_display(parts[:depth])}", _display(parts[:depth])
                    )
                if last:
                    node.append(value)
                    break
                if nxt == "":
                    raise FormError(f"Invalid array: {_display(parts)}", _display(parts))
                if not node or not isinstance(node[-1], dict) or nxt in node[-1]:
                    node.append({})
                node = node[-1]
                continue
            if last:
                if part in node and isinstance(node[part], (dict, list)):
                    raise FormError(
                        f"Invalid {_display(parts)}: cannot be both a hash and a value",
                        _display(parts),
                    )
                node[part] = value
                break
            want_list = nxt == ""
            child = node.get(part)
            if child is None:
                child = [] if want_list else {}
                node[part] = child
            elif want_list and not isinstance(child, list):
                raise FormError(
                    f"Invalid array: {_display(parts[: depth + 1])}", _display(parts[: depth + 1])
                )
            elif not want_list and not isinstance(child, dict):
                raise FormError(
                    f"Invalid hash: {_display(parts[: depth + 1])}", _display(parts[: depth + 1])
                )
            node = child
    return root


def parse_form(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not text:
        return {}
    return parse_pairs(parse_qsl(text, keep_blank_values=True, errors="replace"))


def _encode(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _encode(f"{prefix}[{k}]", v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _encode(f"{prefix}[{i}]", v, out)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    else:
        out.append((prefix, str(value)))


def encode_form(params: dict[str, Any]) -> str:
    """Encode like stripe-python (indexed arrays, nested hashes, None dropped)."""
    out: list[tuple[str, str]] = []
    for k, v in params.items():
        _encode(k, v, out)
    return urlencode(out).replace("%5B", "[").replace("%5D", "]")

"""A small validator for the OpenAPI 3.0 schema subset Stripe's spec uses for responses:
``$ref``, ``type``, ``properties``, ``required``, ``nullable``, ``anyOf`` / ``oneOf``, ``enum``,
``items``, ``additionalProperties``, ``maxLength`` and ``pattern``.

``strict=True`` also reports properties an object schema does not declare (the stand-in should
not invent fields). Used by the conformance tests; usable on any Stripe JSON.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


class SchemaValidator:
    def __init__(self, spec: dict[str, Any], *, strict: bool = False):
        self.spec = spec
        self.schemas: dict[str, Any] = spec["components"]["schemas"]
        self.strict = strict
        self._patterns: dict[str, re.Pattern[str]] = {}

    # ------------------------------------------------------------------ entry points
    def component(self, name: str) -> dict[str, Any]:
        return self.schemas[name]

    def validate_component(self, instance: Any, name: str) -> list[str]:
        return self.validate(instance, {"$ref": f"#/components/schemas/{name}"}, name)

    def response_schema(self, path: str, method: str, status: int = 200) -> dict[str, Any]:
        responses = self.spec["paths"][path][method.lower()]["responses"]
        resp = responses.get(str(status)) or responses["default"]
        return resp["content"]["application/json"]["schema"]

    def validate_response(
        self, instance: Any, path: str, method: str, status: int = 200
    ) -> list[str]:
        return self.validate(
            instance, self.response_schema(path, method, status), f"{method.upper()} {path}"
        )

    # ------------------------------------------------------------------ core
    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/components/schemas/"):
                raise ValueError(f"unsupported $ref {ref}")
            schema = self.schemas[ref.rsplit("/", 1)[1]]
        return schema

    def validate(self, instance: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
        errors: list[str] = []
        self._check(instance, schema, path, errors)
        return errors

    def _check(self, inst: Any, schema: dict[str, Any], path: str, errors: list[str]) -> None:
        schema = self.resolve(schema)
        if inst is None:
            if not schema.get("nullable", False):
                errors.append(f"{path}: null but not nullable")
            return
        for key in ("anyOf", "oneOf"):
            if key in schema:
                results = []
                for alt in schema[key]:
                    alt_errors: list[str] = []
                    self._check(inst, alt, path, alt_errors)
                    results.append(alt_errors)
                ok = sum(1 for r in results if not r)
                if key == "anyOf" and ok == 0:
                    best = min(results, key=len)
                    errors.append(f"{path}: matches no anyOf branch ({'; '.join(best[:3])})")
                    return
                if key == "oneOf" and ok != 1:
                    errors.append(f"{path}: matches {ok} oneOf branches, expected 1")
                    return
        if "enum" in schema and inst not in schema["enum"]:
            errors.append(f"{path}: {inst!r} not in enum {schema['enum']}")
        typ = schema.get("type")
        if typ is not None:
            check = _TYPES.get(typ)
            if check is None:
                errors.append(f"{path}: unsupported type {typ}")
                return
            if not check(inst):
                errors.append(f"{path}: expected {typ}, got {type(inst).__name__} {inst!r:.60}")
                return
        if isinstance(inst, str):
            max_len = schema.get("maxLength")
            if max_len is not None and len(inst) > max_len:
                errors.append(f"{path}: longer than maxLength {max_len}")
            pattern = schema.get("pattern")
            if pattern is not None:
                rx = self._patterns.get(pattern)
                if rx is None:
                    rx = self._patterns[pattern] = re.compile(pattern)
                if not rx.search(inst):
                    errors.append(f"{path}: {inst!r} does not match {pattern}")
        if isinstance(inst, list) and "items" in schema:
            for i, item in enumerate(inst):
                self._check(item, schema["items"], f"{path}[{i}]", errors)
        if isinstance(inst, dict) and (
            typ == "object" or "properties" in schema or "additionalProperties" in schema
        ):
            props = schema.get("properties", {})
            for req in schema.get("required", []):
                if req not in inst:
                    errors.append(f"{path}: missing required property {req!r}")
            addl = schema.get("additionalProperties")
            for k, v in inst.items():
                if k in props:
                    self._check(v, props[k], f"{path}.{k}", errors)
                elif isinstance(addl, dict):
                    self._check(v, addl, f"{path}.{k}", errors)
                elif addl is False or (self.strict and "properties" in schema and addl is None):
                    errors.append(f"{path}: unexpected property {k!r}")

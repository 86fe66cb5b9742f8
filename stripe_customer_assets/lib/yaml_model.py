"""Components whose attributes are one pydantic model, checked in one pass at load.

``StripeCustomerImport`` subclasses ``PipelineConfig`` and ``StripeCustomerExport``
subclasses ``ExportConfig``: the configuration model is the component and its YAML schema.
Dagster's own derivation (``Resolvable.model()``) would check the nested attributes first and
the rest after template rendering, in two rounds; here ``model()`` accepts any mapping
(carrying the configuration's JSON schema for editors and ``dg check yaml``), and
``resolve_from_model`` renders templates (``{{ env.X }}``, anywhere) and validates the
whole configuration once. Every problem of a file is then listed together, in file order,
each at its attribute's file and line, placed by Dagster's
``enrich_validation_errors_with_source_position``.

Validation context: ``defs_module`` (the package of the defs.yaml's folder, for
``python: .module:function``) and ``defs_dir`` (that folder, for ``model_file``).
"""

from __future__ import annotations

import functools
from typing import Any, Self

import dagster as dg
from dagster._utils.pydantic_yaml import enrich_validation_errors_with_source_position
from dagster_shared.yaml_utils.source_position import SourcePositionTree
from pydantic import BaseModel, ConfigDict, ValidationError


class YamlModelComponent(dg.Component, dg.Resolvable):
    """Mix in before the configuration model: ``class C(YamlModelComponent, Config)``."""

    @classmethod
    def model(cls) -> type[BaseModel]:
        return _attributes_model(cls)

    @classmethod
    def resolve_from_model(cls, context: dg.ResolutionContext, model: BaseModel) -> Self:
        rendered = context.resolve_value(model.model_dump(exclude_unset=True))
        load_context = dg.ComponentLoadContext.from_resolution_context(context)
        validation_context = {
            "defs_module": load_context.defs_relative_module_name(load_context.path),
            "defs_dir": load_context.path,
        }
        tree = context.source_position_tree
        attributes = tree.children.get("attributes") if tree is not None else None
        if attributes is None:
            return cls.model_validate(rendered, context=validation_context)  # type: ignore[attr-defined]
        with enrich_validation_errors_with_source_position(attributes, ["attributes"]):
            try:
                return cls.model_validate(rendered, context=validation_context)  # type: ignore[attr-defined]
            except ValidationError as err:
                raise _in_file_order(err, attributes) from None


def _in_file_order(err: ValidationError, tree: SourcePositionTree) -> ValidationError:
    def line(error: Any) -> int:
        position, _ = tree.lookup_closest_and_path(list(error["loc"]), None)
        return position.start.line

    return ValidationError.from_exception_data(err.title, sorted(err.errors(), key=line))


@functools.cache
def _attributes_model(component: type[BaseModel]) -> type[BaseModel]:
    """Any mapping (checked later, in one pass), with the configuration's JSON schema: the
    attributes, their nesting and descriptions, for editors. Its value constraints are left
    to the load, whose messages say what would be valid (``dg check yaml`` would otherwise
    stop at the first file it checks with a terser one)."""

    class Attributes(BaseModel):
        model_config = ConfigDict(extra="allow")

        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            schema = _without_value_rules(component.model_json_schema(*args, **kwargs))
            for name, field in schema.get("properties", {}).items():
                if field.get("type") != "string":  # a template ({{ env.X }}) renders to the type
                    schema["properties"][name] = {
                        "anyOf": [field, {"type": "string"}],
                        "description": field.get("description", ""),
                    }
            return schema

    Attributes.__name__ = Attributes.__qualname__ = f"{component.__name__}Attributes"
    return Attributes


_VALUE_RULES = {
    "enum",
    "const",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "minLength",
}


def _without_value_rules(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_value_rules(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _without_value_rules(v) for k, v in node.items() if k not in _VALUE_RULES}
    if out.get("additionalProperties") is False:
        del out["additionalProperties"]
    if "enum" in node or "const" in node:
        out.setdefault("type", "string")
    return out

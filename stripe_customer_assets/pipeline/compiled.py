"""A pipeline ready to run: its model, compiled mapping, Python function, fingerprint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from stripe_customer_assets.pipeline.config import PipelineConfig
from stripe_customer_assets.pipeline.filters.sql import SqlFilter, compile_filter
from stripe_customer_assets.pipeline.filters.words import describe_filter
from stripe_customer_assets.pipeline.model import CustomerModel, build_model
from stripe_customer_assets.pipeline.transforms.javascript import JavaScriptTransform
from stripe_customer_assets.pipeline.transforms.mapping import (
    CompiledExpression,
    compile_expression,
)
from stripe_customer_assets.pipeline.transforms.python import CustomerFunction, code_fingerprint


@dataclass(frozen=True)
class Pipeline:
    config: PipelineConfig
    model: CustomerModel
    mapping: dict[str, CompiledExpression]
    python: CustomerFunction | None
    fingerprint: str
    source: str | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def table(self) -> str:
        return self.config.table

    def filter_sql(self, dialect: str, alias: str = "m") -> SqlFilter:
        return compile_filter(self.config.filters, dialect, alias)

    def filter_words(self) -> str:
        return describe_filter(self.config.filters)

    def javascript(self) -> JavaScriptTransform | None:
        """A fresh isolate for one run (None without a JavaScript transform)."""
        t = self.config.transformation
        if t.javascript is None:
            return None
        return JavaScriptTransform(
            t.javascript, t.javascript_timeout_ms, t.javascript_max_memory_mb
        )


def compile_pipeline(config: PipelineConfig, source: str | None = None) -> Pipeline:
    """The runnable form of a checked configuration (validating ``PipelineConfig`` checked it).

    ``source`` names the file the configuration came from, for the messages.
    """
    t = config.transformation
    python = t.function
    model = build_model(config.properties)
    return Pipeline(
        config=config,
        model=model,
        mapping={prop: compile_expression(expr) for prop, expr in t.mapping.items()},
        python=python,
        fingerprint=_fingerprint(config, model, python),
        source=source,
    )


def _fingerprint(
    config: PipelineConfig, model: CustomerModel, python: CustomerFunction | None
) -> str:
    """What the table's rows depend on; when it changes, the next run rebuilds the table."""
    t = config.transformation
    parts = {
        "filters": config.filters.model_dump() if config.filters else None,
        "mapping": t.mapping,
        "python": [t.python, code_fingerprint(python)] if python else None,
        "javascript": t.javascript,
        "model": model.signature(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]

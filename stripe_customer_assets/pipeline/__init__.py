"""Import pipelines: Stripe customers from the mirror, filtered and transformed into tables.

Plain Python (no Dagster): ``PipelineConfig`` is a pipeline's checked configuration (the
attributes of its defs.yaml), ``compile_pipeline(config)`` makes it runnable and
``run_pipeline(pipeline, warehouse)`` brings its table up to date. The Dagster component
that wraps them is ``stripe_customer_assets.components.stripe_import.StripeCustomerImport``.
"""

from stripe_customer_assets.pipeline.compiled import Pipeline, compile_pipeline
from stripe_customer_assets.pipeline.config import (
    Condition,
    FilterGroup,
    PipelineConfig,
    PropertySpec,
    Transformation,
)
from stripe_customer_assets.pipeline.errors import PipelineRunError
from stripe_customer_assets.pipeline.result import PipelineResult
from stripe_customer_assets.pipeline.run import run_pipeline

__all__ = [
    "Condition",
    "FilterGroup",
    "Pipeline",
    "PipelineConfig",
    "PipelineResult",
    "PipelineRunError",
    "PropertySpec",
    "Transformation",
    "compile_pipeline",
    "run_pipeline",
]

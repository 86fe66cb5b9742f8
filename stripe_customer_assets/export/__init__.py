"""Export syncs (reverse ETL): a warehouse model drives Stripe customers.

    ExportConfig (parse_config(attributes))                  (validated once, at load)
    make_plan(warehouse, config, ...)   -> Plan              (model + mirror, no Stripe calls)
    store_plan / load_plan                                   ("<state_schema>"."<sync>_plan")
    apply_plan(config, api, warehouse)  -> ApplyResult       (writes, state "<state_schema>"."<sync>")

Plain Python: the Dagster component in ``stripe_customer_assets.components.stripe_export`` wires it.
"""

from stripe_customer_assets.export.apply import ApplyResult, apply_plan
from stripe_customer_assets.export.config import ExportConfig, KeySpec, parse_config
from stripe_customer_assets.export.errors import (
    ExportAccessError,
    ExportError,
    ExportGuardError,
    ExportModelError,
    ExportPlanAgeError,
)
from stripe_customer_assets.export.guards import check_guards, guard_results
from stripe_customer_assets.export.plan import Plan, PlanEntry, PlanSummary, build_plan, make_plan
from stripe_customer_assets.export.plan_table import load_plan, plan_table, store_plan
from stripe_customer_assets.export.preview import markdown_preview
from stripe_customer_assets.export.state_table import read_state, sent_keys, state_table

__all__ = [
    "ApplyResult",
    "ExportAccessError",
    "ExportConfig",
    "ExportError",
    "ExportGuardError",
    "ExportModelError",
    "ExportPlanAgeError",
    "KeySpec",
    "Plan",
    "PlanEntry",
    "PlanSummary",
    "apply_plan",
    "build_plan",
    "check_guards",
    "guard_results",
    "load_plan",
    "make_plan",
    "markdown_preview",
    "parse_config",
    "plan_table",
    "read_state",
    "sent_keys",
    "state_table",
    "store_plan",
]

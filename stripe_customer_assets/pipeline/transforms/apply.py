"""From a Stripe customer to a typed row of the customer model, in a fixed order.

1. ``mapping``: each mapped property is its expression over the customer.
2. ``python``: ``function(customer)``; its dict is merged over the mapping.
3. ``javascript``: ``transform(customer)``; its object is merged over the above.
4. A property still unset takes the customer's top-level field of the same name
   (``email`` -> ``customer["email"]``), or null.
5. Every property is coerced to its type (``pipeline.coercion``).

Each step reads the Stripe customer itself (treat it as read-only); a later step wins on
the properties it returns. A function that returns None / null leaves the customer out
(as if the filter had excluded it). A failure at any step rejects the customer with the
reason; the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_customer_assets.pipeline.coercion import TypeMismatch, coerce
from stripe_customer_assets.pipeline.compiled import Pipeline
from stripe_customer_assets.pipeline.transforms.javascript import JavaScriptTransform, JsOutcome
from stripe_customer_assets.pipeline.transforms.mapping_functions import MappingError


@dataclass(frozen=True)
class Outcome:
    """What became of one customer: a typed row, a reject reason, or neither (left out)."""

    customer_id: str
    row: dict[str, Any] | None = None
    reject: str | None = None

    @property
    def skipped(self) -> bool:
        return self.row is None and self.reject is None


def transform_customers(
    pipeline: Pipeline, customers: list[dict[str, Any]], javascript: JavaScriptTransform | None
) -> list[Outcome]:
    js_results = javascript.run(customers) if javascript is not None else None
    return [
        transform_customer(pipeline, customer, js_results[i] if js_results is not None else None)
        for i, customer in enumerate(customers)
    ]


def transform_customer(
    pipeline: Pipeline, customer: dict[str, Any], js_result: JsOutcome | None = None
) -> Outcome:
    customer_id = str(customer.get("id"))
    model = pipeline.model
    same_name = {name: customer[name] for name in model.names if name in customer}
    row: dict[str, Any] = {}
    for prop, expression in pipeline.mapping.items():
        try:
            row[prop] = expression.evaluate(customer)
        except MappingError as err:
            return Outcome(customer_id, reject=f"mapping {prop}: {err}")
    if pipeline.python is not None:
        label = f"python {pipeline.config.transformation.python}"
        try:
            result = pipeline.python(customer)
        except Exception as err:  # noqa: BLE001 - user code: a failure rejects this customer only
            return Outcome(customer_id, reject=f"{label}: {type(err).__name__}: {err}")
        if result is None:
            return Outcome(customer_id)
        problem = _merge(row, result, model.names)
        if problem:
            return Outcome(customer_id, reject=f"{label}: {problem}")
    if js_result is not None:
        if not js_result.ok:
            return Outcome(customer_id, reject=f"javascript: {js_result.reason}")
        if js_result.value is None:
            return Outcome(customer_id)
        problem = _merge(row, js_result.value, model.names)
        if problem:
            return Outcome(customer_id, reject=f"javascript: {problem}")
    for name, value in same_name.items():
        row.setdefault(name, value)
    typed: dict[str, Any] = {}
    for prop in model.properties:
        try:
            typed[prop.name] = coerce(prop, row.get(prop.name))
        except TypeMismatch as err:
            return Outcome(customer_id, reject=str(err))
    return Outcome(customer_id, row=typed)


def _merge(row: dict[str, Any], result: Any, names: list[str]) -> str | None:
    if not isinstance(result, dict):
        return f"returned {type(result).__name__}; expected properties of the model (a dict/object) or None"
    unknown = [key for key in result if key not in names]
    if unknown:
        return (
            f"returned {', '.join(repr(k) for k in unknown)}, not in the schema "
            f"(properties: {', '.join(names)})"
        )
    row.update(result)
    return None

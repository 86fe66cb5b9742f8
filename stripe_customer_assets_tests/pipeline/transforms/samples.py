"""Python transforms the tests configure as ``stripe_customer_assets_tests.pipeline.transforms.samples:<name>``."""

from __future__ import annotations

from typing import Any

# The same logic as stripe_customer_assets.defs.pro_customers.transform:pro_customer, in JavaScript.
PRO_CUSTOMER_JS = """
function transform(customer) {
  let metadata = customer.metadata;
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) metadata = {};
  const email = customer.email;
  const region = metadata.region;
  return {
    email: (typeof email === "string" && email.trim()) ? email.trim().toLowerCase() : null,
    external_id: metadata.external_id ?? null,
    region: (typeof region === "string" && region) ? region.toUpperCase() : null,
  };
}
"""


def plan_from_python(customer: dict[str, Any]) -> dict[str, Any]:
    return {"plan": "python", "source": "python"}


def skip_starters(customer: dict[str, Any]) -> dict[str, Any] | None:
    if (customer.get("metadata") or {}).get("plan") == "starter":
        return None
    return {}


def fails_for_delinquent(customer: dict[str, Any]) -> dict[str, Any]:
    if customer.get("delinquent"):
        raise RuntimeError(f"cannot score {customer['id']}")
    return {"score": 1}


def returns_unknown_property(customer: dict[str, Any]) -> dict[str, Any]:
    return {"emial": customer.get("email")}


def with_nul(customer: dict[str, Any]) -> dict[str, Any]:
    """Values holding U+0000, and an error message holding it for one customer."""
    if customer["id"].endswith("3"):
        raise ValueError("bad\x00value")
    return {"label": "a\x00b", "extra": {"k": "v\x00", "list": ["\x00"]}}


# Flipped by tests: a transform that starts raising without any change to its configuration
# (a dependency broke, a lookup went away).
BROKEN = {"on": False}


def score_unless_broken(customer: dict[str, Any]) -> dict[str, Any]:
    """Raises for 9 customers in 10 while ``BROKEN["on"]``."""
    if BROKEN["on"] and not customer["id"].endswith("0"):
        raise RuntimeError(f"scoring service unavailable for {customer['id']}")
    return {"score": len(customer.get("name") or "")}

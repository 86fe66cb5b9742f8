"""The Python transform of the pipeline pro_customers (``python: .transform:pro_customer``).

A transform takes the Stripe customer (a dict, as Stripe returned it; treat it as read-only)
and returns model properties, or None to leave the customer out of the table.
"""

from __future__ import annotations

from typing import Any


def pro_customer(customer: dict[str, Any]) -> dict[str, Any] | None:
    """A pro customer's contact and CRM fields: normalized email, external id, region."""
    metadata = customer.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    email = customer.get("email")
    region = metadata.get("region")
    return {
        "email": email.strip().lower() if isinstance(email, str) and email.strip() else None,
        "external_id": metadata.get("external_id"),
        "region": region.upper() if isinstance(region, str) and region else None,
    }

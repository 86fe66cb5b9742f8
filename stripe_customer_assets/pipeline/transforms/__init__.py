"""Transformations: a Stripe customer to a typed row (mapping expressions, then Python, then JavaScript)."""

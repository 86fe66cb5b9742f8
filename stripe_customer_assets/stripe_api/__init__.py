"""Talking to Stripe: one rate limiter per account, retries with backoff, clear errors."""

from stripe_customer_assets.stripe_api.client import ApiStats, StripeApi
from stripe_customer_assets.stripe_api.errors import (
    StripeAccessError,
    StripeReplayedError,
    StripeRequestError,
)
from stripe_customer_assets.stripe_api.limiter import EndpointLimiters, RateLimiter

__all__ = [
    "ApiStats",
    "EndpointLimiters",
    "RateLimiter",
    "StripeAccessError",
    "StripeApi",
    "StripeReplayedError",
    "StripeRequestError",
]

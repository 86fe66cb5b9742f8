"""The Stripe customer mirror: full scan, incremental events, cursor."""

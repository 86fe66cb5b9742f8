"""The API key's shape, checked before any request, and messages scrubbed of key text.

A key read from a secret file often ends with a newline. Sent as is, ``requests`` refuses the
``Authorization`` header with an ``InvalidHeader`` error that quotes the header, key
included. So surrounding whitespace is stripped, and a key with anything but printable ASCII
inside is refused with a message naming the variable, never the value.
"""

from __future__ import annotations

import re

KEY_VARIABLE = "STRIPE_API_KEY"

# Any Stripe key or bearer token a message might quote (Stripe's own masked form,
# ``sk_test_****1234``, has no letters or digits right after the prefix and is left alone).
_KEY_TEXT = re.compile(r"\b((?:sk|rk|pk)_(?:test|live))_[A-Za-z0-9]+")
_BEARER = re.compile(r"(Bearer|Basic)\s+[^\s'\",)]+", re.IGNORECASE)


class ApiKeyError(ValueError):
    """The key is missing or cannot be a Stripe key; the message names the variable only."""


def clean_api_key(value: str | None, variable: str = KEY_VARIABLE) -> str:
    """``value`` without surrounding whitespace; ``ApiKeyError`` when it cannot be a key."""
    key = (value or "").strip()
    if not key:
        raise ApiKeyError(
            f"No Stripe API key: set the {variable} environment variable "
            "(a secret key sk_... or a restricted key rk_...)."
        )
    if any(not ("!" <= ch <= "~") for ch in key):
        raise ApiKeyError(
            f"The Stripe API key in {variable} contains spaces, line breaks or other characters "
            "a Stripe key never has (its value is not shown). Copy the key again from the "
            "Stripe dashboard (Developers > API keys) and set the variable without them."
        )
    return key


def scrub(message: str, *secrets: str) -> str:
    """``message`` with every given secret, key-like token and bearer credential removed."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, f"<{KEY_VARIABLE}>")
    message = _BEARER.sub(r"\1 <redacted>", message)
    return _KEY_TEXT.sub(r"\1_<redacted>", message)

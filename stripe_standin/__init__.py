"""A stateful stand-in for the parts of Stripe's API the project uses.

Stripe cannot be reached from development and CI machines, so the project runs against this
HTTP server, which behaves like Stripe (API version 2023-08-16, per Stripe's OpenAPI spec) for:

- ``/v1/customers`` (create, retrieve, update, delete, list with ``created`` / ``email``
  filters and cursors), ``/v1/events`` (list with ``type`` / ``types[]`` / ``created``, cursors,
  30-day retention; retrieve), ``/v1/balance``, ``/v1/test_helpers/test_clocks`` (customers on
  a test clock are listed only with ``test_clock``);
- API versions: events are rendered in the account's default version of their creation,
  answers in ``Stripe-Version`` (``versions.py``);
- many accounts: per-key accounts, Connect platforms whose key plus ``Stripe-Account`` /
  ``Stripe-Context`` reaches a connected account's own data, ``/v1/accounts``, rate limits
  and counters per account (``connect.py``, ``server_connect.py``);
- API keys (secret and restricted, 401 / 403 like Stripe), idempotency keys, Stripe's error
  envelope, unknown-parameter errors;
- rate limits and injected faults (429s of every kind, 5xx, connection resets before and after
  the write is applied, slow answers, broken JSON, malformed objects), latency, a movable clock.

In process::

    from stripe_standin import StripeStandin

    with StripeStandin(latency_read=0.3) as standin:
        standin.seed_customers(50, seed=1)
        client = standin.stripe_client()

As a process: ``python -m stripe_standin --port 12111 --seed-customers 50``
(prints the base URL on its first line of output).
"""

from .admin import StandinAdmin
from .app import DEFAULT_ACCOUNT_ID, PERMISSION_RESOURCES, STANDIN_API_KEY
from .errors import StripeError
from .faults import ALL_FAULTS, Fault
from .forms import encode_form, parse_form
from .seed import MALFORMED_KINDS
from .server import StripeStandin
from .spec import API_VERSION

__all__ = [
    "ALL_FAULTS",
    "API_VERSION",
    "DEFAULT_ACCOUNT_ID",
    "MALFORMED_KINDS",
    "PERMISSION_RESOURCES",
    "STANDIN_API_KEY",
    "Fault",
    "StandinAdmin",
    "StripeError",
    "StripeStandin",
    "encode_form",
    "parse_form",
]

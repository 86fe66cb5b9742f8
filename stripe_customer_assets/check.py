"""Connection test: does STRIPE_API_KEY reach the account, and may it read what the project reads?

    python -m stripe_customer_assets.check

Reads the balance (the cheapest call that proves the key works), then one customer and one
event (the mirror's two reads). Each line says ok, or what is missing: a restricted key
without a permission gets the permission's name (``rak_customer_read``, ...) from Stripe's
403. Customer write (exports) is not tried: testing it would write. Nothing is written, and
the key is never printed. Exit status 0 when every read works, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from stripe_customer_assets.stripe_api import StripeAccessError, StripeApi, StripeRequestError
from stripe_customer_assets.stripe_api.client import DEFAULT_API_BASE

# (what it proves, the request, who needs it)
READS = (
    ("connection and key (balance read)", "/v1/balance", {}, "the connection test"),
    ("customers read", "/v1/customers", {"limit": 1}, "the mirror and every export plan"),
    ("events read", "/v1/events", {"limit": 1}, "the mirror's incremental runs and the sensor"),
)


@dataclass(frozen=True)
class Line:
    what: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.what}: {self.detail}"


def check(api: StripeApi) -> list[Line]:
    """One line per read; stops after a 401 (the key itself is wrong: nothing else can work)."""
    lines = []
    for what, path, params, needed_by in READS:
        try:
            body = api.request("get", path, params)
        except StripeAccessError as err:
            lines.append(Line(what, False, f"{err} (needed by {needed_by})"))
            if "(401" in str(err):
                break
            continue
        except StripeRequestError as err:
            lines.append(Line(what, False, str(err)))
            continue
        mode = "live" if body.get("livemode") else "test"
        lines.append(Line(what, True, f"GET {path} answered ({mode} mode)"))
    lines.append(
        Line(
            "customers write",
            True,
            "not tried (it would write); exports need it: rak_customer_write on a restricted key",
        )
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args(argv)
    base = os.environ.get("STRIPE_API_BASE", DEFAULT_API_BASE)
    try:
        api = StripeApi(os.environ.get("STRIPE_API_KEY", ""), api_base=base, max_retries=2)
    except StripeAccessError as err:
        print(f"FAIL  {err}", file=sys.stderr)
        return 1
    print(f"Stripe at {base}")
    lines = check(api)
    for line in lines:
        print(line)
    return 0 if all(line.ok for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())

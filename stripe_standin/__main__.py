"""``python -m stripe_standin``: run the Stripe stand-in as a process.

The first line written to stdout is the base URL (``http://127.0.0.1:12111``), flushed, so a
parent process can wait for it. SIGINT / SIGTERM stop the server.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from .app import PERMISSION_RESOURCES, STANDIN_API_KEY
from .faults import ALL_FAULTS
from .server import StripeStandin


def _restricted(text: str) -> tuple[str, dict[str, str]]:
    key, sep, spec = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=resource:access[,resource:access]")
    perms = {}
    for item in filter(None, spec.split(",")):
        res, _, access = item.partition(":")
        if res not in PERMISSION_RESOURCES or access not in ("none", "read", "write"):
            raise argparse.ArgumentTypeError(
                f"bad permission {item!r}: resource in {PERMISSION_RESOURCES}, "
                "access in none/read/write"
            )
        perms[res] = access
    return key, perms


def _fault(text: str) -> tuple[str, float, int]:
    kind, sep, rest = text.partition("=")
    if not sep or kind not in ALL_FAULTS:
        raise argparse.ArgumentTypeError(
            f"expected KIND=RATE[:BURST] with KIND in {', '.join(ALL_FAULTS)}"
        )
    rate, _, burst = rest.partition(":")
    return kind, float(rate), int(burst or 1)


def _endpoint_limit(text: str) -> tuple[str, float]:
    name, sep, rate = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected ENDPOINT=RATE, e.g. customers.list=10")
    return name, float(rate)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stripe_standin",
        description="Run the stateful Stripe stand-in HTTP server.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"valid secret key (repeatable; default {STANDIN_API_KEY})",
    )
    p.add_argument(
        "--restricted-key",
        action="append",
        type=_restricted,
        default=[],
        metavar="KEY=RES:ACCESS[,..]",
        help="restricted key, e.g. rk_test_ro=customers:read,events:read",
    )
    p.add_argument("--account-id", default=None)
    p.add_argument(
        "--key-account",
        action="append",
        type=lambda item: tuple(item.split("=", 1)) if "=" in item else _bad_key_account(item),
        default=[],
        metavar="KEY=ACCOUNT",
        help="the account a key belongs to (repeatable; default the stand-in's account)",
    )
    p.add_argument(
        "--connected-accounts",
        type=int,
        default=0,
        metavar="N",
        help="make the platform account (--platform-account) a Connect platform with N "
        "connected accounts (reached with its key and a Stripe-Account / Stripe-Context header)",
    )
    p.add_argument(
        "--customers-per-account",
        type=int,
        default=0,
        metavar="M",
        help="seed M generated customers into each connected account",
    )
    p.add_argument(
        "--platform-account",
        default=None,
        metavar="ACCOUNT",
        help="the platform's account id (default the stand-in's account, key sk_test_standin)",
    )
    p.add_argument(
        "--connect-rate-limit-on",
        choices=("platform", "account"),
        default=None,
        help="requests for a connected account count against the platform's rate limits "
        "(default) or the connected account's own",
    )
    p.add_argument(
        "--seed-customers",
        type=int,
        default=0,
        metavar="N",
        help="insert N generated customers at start",
    )
    p.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="N",
        help="insert N generated customers (benchmark scale, up to millions)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for generated data and ids")
    p.add_argument(
        "--record-events",
        action="store_true",
        help="record customer.created events for seeded customers",
    )
    p.add_argument(
        "--span-days",
        type=float,
        default=730,
        help="seeded customers are created over this many days before now",
    )
    p.add_argument(
        "--latency-read",
        "--latency-list",
        type=float,
        default=0.0,
        dest="latency_read",
        metavar="SECONDS",
        help="sleep per GET request",
    )
    p.add_argument(
        "--latency-write",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="sleep per POST/DELETE request",
    )
    p.add_argument("--latency-jitter", type=float, default=0.0, metavar="FRACTION")
    p.add_argument(
        "--slow-seconds", type=float, default=5.0, help="extra delay of the 'slow' fault"
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="R",
        help="requests/s over all endpoints (429 global-rate past it)",
    )
    p.add_argument("--rate-limit-burst", type=float, default=None)
    p.add_argument(
        "--endpoint-rate-limit",
        type=float,
        default=None,
        metavar="R",
        help="requests/s per endpoint (429 endpoint-rate past it)",
    )
    p.add_argument(
        "--endpoint-limit",
        action="append",
        type=_endpoint_limit,
        default=[],
        metavar="ENDPOINT=R",
        help="per-endpoint rate, e.g. customers.list=10",
    )
    p.add_argument("--concurrency-limit", type=int, default=None)
    p.add_argument("--endpoint-concurrency-limit", type=int, default=None)
    p.add_argument("--retention-days", type=float, default=30.0)
    p.add_argument(
        "--api-version",
        default=None,
        help="the account's default API version (events are rendered in it; default 2023-08-16)",
    )
    p.add_argument(
        "--event-visibility-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="events are listed only U(0, S) seconds after their created time",
    )
    p.add_argument(
        "--event-order-shuffle",
        action="store_true",
        help="list events of the same second in a random order",
    )
    p.add_argument(
        "--fault",
        action="append",
        type=_fault,
        default=[],
        metavar="KIND=RATE[:BURST]",
        help=f"inject faults; KIND in {', '.join(ALL_FAULTS)}",
    )
    p.add_argument("--fault-seed", type=int, default=None)
    p.add_argument("--now", type=float, default=None, help="initial clock (unix seconds)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--write-spec-subset",
        nargs="?",
        const="",
        default=None,
        metavar="SPEC3_YAML",
        help="regenerate spec_subset.json from Stripe's spec3.yaml and exit",
    )
    return p


def _bad_key_account(item: str) -> tuple[str, str]:
    raise argparse.ArgumentTypeError(f"expected KEY=ACCOUNT (e.g. sk_live_x=acct_1Other), got {item!r}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.write_spec_subset is not None:
        from .spec import write_subset

        print(write_subset(args.write_spec_subset or None))
        return 0
    kwargs = {}
    if args.account_id:
        kwargs["account_id"] = args.account_id
    standin = StripeStandin(
        host=args.host,
        port=args.port,
        api_keys=args.api_keys or [STANDIN_API_KEY],
        restricted_keys=dict(args.restricted_key),
        key_accounts=dict(args.key_account),
        latency_read=args.latency_read,
        latency_write=args.latency_write,
        latency_jitter=args.latency_jitter,
        slow_seconds=args.slow_seconds,
        rate_limit=args.rate_limit,
        rate_limit_burst=args.rate_limit_burst,
        endpoint_rate_limit=args.endpoint_rate_limit,
        endpoint_rate_limits=dict(args.endpoint_limit),
        concurrency_limit=args.concurrency_limit,
        endpoint_concurrency_limit=args.endpoint_concurrency_limit,
        event_retention_days=args.retention_days,
        api_version=args.api_version,
        event_visibility_delay=args.event_visibility_delay,
        event_order_shuffle=args.event_order_shuffle,
        seed=args.seed,
        now=args.now,
        **kwargs,
    )
    if args.fault_seed is not None:
        standin.configure(fault_seed=args.fault_seed)
    for kind, rate, burst in args.fault:
        standin.set_fault_rate(kind, rate, burst=burst)
    n = args.seed_customers + args.scale
    t0 = time.perf_counter()
    if n:
        standin.seed_customers(
            n, args.seed, record_events=args.record_events, span_days=args.span_days
        )
    if args.connected_accounts or args.connect_rate_limit_on or args.platform_account:
        made = standin.create_platform(
            args.connected_accounts,
            account_id=args.platform_account,
            customers_per_account=args.customers_per_account,
            seed=args.seed,
            record_events=args.record_events,
            span_days=args.span_days,
            connect_rate_limit_on=args.connect_rate_limit_on,
        )
        n += len(made["accounts"]) * args.customers_per_account
    seeded_in = time.perf_counter() - t0

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = standin.start()
    print(url, flush=True)
    if not args.quiet:
        print(
            f"stripe stand-in: {url} key(s) {', '.join(standin.api_keys)}; "
            f"{n} customers seeded in {seeded_in:.2f}s"
            + (
                f" ({args.connected_accounts} connected accounts)" if args.connected_accounts else ""
            )
            + f"; admin API at {url}/_standin/",
            file=sys.stderr,
            flush=True,
        )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for the reliability suite: the fault mix, end-state comparisons, the report table."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stripe_customer_assets.mirror.cursor import Cursor, read_cursor
from stripe_customer_assets.mirror.table import customers_table, ensure_tables
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets_tests.export.support import mapped_values, model_values
from stripe_standin import Fault, StripeStandin
from stripe_standin.app import STANDIN_API_KEY

# Every transient fault Stripe (or the network in front of it) produces, mixed: (rate, burst).
# Rules are drawn in order and the first hit wins, so the share of faulted requests is a
# little under the sum of rate x burst; the suite measures and reports the real share.
FAULT_MIX: dict[str, tuple[float, int]] = {
    Fault.RATE_GLOBAL: (0.01, 2),
    Fault.RATE_ENDPOINT: (0.01, 2),
    Fault.CONCURRENCY_GLOBAL: (0.01, 2),
    Fault.CONCURRENCY_ENDPOINT: (0.01, 2),
    Fault.LOCK_TIMEOUT: (0.02, 1),
    Fault.HTTP_500: (0.02, 1),
    Fault.HTTP_502: (0.02, 1),
    Fault.HTTP_503: (0.01, 2),
    Fault.RESET_BEFORE: (0.02, 1),
    Fault.RESET_AFTER: (0.02, 1),
    Fault.SLOW: (0.01, 1),
    Fault.BAD_JSON: (0.015, 1),
}
# The client gives up on a request after CLIENT_TIMEOUT_S; a slow answer takes SLOW_SECONDS.
CLIENT_TIMEOUT_S = 1.0
SLOW_SECONDS = 2.0
# Short label per fault kind for the report table.
SHORT = {
    Fault.RATE_GLOBAL: "429g",
    Fault.RATE_ENDPOINT: "429e",
    Fault.CONCURRENCY_GLOBAL: "429gc",
    Fault.CONCURRENCY_ENDPOINT: "429ec",
    Fault.LOCK_TIMEOUT: "lock",
    Fault.HTTP_500: "500",
    Fault.HTTP_502: "502",
    Fault.HTTP_503: "503",
    Fault.RESET_BEFORE: "rst-b",
    Fault.RESET_AFTER: "rst-a",
    Fault.SLOW: "slow",
    Fault.BAD_JSON: "badjson",
}


def start_faults(standin: StripeStandin, seed: int = 0) -> None:
    """Turn the mixed fault rates on (every endpoint, every method) and zero the counters;
    ``seed`` fixes the sequence of fault draws."""
    standin.configure(slow_seconds=SLOW_SECONDS, fault_seed=seed)
    for kind, (rate, burst) in FAULT_MIX.items():
        standin.set_fault_rate(kind, rate, burst=burst)
    standin.reset_stats()


def stop_faults(standin: StripeStandin) -> dict[str, Any]:
    """Turn faults off; return the stand-in's counters for the faulted stretch."""
    stats = standin.stats()
    standin.clear_faults()
    return stats


class FaultedStretches:
    """Time and counters of the faulted parts of a scenario (setup runs without faults)::

    stretches = FaultedStretches(standin)
    with stretches.faults():
        refresh_mirror(...)
    """

    def __init__(self, standin: StripeStandin, seed: int):
        self.standin = standin
        self.seed = seed  # each stretch draws its faults from the next seed
        self.seconds = 0.0
        self.stats: dict[str, Any] = {
            "requests_total": 0,
            "faults_total": 0,
            "faults": Counter(),
            "writes_by_endpoint": Counter(),
        }

    @contextlib.contextmanager
    def faults(self) -> Iterator[None]:
        self.seed += 1
        start_faults(self.standin, self.seed)
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds += time.monotonic() - started
            stats = stop_faults(self.standin)
            for key in ("requests_total", "faults_total"):
                self.stats[key] += stats[key]
            for key in ("faults", "writes_by_endpoint"):
                self.stats[key].update(stats[key])


def faulty_api(standin: StripeStandin, **kwargs: Any) -> StripeApi:
    """The project's client with a short timeout (so ``slow`` answers time out) and fast
    backoff; retries stay at the default."""
    options: dict[str, Any] = {
        "api_base": standin.base_url,
        "rate_limit": 2000,
        "endpoint_rate_limit": 2000,
        "backoff_base_s": 0.1,
        "backoff_max_s": 2.0,
        "timeout_s": CLIENT_TIMEOUT_S,
    }
    options.update(kwargs)
    return StripeApi(STANDIN_API_KEY, **options)


# -- end states -------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def mirror_rows(warehouse: Warehouse, schema: str) -> dict[str, dict[str, Any]]:
    with warehouse.begin() as conn:
        ensure_tables(conn, schema)
        rows = conn.exec_driver_sql(
            f"SELECT id, raw, deleted FROM {customers_table(schema)}"
        ).mappings()
        return {r["id"]: {"raw": _json(r["raw"]), "deleted": bool(r["deleted"])} for r in rows}


def mirror_differences(warehouse: Warehouse, schema: str, standin: StripeStandin) -> list[str]:
    """Every way the mirror differs from the stand-in (empty when they are equal):
    a live customer missing or with other JSON, a row flagged deleted that is live, a
    deleted customer still live in the mirror, a row Stripe never had."""
    rows = mirror_rows(warehouse, schema)
    live = {c["id"]: c for c in standin.customers()}
    every = {c["id"]: c for c in standin.all_customers()}  # with a ``deleted`` flag
    out = []
    for cid in every.keys() - live.keys():
        row = rows.get(cid)
        if row is not None and not row["deleted"]:
            out.append(f"{cid}: deleted in Stripe, live in the mirror")
    for cid, customer in live.items():
        row = rows.get(cid)
        if row is None:
            out.append(f"{cid}: missing from the mirror")
        elif row["deleted"]:
            out.append(f"{cid}: live in Stripe, flagged deleted in the mirror")
        elif row["raw"] != customer:
            out.append(f"{cid}: mirror JSON differs from Stripe (a lost update)")
    out += [f"{cid}: in the mirror, unknown to Stripe" for cid in rows.keys() - every.keys()]
    return out


def duplicate_customers(standin: StripeStandin, field: str = "email") -> int:
    """Customers beyond the first sharing a value of ``field`` (live or deleted).

    Seeded accounts hold some customers sharing an email on purpose (Stripe does not
    enforce unique emails): compare with the count before the run.
    """
    counts = Counter(c.get(field) for c in standin.all_customers() if c.get(field))
    return sum(n - 1 for n in counts.values() if n > 1)


def duplicate_mirror_rows(warehouse: Warehouse, schema: str) -> int:
    """Mirror rows beyond the first per customer id."""
    with warehouse.begin() as conn:
        total, distinct = conn.exec_driver_sql(
            f"SELECT COUNT(*), COUNT(DISTINCT id) FROM {customers_table(schema)}"
        ).one()
    return int(total) - int(distinct)


def read_mirror_cursor(warehouse: Warehouse, schema: str) -> Cursor | None:
    with warehouse.begin() as conn:
        ensure_tables(conn, schema)
        return read_cursor(conn, schema)


def cursor_not_ahead(warehouse: Warehouse, schema: str, standin: StripeStandin) -> list[str]:
    """Customers whose latest event at or before the cursor is not reflected in the mirror.

    The cursor promises "every customer event up to here is applied"; this checks that
    promise customer by customer (empty list: the cursor is not ahead of the data). A
    customer created and deleted between two full scans may have no row at all.
    """
    cursor = read_mirror_cursor(warehouse, schema)
    if cursor is None or cursor.event_id is None:
        return []
    events = list(reversed(standin.events(include_expired=True)))  # oldest first
    ids = [e["id"] for e in events]
    if cursor.event_id not in ids:
        return [f"cursor event {cursor.event_id} unknown to Stripe"]
    covered = events[: ids.index(cursor.event_id) + 1]
    latest: dict[str, dict[str, Any]] = {}
    for event in covered:
        if event["type"].startswith("customer."):
            latest[event["data"]["object"]["id"]] = event
    rows = mirror_rows(warehouse, schema)
    problems = []
    for cid, event in latest.items():
        row = rows.get(cid)
        if event["type"] != "customer.deleted" and row is None:
            problems.append(
                f"{cid}: {event['type']} {event['id']} is behind the cursor, row missing"
            )
        elif event["type"] == "customer.deleted" and row is not None and not row["deleted"]:
            problems.append(f"{cid}: deleted at {event['id']} (behind the cursor), row live")
    return problems


def dump_tables(warehouse: Warehouse, schemas: list[str]) -> dict[str, list[tuple]]:
    """Every table of ``schemas`` as sorted text rows (for before/after comparisons)."""
    import sqlalchemy as sa

    out: dict[str, list[tuple]] = {}
    with warehouse.begin() as conn:
        inspector = sa.inspect(conn)
        # DuckDB names schemas ``<catalog>.<schema>``; PostgreSQL ``<schema>``.
        existing = {name.split(".")[-1] for name in inspector.get_schema_names()}
        for schema in schemas:
            if schema not in existing:
                continue
            for table in inspector.get_table_names(schema=schema):
                rows = conn.exec_driver_sql(f'SELECT * FROM "{schema}"."{table}"').fetchall()
                out[f"{schema}.{table}"] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


# -- changes and models ---------------------------------------------------------------


def change_customers(standin: StripeStandin, rng: random.Random, n: int) -> None:
    """``n`` out-of-band changes (Dashboard-like): updates, creates and deletes, with events."""
    live = [c["id"] for c in standin.customers()]
    for _ in range(n):
        roll = rng.random()
        if roll < 0.7 and live:
            standin.update_customer(
                rng.choice(live),
                name=f"Renamed {rng.randrange(10**6)}",
                metadata={"plan": rng.choice(["free", "pro", "enterprise"])},
            )
        elif roll < 0.9 or not live:
            created = standin.create_customer(
                email=f"new{rng.randrange(10**9)}@example.com",
                name="Newcomer",
                metadata={"plan": rng.choice(["free", "pro"])},
            )
            live.append(created["id"])
        else:
            standin.delete_customer(live.pop(rng.randrange(len(live))))


def model_differences(standin: StripeStandin, rows: list[dict[str, Any]]) -> list[str]:
    """Model rows whose Stripe customer is missing, doubled, or differs on a mapped field."""
    by_email: dict[str, list[dict[str, Any]]] = {}
    for c in standin.customers():
        by_email.setdefault(c.get("email"), []).append(c)
    out = []
    for row in rows:
        found = by_email.get(row["email"], [])
        if len(found) != 1:
            out.append(f"{row['email']}: {len(found)} Stripe customers")
        elif mapped_values(found[0]) != model_values(row):
            out.append(f"{row['email']}: {mapped_values(found[0])} != {model_values(row)}")
    return out


# -- the report -------------------------------------------------------------------------


@dataclass
class FaultRow:
    """One line of the fault table printed at the end of the test session."""

    scenario: str
    warehouse: str
    stats: dict[str, Any]  # the stand-in's counters for the faulted stretch
    retries: int
    work: int  # units of useful work (customers listed, events applied, rows, writes)
    unit: str
    seconds: float
    differences: int
    duplicates: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return int(self.stats.get("requests_total", 0))

    @property
    def faults(self) -> int:
        return int(self.stats.get("faults_total", 0))

    def faults_by_kind(self) -> str:
        by = self.stats.get("faults") or {}
        return " ".join(
            f"{SHORT.get(k, k)}:{n}" for k, n in sorted(by.items(), key=lambda kv: kv[0])
        )

    def goodput(self) -> str:
        rate = self.work / self.seconds if self.seconds > 0 else 0.0
        return f"{self.work} {self.unit} in {self.seconds:.1f}s ({rate:,.0f}/s)"


def format_table(rows: list[FaultRow]) -> list[str]:
    header = [
        "scenario",
        "warehouse",
        "requests",
        "faults",
        "faults by kind",
        "retries",
        "goodput",
        "diffs",
        "dups",
    ]
    body = [
        [
            r.scenario,
            r.warehouse,
            str(r.requests),
            f"{r.faults} ({100.0 * r.faults / r.requests if r.requests else 0:.1f}%)",
            r.faults_by_kind(),
            str(r.retries),
            r.goodput(),
            str(r.differences),
            str(r.duplicates),
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *body)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)]

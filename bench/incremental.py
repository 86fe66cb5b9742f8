"""Scenario 2: an incremental run after e customer events, and after none."""

from __future__ import annotations

import math

from bench.report import Row
from bench.standin import StandinProcess
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.mirror.table import customers_table
from stripe_customer_assets.warehouse import Warehouse


def incremental_rows(standin: StandinProcess, warehouse: Warehouse, schema: str, rate: float, events: int) -> list[Row]:
    """Change ``events`` customers out of band, refresh, then refresh again with no change.

    The mirror must already hold the account (a full scan ran). The naive script has no
    change feed: it lists the whole account again.
    """
    with warehouse.begin() as conn:
        ids = [row[0] for row in conn.exec_driver_sql(
            f"SELECT id FROM {customers_table(schema)} WHERE NOT deleted ORDER BY id LIMIT {int(events)}"
        )]
        total = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {customers_table(schema)} WHERE NOT deleted").scalar() or 0)
    for i, customer_id in enumerate(ids):
        standin.admin.update_customer(customer_id, name=f"Renamed {i}")
    api = standin.api(rate)
    changed = refresh_mirror(api, warehouse, schema)
    if changed.mode != "incremental" or changed.updated != len(ids):
        raise AssertionError(f"expected {len(ids)} updates from events, got {changed}")
    quiet = refresh_mirror(api, warehouse, schema)
    if quiet.mode != "incremental" or quiet.changed:
        raise AssertionError(f"expected nothing to do, got {quiet}")
    relist = math.ceil(total / 100)
    return [
        Row(
            "incremental calls",
            f"e={len(ids):,} events",
            "calls",
            changed.api_calls,
            ideal=math.ceil(len(ids) / 100),
            baseline=relist,
            baseline_note="re-list the account",
            target=f"<= {math.ceil(len(ids) / 100) + 2}",
            met=changed.api_calls <= math.ceil(len(ids) / 100) + 2,
            details={"seconds": changed.duration_s, "updated": changed.updated, "events": changed.events},
        ),
        Row(
            "incremental calls",
            "0 events",
            "calls",
            quiet.api_calls,
            ideal=1,
            baseline=relist,
            baseline_note="re-list the account",
            target="<= 2",
            met=quiet.api_calls <= 2,
            details={"seconds": quiet.duration_s},
        ),
    ]

"""Scenario 2: an incremental run after e customer events, and after none."""

from __future__ import annotations

import math

from bench.report import Row
from bench.standin import StandinProcess
from stripe_customer_assets.mirror.sync import events_overlap_s, refresh_mirror
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
    # The next run lists nothing new but reads the events of the overlap before the previous
    # run again (STRIPE_EVENTS_OVERLAP_SECONDS: Stripe may list some of them late); once a
    # run is more than the overlap after the burst, a run that finds nothing costs one call.
    standin.admin.advance_clock(seconds=events_overlap_s() + 1)
    reread = refresh_mirror(api, warehouse, schema)
    if reread.mode != "incremental" or reread.changed or reread.events:
        raise AssertionError(f"expected nothing to do, got {reread}")
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
            f"0 new events, the run after e={len(ids):,} (the overlap read again)",
            "calls",
            reread.api_calls,
            ideal=math.ceil(max(reread.reread, 1) / 100),
            baseline=relist,
            baseline_note="re-list the account",
            target=f"<= {math.ceil(len(ids) / 100) + 2}",
            met=reread.api_calls <= math.ceil(len(ids) / 100) + 2,
            details={"seconds": reread.duration_s, "reread": reread.reread},
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

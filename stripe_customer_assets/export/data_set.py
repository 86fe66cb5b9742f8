"""Which Stripe data an export sync's state belongs to: one account's test or live mode.

The sync's state (``<state_schema>.<sync>``: each key's Stripe id and the idempotency keys
already sent) only means something for the data set it was written against. A create's
idempotency key is the same in test and live mode, so state kept from test mode would make
a live-mode plan take every create as "sent by an earlier run" and send nothing. So the
state records the account and mode of the mirror it was planned from
(``<state_schema>.export_data_sets``, one row per sync), and a plan or an apply against a
mirror of other data refuses, naming the ``state_schema`` to give the sync instead.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stripe_customer_assets.export.config import ExportConfig
from stripe_customer_assets.export.errors import ExportError
from stripe_customer_assets.mirror.identity import Identity, differs, read_identity
from stripe_customer_assets.warehouse import Warehouse
from stripe_customer_assets.warehouse.ddl import ensure_table, table_exists
from stripe_customer_assets.warehouse.names import Table, qualified

TABLE = "export_data_sets"


class ExportDataSetError(ExportError):
    """The sync's state belongs to another Stripe account or mode than the mirror's."""


def data_sets_table(config: ExportConfig) -> Table:
    return qualified(config.state_schema, TABLE)


def _ensure_table(conn: Connection, config: ExportConfig) -> None:
    ensure_table(
        conn,
        data_sets_table(config),
        "sync VARCHAR PRIMARY KEY, account_id VARCHAR, mode VARCHAR, mirror_schema VARCHAR, recorded_at TIMESTAMPTZ",
    )


def check_data_set(
    warehouse: Warehouse, config: ExportConfig, mirror_schema: str, *, record: bool, account: str | None = None
) -> None:
    """Refuse (``ExportDataSetError``) when the sync's state was written for other Stripe data
    than the mirror in ``mirror_schema`` holds; ``record``: remember the mirror's data set
    when the state has none yet (the plan step does, the apply step only checks).
    ``account``: the single account's key (default: the mirror's default account)."""
    with warehouse.begin() as conn:
        mirror = read_identity(conn, mirror_schema, **({"account": account} if account else {}))
        if mirror is None or (mirror.account_id is None and mirror.mode is None):
            return  # nothing known to compare with (an empty mirror, a mirror from before)
        if record:
            _ensure_table(conn, config)
        elif not table_exists(conn, data_sets_table(config)):
            return  # nothing recorded yet: the plan step records it
        row = conn.execute(
            sa.text(f"SELECT account_id, mode, mirror_schema FROM {data_sets_table(config)} WHERE sync = :sync"),
            {"sync": config.name},
        ).first()
        if row is not None:
            held = Identity(row[0], row[1])
            if differs(held.account_id, mirror.account_id) or differs(held.mode, mirror.mode):
                raise ExportDataSetError(_refusal(config, held, row[2], mirror, mirror_schema))
        if record and (row is None or (row[0] is None and mirror.account_id is not None)):
            conn.execute(
                sa.text(
                    f"INSERT INTO {data_sets_table(config)} (sync, account_id, mode, mirror_schema, recorded_at) "
                    "VALUES (:sync, :account, :mode, :schema, :now) ON CONFLICT (sync) DO UPDATE SET "
                    "account_id = excluded.account_id, mode = excluded.mode, "
                    "mirror_schema = excluded.mirror_schema, recorded_at = excluded.recorded_at"
                ),
                {
                    "sync": config.name,
                    "account": mirror.account_id,
                    "mode": mirror.mode,
                    "schema": mirror_schema,
                    "now": dt.datetime.now(dt.UTC),
                },
            )


def _refusal(config: ExportConfig, held: Identity, held_schema: str | None, mirror: Identity, schema: str) -> str:
    suggestion = f"{config.state_schema}_{mirror.mode or 'other'}"
    return (
        f"The export sync '{config.name}' keeps its state in schema '{config.state_schema}' for "
        f"{held.describe()} (planned from the mirror in '{held_schema}'), but the mirror in "
        f"'{schema}' holds {mirror.describe()}. Its record of what was sent does not hold for "
        "that data, so nothing was planned or sent. To export to it, give the sync its own "
        f"state: set `state_schema` in its defs.yaml (e.g. '{suggestion}'), or point "
        "STRIPE_MIRROR_SCHEMA and STRIPE_API_KEY back at the data the state belongs to."
    )

"""U+0000 in what a pipeline writes: kept on DuckDB, ``\\u0000`` on PostgreSQL, never a failure."""

from __future__ import annotations

import json

from stripe_customer_assets.pipeline.rejects import rejects_table
from stripe_customer_assets_tests.pipeline.support import customer, pipeline, run, table_rows

MODULE = "stripe_customer_assets_tests.pipeline.transforms.samples"


def test_values_and_reject_reasons_with_a_nul_land_and_the_run_goes_on(mirror, table):
    mirror.put([customer(i, name="N\x00" if i == 1 else f"C{i}") for i in range(1, 4)])
    p = pipeline(
        table,
        schema={"name": "string", "label": "string", "extra": "json"},
        transformation={"python": f"{MODULE}:with_nul"},
        max_reject_rate=1,
    )
    result = run(p, mirror)
    assert (result.inserted, result.rejected) == (2, 1)
    nul = "\\u0000" if mirror.warehouse.is_postgres else "\x00"
    rows = table_rows(mirror.warehouse, table)
    assert rows["cus_00001"]["name"] == f"N{nul}"
    assert rows["cus_00002"]["label"] == f"a{nul}b"
    extra = rows["cus_00002"]["extra"]
    assert (extra if isinstance(extra, dict) else json.loads(extra)) == {"k": f"v{nul}", "list": [nul]}
    [reason] = mirror.warehouse.read_frame(f"SELECT reason FROM {rejects_table(mirror.schema)}")["reason"]
    assert reason.endswith(f"ValueError: bad{nul}value")
    # A second run finds the same rows unchanged: nothing is rewritten.
    again = run(p, mirror, full_rebuild=True)
    assert (again.unchanged, again.updated, again.inserted) == (2, 0, 0)

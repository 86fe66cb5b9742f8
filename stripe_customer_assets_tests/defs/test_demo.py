"""The quickstart's first command: the main job on embedded defaults, against the stand-in."""

from __future__ import annotations

import os

import sqlalchemy as sa

from stripe_standin import demo


def test_demo_without_a_key_runs_the_main_job_against_the_seeded_standin(tmp_path, monkeypatch, capsys):
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{warehouse}")

    assert demo.main([]) == 0

    out = capsys.readouterr().out
    assert "STRIPE_API_KEY is not set: using the built-in Stripe stand-in" in out
    assert "stripe_import succeeded" in out
    engine = sa.create_engine(f"duckdb:///{warehouse}")
    with engine.connect() as conn:
        mirrored = conn.exec_driver_sql("SELECT COUNT(*) FROM stripe.customers WHERE NOT deleted").scalar()
        pro = conn.exec_driver_sql("SELECT COUNT(*) FROM analytics.pro_customers").scalar()
        everyone = conn.exec_driver_sql("SELECT COUNT(*) FROM analytics.customers").scalar()
    engine.dispose()
    assert mirrored == demo.SAMPLE_CUSTOMERS
    assert everyone == demo.SAMPLE_CUSTOMERS
    assert 0 < pro < demo.SAMPLE_CUSTOMERS
    assert "STRIPE_API_KEY" not in os.environ  # the stand-in's key was for this run only

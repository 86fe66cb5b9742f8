"""The Dagster layer of the mirror: the asset's metadata, its freshness, the change sensor."""

from __future__ import annotations

import dagster as dg

from stripe_customer_assets.defs.mirror.assets import stripe_customers
from stripe_customer_assets.defs.mirror.sensor import stripe_customer_changes
from stripe_customer_assets.resources import StripeResource, WarehouseResource
from stripe_standin import STANDIN_API_KEY


def resources(standin, warehouse_url, schema):
    base = standin.base_url if standin else "http://127.0.0.1:9"
    return {
        "stripe": StripeResource(api_key=STANDIN_API_KEY, api_base=base, rate_limit=1000, endpoint_rate_limit=1000),
        "warehouse": WarehouseResource(url=warehouse_url, mirror_schema=schema),
    }


def test_mirror_materialization_reports_numeric_metadata(standin, tmp_path):
    standin.seed_customers(180, seed=1)
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    result = dg.materialize([stripe_customers], resources=resources(standin, url, "stripe"))
    assert result.success
    [mat] = result.asset_materializations_for_node("stripe__customers")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["mode"] == "full"
    assert meta["rows_inserted"] == 180
    assert meta["dagster/row_count"] == 180
    assert meta["api_calls"] >= 2 and isinstance(meta["api_calls"], int)
    assert isinstance(meta["duration_s"], float)
    assert meta["cursor_event_id"] == ""  # seeded customers have no events yet
    assert "| id" in meta["preview"]
    assert result.get_asset_check_evaluations() == []  # none that could not fail

    standin.update_customer(standin.customers()[0]["id"], name="Changed")
    again = dg.materialize(
        [stripe_customers],
        resources=resources(standin, url, "stripe"),
        run_config={"ops": {"stripe__customers": {"config": {"full_refresh": False}}}},
    )
    [mat] = again.asset_materializations_for_node("stripe__customers")
    assert mat.metadata["mode"].value == "incremental"
    assert mat.metadata["rows_updated"].value == 1
    assert mat.metadata["customers_read_back"].value == 0
    assert mat.metadata["api_calls"].value == 1
    assert mat.metadata["cursor_event_id"].value.startswith("evt_")


def _tick(context_cursor, stripe):
    context = dg.build_sensor_context(cursor=context_cursor, resources={"stripe": stripe})
    return stripe_customer_changes(context), context.cursor


def test_change_sensor_requests_a_run_only_when_customers_changed_at_one_call_per_tick(standin):
    stripe = StripeResource(api_key=STANDIN_API_KEY, api_base=standin.base_url, rate_limit=1000, endpoint_rate_limit=1000)
    standin.create_customer(email="first@example.com")
    standin.reset_stats()

    first, cursor = _tick(None, stripe)
    assert isinstance(first, dg.RunRequest)
    quiet, cursor_after_quiet = _tick(cursor, stripe)
    assert isinstance(quiet, dg.SkipReason)
    assert cursor_after_quiet == cursor

    standin.create_customer(email="second@example.com")
    changed, new_cursor = _tick(cursor, stripe)
    assert isinstance(changed, dg.RunRequest)
    assert new_cursor != cursor
    requests = [r for r in standin.requests() if not r["path"].startswith("/_standin")]
    assert len(requests) == 3  # one Stripe call per tick
    assert all(r["path"] == "/v1/events" for r in requests)


def test_change_sensor_skips_with_the_reason_when_the_key_is_rejected(standin):
    stripe = StripeResource(api_key="sk_test_wrong_key_123456", api_base=standin.base_url, rate_limit=1000, endpoint_rate_limit=1000)
    result, _ = _tick(None, stripe)
    assert isinstance(result, dg.SkipReason)
    assert "401" in result.skip_message and "STRIPE_API_KEY" in result.skip_message
    assert "sk_test_wrong_key_123456" not in result.skip_message


def test_change_sensor_runs_once_more_when_events_listed_late_may_have_come_in(standin):
    """Stripe lists an event up to the overlap late: one settle run after the newest event."""
    from stripe_customer_assets.mirror.sync import events_overlap_s

    stripe = StripeResource(api_key=STANDIN_API_KEY, api_base=standin.base_url, rate_limit=1000, endpoint_rate_limit=1000)
    standin.set_clock(standin.now(), frozen=True)
    standin.create_customer(email="first@example.com")
    first, cursor = _tick(None, stripe)
    assert isinstance(first, dg.RunRequest)
    quiet, cursor = _tick(cursor, stripe)
    assert isinstance(quiet, dg.SkipReason)  # too early: a late event could still come
    standin.advance_clock(seconds=events_overlap_s())
    settle, cursor = _tick(cursor, stripe)
    assert isinstance(settle, dg.RunRequest) and settle.run_key.endswith("-settled")
    standin.advance_clock(seconds=600)
    again, cursor = _tick(cursor, stripe)
    assert isinstance(again, dg.SkipReason)  # settled: quiet until the next change
    # A cursor written before the settle runs existed (a plain event id) reads as settled.
    newest = standin.events()[0]["id"]
    legacy, _ = _tick(newest, stripe)
    assert isinstance(legacy, dg.SkipReason)


def test_change_sensor_keeps_a_quiet_account_within_the_event_retention(standin):
    """No change for a week: one run all the same, so the mirror's cursor never expires."""
    from stripe_customer_assets.defs.mirror.sensor import KEEPALIVE_S

    stripe = StripeResource(api_key=STANDIN_API_KEY, api_base=standin.base_url, rate_limit=1000, endpoint_rate_limit=1000)
    standin.set_clock(standin.now(), frozen=True)
    standin.create_customer(email="only@example.com")
    first, cursor = _tick(None, stripe)
    assert isinstance(first, dg.RunRequest)
    standin.advance_clock(hours=1)
    settle, cursor = _tick(cursor, stripe)
    assert isinstance(settle, dg.RunRequest) and settle.run_key.endswith("-settled")
    standin.advance_clock(seconds=KEEPALIVE_S - 3600)
    quiet, cursor = _tick(cursor, stripe)
    assert isinstance(quiet, dg.SkipReason)  # six days and 23 hours: not yet
    standin.advance_clock(hours=1)
    keepalive, cursor = _tick(cursor, stripe)
    assert isinstance(keepalive, dg.RunRequest) and "-keepalive-" in keepalive.run_key
    again, cursor = _tick(cursor, stripe)
    assert isinstance(again, dg.SkipReason)  # the next one a week later
    assert KEEPALIVE_S * 4 < 30 * 24 * 3600  # several chances within Stripe's retention


def test_the_mirror_is_stale_a_day_after_its_last_refresh_by_dagsters_freshness_policy():
    import asyncio
    import datetime as dt

    from dagster._core.definitions.freshness import FreshnessState
    from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
    from dagster._core.loader import LoadingContextForTest
    from dagster._core.test_utils import freeze_time

    from stripe_customer_assets.lib.keys import MIRROR_KEY

    defs = dg.Definitions(assets=[stripe_customers], resources=resources(None, "duckdb://", "s"))
    node = defs.resolve_asset_graph().get(MIRROR_KEY)
    assert node.freshness_policy == dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=24))

    def state(instance, after: dt.timedelta) -> FreshnessState:
        with freeze_time(dt.datetime.now(dt.UTC) + after):
            context = LoadingContextForTest(instance)
            return asyncio.run(TimeWindowFreshnessPolicyEvaluator().evaluate_freshness(context, node))

    with dg.instance_for_test() as instance:
        assert state(instance, dt.timedelta(0)) == FreshnessState.UNKNOWN  # never refreshed
        instance.report_runless_asset_event(dg.AssetMaterialization(MIRROR_KEY))
        assert state(instance, dt.timedelta(hours=23)) == FreshnessState.PASS
        assert state(instance, dt.timedelta(hours=25)) == FreshnessState.FAIL

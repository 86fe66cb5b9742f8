"""One mirror is one account and one mode: a key of another refuses before touching anything."""

from __future__ import annotations

import pytest

from stripe_customer_assets.mirror.identity import (
    MirrorIdentityError,
    check_identity,
    read_identity,
)
from stripe_customer_assets.mirror.sync import refresh_mirror
from stripe_customer_assets.stripe_api import StripeApi
from stripe_customer_assets_tests.mirror.test_sync import assert_mirror_equals_stripe
from stripe_customer_assets_tests.reliability.support import dump_tables
from stripe_standin import DEFAULT_ACCOUNT_ID, STANDIN_API_KEY

LIVE_KEY = "sk_live_identity000000000000"
OTHER_KEY = "sk_test_otheraccount0000000"
OTHER_ACCOUNT = "acct_1OtherAccount0009"


def client(standin, key: str) -> StripeApi:
    return StripeApi(key, api_base=standin.base_url, rate_limit=10_000, endpoint_rate_limit=10_000, backoff_base_s=0.01)


def stripe_reads(standin) -> list[str]:
    """Endpoints called since the last call (and clears the log)."""
    return [r["endpoint"] for r in standin.requests(clear=True)]


def test_a_live_key_against_a_test_mirror_is_refused_and_another_schema_mirrors_live_exactly(
    standin, api, wh, mirror_schema, unique_schema
):
    standin.seed_customers(120, seed=2, record_events=True)
    standin.add_api_key(LIVE_KEY)
    live_data = standin.dataset(livemode=True)
    live_data.seed_customers(40, seed=2, record_events=True)
    refresh_mirror(api, wh, mirror_schema)
    assert read_identity_of(wh, mirror_schema)[:2] == (DEFAULT_ACCOUNT_ID, "test")
    before = dump_tables(wh, [mirror_schema])
    live = client(standin, LIVE_KEY)
    stripe_reads(standin)

    for full_refresh in (False, True):
        with pytest.raises(MirrorIdentityError) as caught:
            refresh_mirror(live, wh, mirror_schema, full_refresh=full_refresh)
        message = str(caught.value)
        assert f"holds test-mode data of Stripe account {DEFAULT_ACCOUNT_ID}" in message
        assert f"a key for live-mode data of Stripe account {DEFAULT_ACCOUNT_ID}" in message
        assert "STRIPE_MIRROR_SCHEMA" in message and f"'{mirror_schema}_live'" in message
        assert LIVE_KEY not in message
    assert dump_tables(wh, [mirror_schema]) == before, "mirror, cursor and identity unchanged"
    assert stripe_reads(standin) == ["account.retrieve", "account.retrieve"], "no scan, no events"

    other_schema = unique_schema("stripe_live")
    result = refresh_mirror(live, wh, other_schema)
    assert result.mode == "full" and result.inserted == 40
    assert_mirror_equals_stripe(wh, other_schema, live_data)
    assert read_identity_of(wh, other_schema)[:2] == (DEFAULT_ACCOUNT_ID, "live")
    live_data.update_customer(live_data.customers()[0]["id"], name="Changed live")
    assert refresh_mirror(live, wh, other_schema).updated == 1
    assert_mirror_equals_stripe(wh, other_schema, live_data)
    # The test mirror goes on with its own key, untouched by the live data.
    assert refresh_mirror(api, wh, mirror_schema).changed == 0
    assert_mirror_equals_stripe(wh, mirror_schema, standin)


def read_identity_of(wh, schema):
    with wh.begin() as conn:
        found = read_identity(conn, schema)
    assert found is not None
    return found.account_id, found.mode, found.account_source


def test_a_key_of_another_account_is_refused_naming_both_accounts(standin, api, wh, mirror_schema):
    standin.seed_customers(30, seed=3)
    standin.add_api_key(OTHER_KEY, account_id=OTHER_ACCOUNT)
    standin.dataset(account_id=OTHER_ACCOUNT).seed_customers(10, seed=3)
    refresh_mirror(api, wh, mirror_schema)
    before = dump_tables(wh, [mirror_schema])

    with pytest.raises(MirrorIdentityError) as caught:
        refresh_mirror(client(standin, OTHER_KEY), wh, mirror_schema)

    message = str(caught.value)
    assert DEFAULT_ACCOUNT_ID in message and OTHER_ACCOUNT in message
    assert f"'{mirror_schema}_{OTHER_ACCOUNT}'" in message
    assert dump_tables(wh, [mirror_schema]) == before


def test_a_restricted_key_is_checked_by_the_account_its_403_names(standin, api, wh, mirror_schema):
    standin.seed_customers(20, seed=4)
    refresh_mirror(api, wh, mirror_schema)
    standin.add_restricted_key("rk_test_same0000000000", {"customers": "read", "events": "read"})
    standin.add_restricted_key(
        "rk_test_elsewhere00000", {"customers": "read", "events": "read"}, account_id=OTHER_ACCOUNT
    )
    standin.add_restricted_key("rk_live_same0000000000", {"customers": "read", "events": "read"})

    same = refresh_mirror(client(standin, "rk_test_same0000000000"), wh, mirror_schema)
    assert same.mode == "incremental"
    for key, names in [
        ("rk_test_elsewhere00000", OTHER_ACCOUNT),
        ("rk_live_same0000000000", "live-mode data"),
    ]:
        with pytest.raises(MirrorIdentityError, match=names):
            refresh_mirror(client(standin, key), wh, mirror_schema)
    assert read_identity_of(wh, mirror_schema) == (DEFAULT_ACCOUNT_ID, "test", "GET /v1/account")


def test_a_restricted_key_on_a_new_mirror_records_the_account_of_its_403(standin, wh, mirror_schema):
    standin.add_restricted_key("rk_test_reader00000000", {"customers": "read", "events": "read"})
    standin.seed_customers(5, seed=5)
    refresh_mirror(client(standin, "rk_test_reader00000000"), wh, mirror_schema)
    assert read_identity_of(wh, mirror_schema) == (
        DEFAULT_ACCOUNT_ID,
        "test",
        "403 answer to GET /v1/account",
    )


def test_the_key_that_matched_costs_no_call_and_is_kept_only_as_a_salted_digest(
    standin, api, wh, mirror_schema
):
    standin.seed_customers(10, seed=6)
    refresh_mirror(api, wh, mirror_schema)
    stripe_reads(standin)
    result = refresh_mirror(api, wh, mirror_schema)
    assert result.mode == "incremental" and result.api_calls == 1
    assert stripe_reads(standin) == ["events.list"]
    tables = dump_tables(wh, [mirror_schema])
    assert sorted(tables) == [f"{mirror_schema}.{t}" for t in ("customers", "customers_cursor", "customers_cursor_events", "customers_history", "mirror_identity")], sorted(tables)
    assert STANDIN_API_KEY not in str(tables) and "standin" not in str(tables[f"{mirror_schema}.mirror_identity"])


def test_a_mirror_from_before_the_record_takes_its_mode_from_the_customers_json(
    standin, api, wh, mirror_schema
):
    standin.seed_customers(15, seed=7)
    standin.add_api_key(LIVE_KEY)
    refresh_mirror(api, wh, mirror_schema)
    with wh.begin() as conn:
        conn.exec_driver_sql(f'DROP TABLE "{mirror_schema}"."mirror_identity"')
    before = dump_tables(wh, [mirror_schema])

    with pytest.raises(MirrorIdentityError, match="holds test-mode data of an unknown Stripe account"):
        refresh_mirror(client(standin, LIVE_KEY), wh, mirror_schema)
    assert dump_tables(wh, [mirror_schema]) == before

    refresh_mirror(api, wh, mirror_schema)  # its own key: the record is made
    assert read_identity_of(wh, mirror_schema)[:2] == (DEFAULT_ACCOUNT_ID, "test")


def test_an_empty_mirror_takes_the_identity_of_the_next_key(standin, wh, mirror_schema):
    standin.add_api_key(LIVE_KEY)
    live = client(standin, LIVE_KEY)
    check_identity(client(standin, STANDIN_API_KEY), wh, mirror_schema)  # recorded, nothing held
    check_identity(live, wh, mirror_schema)
    assert read_identity_of(wh, mirror_schema)[:2] == (DEFAULT_ACCOUNT_ID, "live")


def test_the_apply_check_only_reads(standin, api, wh, mirror_schema):
    standin.add_api_key(LIVE_KEY)
    assert check_identity(client(standin, LIVE_KEY), wh, mirror_schema, record=False) is None
    assert dump_tables(wh, [mirror_schema]) == {}, "nothing created"
    standin.seed_customers(3, seed=8)
    refresh_mirror(api, wh, mirror_schema)
    with pytest.raises(MirrorIdentityError, match="Refusing the export"):
        check_identity(client(standin, LIVE_KEY), wh, mirror_schema, record=False, what="the export")

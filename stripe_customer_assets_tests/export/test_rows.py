"""Row mapping and validation: values as Stripe wants them, problems naming the column."""

from __future__ import annotations

import datetime as dt
import decimal

from stripe_customer_assets.export import parse_config
from stripe_customer_assets.export.rows import desired_values, key_problems
from stripe_customer_assets.values import to_locales, to_text


def config(**overrides):
    base = {
        "name": "crm",
        "model": "SELECT 1",
        "key": {"column": "ext", "stripe_field": "metadata.crm_id"},
        "fields": {
            "name": "name",
            "email": "email",
            "phone": "phone",
            "tax_exempt": "tax",
            "metadata.note": "note",
            "preferred_locales": "locales",
        },
    }
    base.update(overrides)
    return parse_config(base)


def test_nulls_are_skipped_by_default_and_cleared_on_request():
    row = {"name": None, "email": "", "phone": "+1 555", "tax": None, "note": None, "locales": None}
    skipped, problems = desired_values(config(), row)
    assert skipped == {"phone": "+1 555"} and problems == []
    cleared, _ = desired_values(config(null_values="clear"), row)
    assert cleared == {
        "name": None,
        "email": None,
        "phone": "+1 555",
        "tax_exempt": "none",
        "metadata.note": None,
        "preferred_locales": [],
    }


def test_invalid_email_is_a_problem_naming_column_and_field():
    _, problems = desired_values(config(), {"email": "not-an-email"})
    assert problems == ["column 'email' (email): 'not-an-email' is not a valid email address"]


def test_unknown_tax_exempt_value_is_a_problem():
    _, problems = desired_values(config(), {"tax": "sometimes"})
    assert problems and "is not one of none, exempt, reverse" in problems[0]


def test_metadata_value_over_500_characters_is_a_problem():
    _, problems = desired_values(config(), {"note": "x" * 501})
    assert problems == [
        "column 'note' (metadata.note): 501 characters; Stripe allows 500 for metadata values"
    ]


def test_phone_over_stripe_limit_is_a_problem():
    _, problems = desired_values(config(), {"phone": "1" * 21})
    assert "Stripe allows 20" in problems[0]


def test_sql_values_become_stripe_text():
    assert to_text(42) == "42" and to_text(42.0) == "42" and to_text(1.5) == "1.5"
    assert to_text(decimal.Decimal("10.00")) == "10" and to_text(True) == "true"
    assert to_text(dt.date(2024, 5, 1)) == "2024-05-01"
    assert to_locales("fr-FR, en,") == ["fr-FR", "en"] and to_locales(["de", None]) == ["de"]


def test_key_problems_cover_null_bad_email_and_long_metadata():
    assert key_problems(config(), None) == ["key column 'ext' is null"]
    assert key_problems(config(), "   ") == ["key column 'ext' is null"]
    assert "500" in key_problems(config(), "x" * 501)[0]
    by_email = config(key={"column": "email", "stripe_field": "email"}, fields={})
    assert "not a valid email" in key_problems(by_email, "nobody")[0]
    assert key_problems(by_email, "a@example.com") == []

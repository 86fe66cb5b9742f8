"""Config validation: every error names the defs.yaml field and what would be valid."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stripe_customer_assets.export import parse_config


def problems(attributes) -> dict[tuple, str]:
    """attribute path -> message, for every problem of ``attributes``."""
    with pytest.raises(ValidationError) as err:
        parse_config(attributes)
    return {e["loc"]: e["msg"] for e in err.value.errors()}


def attrs(**overrides):
    base = {
        "name": "crm",
        "model": "SELECT 1 AS id, 'a@example.com' AS email;",
        "key": {"column": "email", "stripe_field": "email"},
        "fields": {"name": "full_name", "metadata.plan": "plan", "shipping.address.city": "city"},
        "partial_address": "keep_stripe",
    }
    base.update(overrides)
    return base


def test_valid_config_has_defaults_and_strips_trailing_semicolons():
    config = parse_config(attrs())
    assert config.behavior == "update_or_create"
    assert config.null_values == "skip" and config.on_duplicate == "skip"
    assert config.max_reject_percent == 100 and config.max_change_percent == 100
    assert config.history_days == 30
    assert config.model_sql.endswith("AS email")
    assert config.model_columns == ["email", "full_name", "plan", "city"]


def test_model_file_is_read_relative_to_the_defs_folder(tmp_path):
    (tmp_path / "model.sql").write_text("SELECT 1 AS email;\n")
    config = parse_config(attrs(model=None, model_file="model.sql"), base_dir=tmp_path)
    assert config.model_sql == "SELECT 1 AS email"


def test_missing_model_file_names_the_field_and_path(tmp_path):
    with pytest.raises(ValidationError) as err:
        parse_config(attrs(model=None, model_file="nope.sql"), base_dir=tmp_path)
    [error] = err.value.errors()
    assert error["loc"] == ("model_file",) and f"{tmp_path}/nope.sql does not exist" in error["msg"]


def test_model_and_model_file_together_are_refused():
    assert "give exactly one of `model`" in problems(attrs(model_file="x.sql"))[("model",)]


def test_objects_other_than_customer_are_refused_clearly():
    assert problems(attrs(object="invoice")) == {("object",): "Input should be 'customer'"}


@pytest.mark.parametrize(
    ("attribute", "value", "path", "fragment"),
    [
        (
            "behavior",
            "upsert",
            ("behavior",),
            "Input should be 'update_or_create', 'update_only' or 'create_only'",
        ),
        ("null_values", "drop", ("null_values",), "Input should be 'skip' or 'clear'"),
        (
            "on_duplicate",
            "first",
            ("on_duplicate",),
            "Input should be 'skip', 'update_all' or 'update_newest'",
        ),
        ("max_reject_percent", 120, ("max_reject_percent",), "less than or equal to 100"),
        ("max_change_percent", "lots", ("max_change_percent",), "Input should be a valid number"),
        ("schedule", "hourly", ("schedule",), "'hourly' is not a valid cron expression"),
        ("enabeld", True, ("enabeld",), "unknown attribute 'enabeld'; did you mean 'enabled'?"),
        ("name", "crm-export", ("name",), "letters, digits or underscores"),
        ("state_schema", "a b", ("state_schema",), "plain SQL identifier"),
        ("name", "crm_plan", ("name",), "name a sync's own tables"),
        ("name", "crm_history", ("name",), "name a sync's own tables"),
        ("history_days", 0, ("history_days",), "greater than or equal to 1"),
    ],
)
def test_bad_scalar_attributes_name_their_field(attribute, value, path, fragment):
    assert fragment in problems(attrs(**{attribute: value}))[path]


def test_unknown_stripe_field_lists_the_writable_ones():
    message = problems(attrs(fields={"nickname": "nick"}))[("fields", "nickname")]
    assert "'nickname' is not a customer field an export can write" in message
    assert "use one of: name, email" in message and "address.city" in message


def test_a_typo_in_a_stripe_field_says_which_field_was_meant():
    message = problems(attrs(fields={"address.countyr": "c"}))[("fields", "address.countyr")]
    assert "did you mean 'address.country'?" in message


def test_every_problem_is_listed_at_once():
    found = problems(attrs(behavior="upsert", fields={"nickname": "n"}, schedule="hourly"))
    assert set(found) == {("behavior",), ("fields", "nickname"), ("schedule",)}


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("metadata.crm[id]", "square brackets"),
        ("metadata." + "k" * 41, "41 characters; Stripe allows 40"),
    ],
)
def test_metadata_keys_beyond_stripe_limits_are_config_errors(key, fragment):
    assert fragment in problems(attrs(fields={key: "x"}))[("fields", key)]


def test_more_than_fifty_metadata_keys_are_refused():
    fields = {f"metadata.k{i}": f"c{i}" for i in range(51)}
    assert "51 metadata keys; Stripe allows 50" in problems(attrs(fields=fields))[("fields",)]


def test_key_stripe_field_must_be_email_id_or_metadata():
    found = problems(attrs(key={"column": "x", "stripe_field": "phone"}))
    assert found == {("key", "stripe_field"): "Value error, 'phone' is not one of: email, id, metadata.<key>"}


def test_key_by_id_only_updates():
    found = problems(attrs(key={"column": "cid", "stripe_field": "id"}))
    assert "needs behavior: update_only" in found[("key", "stripe_field")]
    config = parse_config(
        attrs(key={"column": "cid", "stripe_field": "id"}, behavior="update_only")
    )
    assert config.key.stripe_field == "id"


def test_key_field_mapped_to_another_column_is_refused():
    found = problems(attrs(fields={"email": "other_email"}))
    assert "the key writes column 'email' there" in found[("fields", "email")]

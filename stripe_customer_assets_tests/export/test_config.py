"""Config validation: every error names the sync, the defs.yaml field and what is wrong."""

from __future__ import annotations

import pytest

from stripe_customer_assets.export import ExportConfigError, parse_config


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
    assert config.model_sql.endswith("AS email")
    assert config.model_columns == ["email", "full_name", "plan", "city"]


def test_model_file_is_read_relative_to_the_defs_folder(tmp_path):
    (tmp_path / "model.sql").write_text("SELECT 1 AS email;\n")
    config = parse_config(attrs(model=None, model_file="model.sql"), base_dir=tmp_path)
    assert config.model_sql == "SELECT 1 AS email"


def test_missing_model_file_names_the_field_and_path(tmp_path):
    with pytest.raises(ExportConfigError) as err:
        parse_config(attrs(model=None, model_file="nope.sql"), base_dir=tmp_path)
    assert err.value.path == ("model_file",) and "nope.sql" in str(err.value)


def test_model_and_model_file_together_are_refused():
    with pytest.raises(ExportConfigError, match="exactly one of `model`"):
        parse_config(attrs(model_file="x.sql"))


def test_objects_other_than_customer_are_refused_clearly():
    with pytest.raises(ExportConfigError) as err:
        parse_config(attrs(object="invoice"))
    assert err.value.path == ("object",)
    assert "'invoice' cannot be exported; the only supported object is 'customer'" in str(err.value)


@pytest.mark.parametrize(
    ("attribute", "value", "path", "fragment"),
    [
        (
            "behavior",
            "upsert",
            ("behavior",),
            "not one of: update_or_create, update_only, create_only",
        ),
        ("null_values", "drop", ("null_values",), "not one of: skip, clear"),
        ("on_duplicate", "first", ("on_duplicate",), "not one of: skip, update_all, update_newest"),
        ("max_reject_percent", 120, ("max_reject_percent",), "outside 0..100"),
        ("max_change_percent", "lots", ("max_change_percent",), "not a number"),
        ("name", "crm-export", ("name",), "letters, digits or underscores"),
        ("state_schema", "a b", ("state_schema",), "plain SQL identifier"),
        ("name", "crm_plan", ("name",), "name a sync's own tables"),
    ],
)
def test_bad_scalar_attributes_name_their_field(attribute, value, path, fragment):
    with pytest.raises(ExportConfigError) as err:
        parse_config(attrs(**{attribute: value}))
    assert err.value.path == path
    assert fragment in str(err.value) and "sync '" in str(err.value)


def test_unknown_stripe_field_lists_the_writable_ones():
    with pytest.raises(ExportConfigError) as err:
        parse_config(attrs(fields={"nickname": "nick"}))
    assert err.value.path == ("fields", "nickname")
    assert "not a writable customer field" in str(err.value) and "address.city" in str(err.value)


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("metadata.crm[id]", "square brackets"),
        ("metadata." + "k" * 41, "41 characters; Stripe allows 40"),
    ],
)
def test_metadata_keys_beyond_stripe_limits_are_config_errors(key, fragment):
    with pytest.raises(ExportConfigError) as err:
        parse_config(attrs(fields={key: "x"}))
    assert err.value.path == ("fields", key) and fragment in str(err.value)


def test_more_than_fifty_metadata_keys_are_refused():
    fields = {f"metadata.k{i}": f"c{i}" for i in range(51)}
    with pytest.raises(ExportConfigError, match="51 metadata keys; Stripe allows 50"):
        parse_config(attrs(fields=fields))


def test_key_stripe_field_must_be_email_id_or_metadata():
    with pytest.raises(ExportConfigError) as err:
        parse_config(attrs(key={"column": "x", "stripe_field": "phone"}))
    assert err.value.path == ("key", "stripe_field")


def test_key_by_id_only_updates():
    with pytest.raises(ExportConfigError, match="needs behavior: update_only"):
        parse_config(attrs(key={"column": "cid", "stripe_field": "id"}))
    config = parse_config(
        attrs(key={"column": "cid", "stripe_field": "id"}, behavior="update_only")
    )
    assert config.key.stripe_field == "id"


def test_key_field_mapped_to_another_column_is_refused():
    with pytest.raises(ExportConfigError) as err:
        parse_config(attrs(fields={"email": "other_email"}))
    assert err.value.path == ("fields", "email")

import pytest

from stripe_standin.forms import FormError, encode_form, parse_form
from stripe_standin.params import validate


def test_nested_brackets_parse_into_dicts():
    assert parse_form("metadata[plan]=pro&address[line1]=1+Main&shipping[address][city]=Köln") == {
        "metadata": {"plan": "pro"},
        "address": {"line1": "1 Main"},
        "shipping": {"address": {"city": "Köln"}},
    }


def test_empty_brackets_append_to_a_list():
    assert parse_form("types[]=customer.created&types[]=customer.updated") == {
        "types": ["customer.created", "customer.updated"]
    }


def test_indexed_arrays_become_lists_when_the_schema_says_array():
    raw = parse_form("types[0]=customer.created&types[1]=customer.deleted&limit=5")
    assert validate("events.list", raw) == {
        "types": ["customer.created", "customer.deleted"],
        "limit": 5,
    }


def test_numeric_metadata_keys_stay_hash_keys():
    raw = parse_form("metadata[0]=zero&metadata[1]=one")
    assert validate("customers.create", raw)["metadata"] == {"0": "zero", "1": "one"}


def test_created_accepts_int_or_range():
    assert validate("customers.list", parse_form("created=123")) == {"created": 123}
    assert validate("customers.list", parse_form("created[gte]=1&created[lt]=9")) == {
        "created": {"gte": 1, "lt": 9}
    }


def test_blank_values_are_kept_as_unset_markers():
    assert parse_form("metadata[plan]=&name=") == {"metadata": {"plan": ""}, "name": ""}


def test_brackets_inside_a_key_segment_are_kept():
    assert parse_form("metadata[a[b]]=x") == {"metadata": {"a[b]": "x"}}


def test_conflicting_shapes_are_rejected():
    with pytest.raises(FormError):
        parse_form("address=x&address[line1]=y")


def test_encode_form_matches_stripe_python_encoding():
    assert (
        encode_form(
            {
                "metadata": {"plan": "pro"},
                "preferred_locales": ["en", "de"],
                "email": None,
                "x": True,
            }
        )
        == "metadata[plan]=pro&preferred_locales[0]=en&preferred_locales[1]=de&x=true"
    )

"""The accounts file: a valid file loads; every problem is named at its file and line."""

from __future__ import annotations

import textwrap

import pytest

from stripe_customer_assets.accounts import AccountsFileError, load_accounts, load_accounts_file
from stripe_customer_assets.accounts.config import MissingKeyError, key_value


def write(tmp_path, text: str):
    path = tmp_path / "accounts.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_a_valid_file_loads_with_its_defaults(tmp_path):
    path = write(
        tmp_path,
        """
        accounts:
          - name: eu
            api_key_env: STRIPE_API_KEY_EU
        platforms:
          - name: market
            api_key_env: STRIPE_PLATFORM_KEY
            exclude: [acct_1Skip]
            context_header: Stripe-Account
        """,
    )
    config = load_accounts_file(path)
    assert [a.name for a in config.accounts] == ["eu"]
    market = config.platform("market")
    assert market.discover and market.rate_budget == "platform" and market.max_parallel_runs == 4
    assert market.context_header == "Stripe-Account" and market.exclude == ["acct_1Skip"]


def test_unset_means_the_single_account_deployment(tmp_path):
    assert load_accounts({}) is None
    assert load_accounts(
        {"STRIPE_ACCOUNTS_FILE": str(write(tmp_path, "accounts: [{name: a, api_key_env: K}]"))}
    )


def test_every_problem_is_named_at_its_file_line_and_field(tmp_path):
    path = write(
        tmp_path,
        """
        accounts:
          - name: eu
            api_key_env: K_EU
          - name: EU
            api_key_env: 1BAD
            rate: 3
        platforms:
          - name: market
            api_key_env: P
            max_parallel_runs: 0
            accounts: [acct_1, nope]
            rate_budget: shared
        """,
    )
    with pytest.raises(AccountsFileError) as err:
        load_accounts_file(path)
    lines = str(err.value).splitlines()
    assert lines[0].startswith(f"{path}:4 accounts.1.name: 'EU' is not an account name")
    assert lines[1].startswith(
        f"{path}:5 accounts.1.api_key_env: '1BAD' is not an environment variable name"
    )
    assert lines[2].startswith(f"{path}:6 accounts.1.rate: unknown attribute 'rate'")
    assert (
        lines[3]
        == f"{path}:10 platforms.0.max_parallel_runs: Input should be greater than or equal to 1"
    )
    assert (
        lines[4]
        == f"{path}:11 platforms.0.accounts: 'nope' is not a connected account id (acct_...)"
    )
    assert lines[5].startswith(
        f"{path}:12 platforms.0.rate_budget: Input should be 'platform' or 'account'"
    )
    assert len(lines) == 6


def test_duplicate_names_and_connected_account_ids_are_refused(tmp_path):
    path = write(
        tmp_path,
        """
        accounts:
          - name: eu
            api_key_env: K
        platforms:
          - name: eu
            api_key_env: P
            accounts: [acct_1]
          - name: other
            api_key_env: P
            accounts: [acct_1]
        """,
    )
    with pytest.raises(AccountsFileError) as err:
        load_accounts_file(path)
    assert str(err.value).splitlines() == [
        f"{path}:5 platforms.0.name: 'eu' is already the name of accounts.0",
        f"{path}:10 platforms.1.accounts.0: 'acct_1' is already listed by platform 'eu'",
    ]


def test_a_plain_name_cannot_look_like_a_connected_account(tmp_path):
    with pytest.raises(AccountsFileError, match="acct_ names are Stripe's"):
        load_accounts_file(write(tmp_path, "accounts: [{name: acct_x, api_key_env: K}]"))


def test_an_empty_or_missing_file_is_refused(tmp_path):
    with pytest.raises(AccountsFileError, match="names no account and no platform"):
        load_accounts_file(write(tmp_path, "accounts: []"))
    with pytest.raises(AccountsFileError, match="STRIPE_ACCOUNTS_FILE=.*cannot read it"):
        load_accounts_file(tmp_path / "absent.yaml")


def test_a_missing_key_names_the_variable_and_the_account(monkeypatch):
    monkeypatch.delenv("STRIPE_KEY_NOWHERE", raising=False)
    with pytest.raises(
        MissingKeyError, match="account 'eu': the environment variable STRIPE_KEY_NOWHERE"
    ):
        key_value("STRIPE_KEY_NOWHERE", "account 'eu'")

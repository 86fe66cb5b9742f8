"""The accounts file (``STRIPE_ACCOUNTS_FILE``): which Stripe accounts one deployment mirrors.

```yaml
accounts:                 # plain accounts, each with its own key
  - name: eu
    api_key_env: STRIPE_API_KEY_EU
    rate_limit: 0         # requests/s (0: Stripe's default for the key's mode)
platforms:                # Connect platforms
  - name: market
    api_key_env: STRIPE_PLATFORM_KEY
    discover: true        # connected accounts from GET /v1/accounts, every sweep
    accounts: []          # explicit acct_ ids (added to, or instead of, discovery)
    exclude: []           # acct_ ids never mirrored
    context_header: Stripe-Context   # or Stripe-Account
    rate_budget: platform # platform: connected accounts share the platform's rate limit
    rate_limit: 0         # the platform's budget, requests/s (0: Stripe's default)
    max_parallel_runs: 4  # mirror runs for this platform's accounts at once
```

The file holds the names of environment variables, never a key. Every problem of a file is
reported at once as ``<file>:<line> <field>: <message>``. Whether each variable is set is
checked when a key is needed (``key_value``), so definitions load without the secrets.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from dagster_shared.yaml_utils import parse_yaml_with_source_position
from pydantic import Field, ValidationError, field_validator, model_validator

from stripe_customer_assets.config_model import StrictModel, problem, raise_problems

ACCOUNTS_FILE_ENV = "STRIPE_ACCOUNTS_FILE"
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
ACCT_PATTERN = r"^acct_[A-Za-z0-9]+$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class AccountsFileError(ValueError):
    """The accounts file is missing, not YAML, or not a valid accounts file."""


class MissingKeyError(RuntimeError):
    """The environment variable an account's key comes from is not set."""


def _check_env_name(value: str) -> str:
    if not re.fullmatch(ENV_PATTERN, value):
        raise ValueError(f"'{value}' is not an environment variable name (letters, digits, '_')")
    return value


def _check_name(value: str) -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(
            f"'{value}' is not an account name: a lowercase letter, then up to 62 lowercase "
            "letters, digits, '_' or '-'"
        )
    if value.startswith("acct_"):
        raise ValueError(f"'{value}' looks like a connected account id: acct_ names are Stripe's")
    return value


def _check_acct_ids(values: list[str]) -> list[str]:
    for value in values:
        if not re.fullmatch(ACCT_PATTERN, value):
            raise ValueError(f"'{value}' is not a connected account id (acct_...)")
    return values


class PlainAccount(StrictModel):
    """A Stripe account reached with its own key; its ``name`` is its account key."""

    name: str = Field(description="The account key: the `account` column, the partition.")
    api_key_env: str = Field(description="The environment variable holding the account's key.")
    rate_limit: float = Field(default=0.0, ge=0, description="Requests/s (0: Stripe's default).")

    _env = field_validator("api_key_env")(classmethod(lambda cls, v: _check_env_name(v)))
    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))


class Platform(StrictModel):
    """A Connect platform: its connected accounts are reached with its key plus a header."""

    name: str = Field(description="The platform's name (in the registry).")
    api_key_env: str = Field(description="The environment variable holding the platform's key.")
    discover: bool = Field(
        default=True, description="List connected accounts with GET /v1/accounts."
    )
    accounts: list[str] = Field(default_factory=list, description="Explicit acct_ ids to mirror.")
    exclude: list[str] = Field(default_factory=list, description="acct_ ids never mirrored.")
    context_header: Literal["Stripe-Context", "Stripe-Account"] = "Stripe-Context"
    rate_budget: Literal["platform", "account"] = Field(
        default="platform",
        description="platform: all connected accounts share the platform's rate; account: one each.",
    )
    rate_limit: float = Field(
        default=0.0, ge=0, description="The platform's budget, requests/s (0: default)."
    )
    max_parallel_runs: int = Field(
        default=4, ge=1, description="Mirror runs for its accounts at once."
    )

    _env = field_validator("api_key_env")(classmethod(lambda cls, v: _check_env_name(v)))
    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))
    _ids = field_validator("accounts", "exclude")(classmethod(lambda cls, v: _check_acct_ids(v)))


class AccountsConfig(StrictModel):
    accounts: list[PlainAccount] = Field(default_factory=list)
    platforms: list[Platform] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> AccountsConfig:
        found = []
        if not self.accounts and not self.platforms:
            found.append(problem(("accounts",), "the file names no account and no platform"))
        names: dict[str, str] = {}
        for kind, items in (("accounts", self.accounts), ("platforms", self.platforms)):
            for i, item in enumerate(items):
                if item.name in names:
                    found.append(
                        problem(
                            (kind, i, "name"),
                            f"'{item.name}' is already the name of {names[item.name]}",
                        )
                    )
                else:
                    names[item.name] = f"{kind}.{i}"
        owner: dict[str, str] = {}
        for i, platform in enumerate(self.platforms):
            for j, acct in enumerate(platform.accounts):
                if acct in owner:
                    found.append(
                        problem(
                            ("platforms", i, "accounts", j),
                            f"'{acct}' is already listed by {owner[acct]}",
                        )
                    )
                else:
                    owner[acct] = f"platform '{platform.name}'"
        raise_problems("accounts file", found)
        return self

    # -- lookups --------------------------------------------------------------------

    def plain(self, name: str) -> PlainAccount | None:
        return next((a for a in self.accounts if a.name == name), None)

    def platform(self, name: str) -> Platform | None:
        return next((p for p in self.platforms if p.name == name), None)


def key_value(env_name: str, who: str) -> str:
    """The key in ``env_name``, at run time; a clear error naming the variable and ``who``."""
    value = os.environ.get(env_name, "").strip()
    if not value:
        raise MissingKeyError(
            f"{who}: the environment variable {env_name} (its api_key_env in {ACCOUNTS_FILE_ENV}) is not set"
        )
    return value


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(file)"


def load_accounts_file(path: str | Path) -> AccountsConfig:
    """Read and check an accounts file; every problem as ``<file>:<line> <field>: <message>``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise AccountsFileError(
            f"{ACCOUNTS_FILE_ENV}={path}: cannot read it ({err.strerror})"
        ) from None
    try:
        parsed = parse_yaml_with_source_position(text, filename=str(path))
    except (yaml.YAMLError, ValueError) as err:  # yaml errors carry their own line
        raise AccountsFileError(f"{path}: not valid YAML: {err}") from None
    value = parsed.value if parsed.value is not None else {}
    if not isinstance(value, dict):
        raise AccountsFileError(
            f"{path}:1 (file): expected a mapping with 'accounts' and/or 'platforms'"
        )
    try:
        return AccountsConfig.model_validate(value)
    except ValidationError as err:
        lines = []
        for error in err.errors():
            loc = tuple(error["loc"])
            position, _ = parsed.source_position_tree.lookup_closest_and_path(list(loc), None)
            message = error["msg"].removeprefix("Value error, ")
            lines.append(
                (position.start.line, f"{path}:{position.start.line} {_field(loc)}: {message}")
            )
        lines.sort(key=lambda item: item[0])
        raise AccountsFileError("\n".join(text for _, text in lines)) from None


def load_accounts(environ: Any = None) -> AccountsConfig | None:
    """The accounts of this deployment from ``STRIPE_ACCOUNTS_FILE``; None when it is unset."""
    environ = os.environ if environ is None else environ
    path = (environ.get(ACCOUNTS_FILE_ENV) or "").strip()
    return load_accounts_file(path) if path else None

"""Warehouse failures the user can act on, worded so: which setting, what happened, what to do.

Opening the warehouse fails for reasons outside the project: a server that does not answer
or refuses the login, a DuckDB file another program holds, a file or directory that cannot
be written, a URL that does not parse. Each becomes a ``WarehouseError`` naming
``WAREHOUSE_URL`` (shown with its password masked) and the fix. Errors of SQL statements
inside a transaction are not translated: they name their own table or model.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url

VARIABLE = "WAREHOUSE_URL"


class WarehouseError(RuntimeError):
    """A warehouse problem the user can act on (URL, permissions, SQL)."""


def masked(url: str) -> str:
    """``url`` with any password shown as ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is not shown at all
        return "(a value that is not a URL; not shown, it may hold a password)"


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:  # noqa: BLE001 - no URL, no password to hide
        return None


def _first_lines(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err)
    text = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", text)
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def explain(err: BaseException, url: str, dialect: str) -> WarehouseError:
    """``err``, raised while opening the warehouse at ``url``, as an actionable error."""
    detail = _first_lines(err)
    secret = _password(url)
    if secret:
        detail = detail.replace(secret, "***")
    lower = detail.lower()
    if dialect == "duckdb" and ("could not set lock" in lower or "conflicting lock" in lower):
        what = "the DuckDB file is open in another program, and DuckDB lets one process write a file"
        fix = (
            "close the other program (a DuckDB shell, a notebook, a BI tool) or wait for it, "
            "or use PostgreSQL for concurrent work"
        )
    elif isinstance(err, TimeoutError) or "timed out" in lower:
        what = "another process held the warehouse for longer than the wait"
        fix = "let the other run finish (or stop it), or use PostgreSQL for concurrent work"
    elif any(s in lower for s in ("permission denied", "operation not permitted", "read-only", "read only")):
        what = "the warehouse cannot be written"
        fix = (
            "make the database file, its directory and its .lock file writable by this user, "
            f"or point {VARIABLE} at a writable place"
        )
    elif dialect == "postgresql":
        what = "the PostgreSQL server could not be reached or refused the connection"
        fix = f"check that the server runs and that the host, port, database, user and password in {VARIABLE} are right"
    else:
        what = "the warehouse could not be opened"
        fix = f"check {VARIABLE}"
    return WarehouseError(f"{VARIABLE}={masked(url)}: {what} ({detail}); {fix}.")


def bad_url(err: BaseException, url: str) -> WarehouseError:
    """A URL that does not parse or names a driver that is not installed."""
    return WarehouseError(
        f"{VARIABLE}={masked(url)} is not a usable SQLAlchemy URL ({_first_lines(err)}); use e.g. "
        "postgresql+psycopg2://user:password@host:5432/db or duckdb:///path/to/warehouse.duckdb."
    )

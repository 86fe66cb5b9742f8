"""Stripe's OpenAPI description: locating, loading (with a JSON cache) and the subset the
stand-in ships.

The stand-in validates request parameters against the request schemas of the operations it
serves. Those schemas are extracted from ``spec3.yaml`` (API version 2023-08-16) into
``spec_subset.json`` beside this module, so the server needs neither the 4 MB YAML file nor
PyYAML at run time. ``python -m stripe_standin --write-spec-subset [SPEC3_YAML]``
regenerates the subset; a test checks that the shipped file matches the spec.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

API_VERSION = "2023-08-16"

#: endpoint name -> (HTTP method, path template) for every operation the stand-in serves.
OPERATIONS: dict[str, tuple[str, str]] = {
    "account.retrieve": ("get", "/v1/account"),
    "accounts.list": ("get", "/v1/accounts"),
    "accounts.create": ("post", "/v1/accounts"),
    "accounts.retrieve": ("get", "/v1/accounts/{account}"),
    "accounts.delete": ("delete", "/v1/accounts/{account}"),
    "customers.list": ("get", "/v1/customers"),
    "customers.create": ("post", "/v1/customers"),
    "customers.retrieve": ("get", "/v1/customers/{customer}"),
    "customers.update": ("post", "/v1/customers/{customer}"),
    "customers.delete": ("delete", "/v1/customers/{customer}"),
    "events.list": ("get", "/v1/events"),
    "events.retrieve": ("get", "/v1/events/{id}"),
    "balance.retrieve": ("get", "/v1/balance"),
    "test_clocks.list": ("get", "/v1/test_helpers/test_clocks"),
    "test_clocks.create": ("post", "/v1/test_helpers/test_clocks"),
    "test_clocks.retrieve": ("get", "/v1/test_helpers/test_clocks/{test_clock}"),
    "test_clocks.delete": ("delete", "/v1/test_helpers/test_clocks/{test_clock}"),
    "test_clocks.advance": ("post", "/v1/test_helpers/test_clocks/{test_clock}/advance"),
}

SUBSET_PATH = Path(__file__).with_name("spec_subset.json")
SPEC_ENV_VAR = "STRIPE_OPENAPI_SPEC"

_DROP_KEYS = {"description", "x-stripeBypassValidation", "title"}


def find_spec(start: Path | None = None) -> Path | None:
    """Return the path of ``spec3.yaml`` if one can be found, else None.

    Looks at ``$STRIPE_OPENAPI_SPEC``, then ``stripe-openapi/spec3.yaml`` in the project root,
    then in a ``shared/`` folder beside the project root.
    """
    env = os.environ.get(SPEC_ENV_VAR)
    if env:
        p = Path(env)
        return p if p.is_file() else None
    root = (start or Path(__file__)).resolve()
    candidates: list[Path] = []
    for parent in [root, *root.parents]:
        if (parent / "pyproject.toml").is_file():
            candidates += [
                parent / "stripe-openapi" / "spec3.yaml",
                parent / "docs" / "stripe-openapi" / "spec3.yaml",
                parent.parent / "shared" / "stripe-openapi" / "spec3.yaml",
            ]
            break
    for c in candidates:
        if c.is_file():
            return c
    return None


def load_spec(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Load spec3.yaml, caching the parsed form as JSON in the temp dir (keyed by mtime/size)."""
    p = Path(path) if path is not None else find_spec()
    if p is None:
        raise FileNotFoundError(
            f"spec3.yaml not found; set ${SPEC_ENV_VAR} to the path of Stripe's spec3.yaml"
        )
    st = p.stat()
    cache = Path(tempfile.gettempdir()) / f"stripe-spec3-{st.st_mtime_ns}-{st.st_size}.json"
    if cache.is_file():
        try:
            with cache.open("rb") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    import yaml  # only needed when the cache is cold

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with p.open("rb") as f:
        spec = yaml.load(f, Loader=loader)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(spec, f)
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)
    return spec


def _strip(node: Any, names: bool = False) -> Any:
    """Drop documentation keys from a schema; ``names`` marks a ``properties`` map, whose keys
    are field names (a field may well be called ``description``)."""
    if isinstance(node, dict):
        if names:
            return {k: _strip(v) for k, v in node.items()}
        return {
            k: _strip(v, names=(k == "properties")) for k, v in node.items() if k not in _DROP_KEYS
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def extract_subset(spec: dict[str, Any]) -> dict[str, Any]:
    """The request schemas of OPERATIONS plus the expandable fields of the returned objects."""
    ops: dict[str, Any] = {}
    for name, (method, path) in OPERATIONS.items():
        op = spec["paths"][path][method]
        query: dict[str, Any] = {}
        for prm in op.get("parameters", []):
            if prm["in"] == "query":
                query[prm["name"]] = _strip(prm["schema"])
        body: dict[str, Any] = {}
        required: list[str] = []
        rb = op.get("requestBody")
        if rb:
            schema = rb["content"]["application/x-www-form-urlencoded"]["schema"]
            body = _strip(schema.get("properties", {}), names=True)
            required = list(schema.get("required", []))
        ops[name] = {
            "method": method,
            "path": path,
            "query": query,
            "body": body,
            "body_required": required,
        }
    schemas = spec["components"]["schemas"]
    return {
        "api_version": spec["info"]["version"],
        "operations": ops,
        "expandable": {
            "account": list(schemas["account"].get("x-expandableFields", [])),
            "customer": list(schemas["customer"].get("x-expandableFields", [])),
            "event": list(schemas["event"].get("x-expandableFields", [])),
        },
    }


def load_subset() -> dict[str, Any]:
    with SUBSET_PATH.open("rb") as f:
        return json.load(f)


def write_subset(spec_path: str | os.PathLike[str] | None = None) -> Path:
    subset = extract_subset(load_spec(spec_path))
    text = json.dumps(subset, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    SUBSET_PATH.write_text(text, encoding="utf-8")
    return SUBSET_PATH

"""Python transforms: ``module:function``, called once per customer.

``.module:function`` names a module beside the pipeline's defs.yaml (``.transform:pro_customer``
is ``transform.py`` in that folder), imported within the folder's package.

Signature: ``function(customer: dict) -> dict | None``. ``customer`` is the Stripe customer
as Stripe returned it (``created`` in epoch seconds, ``metadata`` a dict). The function
returns model properties (a dict), or None to leave the customer out of the table. An
exception rejects that customer only, with the exception as the reason.

Per customer rather than per DataFrame: the same contract as JavaScript's
``transform(customer)``, so the two are interchangeable, and a failure rejects one
customer instead of the whole batch.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from typing import Any

CustomerFunction = Callable[[dict[str, Any]], dict[str, Any] | None]


def load_function(spec: str, package: str | None = None) -> CustomerFunction:
    """Import ``module:function`` (``.module:function``: within ``package``, the defs.yaml's
    folder); raises ValueError saying what is missing."""
    module_name, sep, function_name = (spec or "").partition(":")
    if not sep or not module_name.strip() or not function_name.strip():
        raise ValueError(
            f"'{spec}' must be 'module:function', e.g. my_project.transforms:customer_row, or "
            "'.module:function' for a module beside the defs.yaml, e.g. .transform:customer_row"
        )
    module_name, function_name = module_name.strip(), function_name.strip()
    if module_name.startswith("."):
        if package is None:
            raise ValueError(
                f"'{spec}' is relative to a defs.yaml, and this configuration has none; "
                "use 'package.module:function'"
            )
        module_name = package + module_name
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module '{module_name}': {err}") from None
    except Exception as err:  # noqa: BLE001 - the module itself failed while importing
        raise ValueError(
            f"module '{module_name}' failed to import: {type(err).__name__}: {err}"
        ) from None
    function = module
    for part in function_name.split("."):
        function = getattr(function, part, None)
        if function is None:
            raise ValueError(f"module '{module_name}' has no function '{function_name}'")
    if not callable(function):
        raise ValueError(f"'{spec}' is not a function")  # noqa: TRY004 - a config problem
    return function  # type: ignore[return-value]


def code_fingerprint(function: CustomerFunction) -> str:
    """A hash of the function's source, so that changing its code rebuilds the table."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = getattr(function, "__qualname__", repr(function))
    return hashlib.sha256(source.encode()).hexdigest()[:16]

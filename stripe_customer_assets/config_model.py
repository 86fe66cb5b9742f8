"""What the two components' configuration models share: strict models and located problems.

A component's attributes are one pydantic model (``pipeline.config.PipelineConfig``,
``export.config.ExportConfig``): pydantic lists every problem of a file at once, each at
its attribute path (``filters.conditions.0.operator``), and the component has Dagster place
each at its file and line. Validators that find several problems raise them together with
``problems``; an unknown attribute is named with the ones that exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails

Loc = tuple[str | int, ...]


def problem(loc: Loc, message: str, value: Any = None) -> InitErrorDetails:
    """One problem at ``loc`` (relative to the model being validated)."""
    return InitErrorDetails(type="value_error", loc=loc, input=value, ctx={"error": message})


def raise_problems(title: str, found: Iterable[InitErrorDetails]) -> None:
    """Raise every problem found as one ValidationError (nothing when there is none)."""
    found = list(found)
    if found:
        raise ValidationError.from_exception_data(title, found)


class StrictModel(BaseModel):
    """Unknown keys are refused, naming the keys that exist (and the closest one)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="wrap")
    @classmethod
    def _name_unknown_keys(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as err:
            known = [f.alias or name for name, f in cls.model_fields.items()]
            errors: list[Any] = []
            for error in err.errors():
                if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
                    errors.append(
                        problem(error["loc"], unknown_key(str(error["loc"][0]), known), error["input"])
                    )
                else:
                    errors.append(error)
            raise ValidationError.from_exception_data(err.title, errors) from None


def unknown_key(name: str, known: list[str]) -> str:
    close = get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown attribute '{name}'; {hint}use one of: {', '.join(known)}"


def check_cron(value: str | None) -> str | None:
    """A cron expression Dagster schedules on (five fields, UTC), or ValueError saying so."""
    if value is None:
        return None
    import dagster as dg

    text = value.strip()
    try:
        dg.ScheduleDefinition(name="cron", cron_schedule=text, target=dg.AssetSelection.all())
    except dg.DagsterInvalidDefinitionError:
        raise ValueError(
            f"'{value}' is not a valid cron expression; use five fields (minute hour day month "
            "weekday), e.g. '0 * * * *' (hourly) or '*/15 * * * *'"
        ) from None
    return text

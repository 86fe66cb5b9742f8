"""Configuration problems: what is wrong, in which field, in which file (and line, when known)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a pipeline's configuration. ``path`` is relative to ``attributes``."""

    path: FieldPath
    message: str
    line: int | None = None

    @property
    def field(self) -> str:
        return field_name(self.path)


def field_name(path: FieldPath) -> str:
    """``("filters", "conditions", 0, "operator")`` -> ``filters.conditions[0].operator``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "attributes"


class PipelineConfigError(ValueError):
    """A pipeline's configuration is invalid; the message lists every problem found."""

    def __init__(self, pipeline: str, source: str | None, problems: Sequence[ConfigProblem]):
        self.pipeline = pipeline
        self.source = source
        self.problems = list(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        where = f" in {self.source}" if self.source else ""
        lines = [f"Import pipeline '{self.pipeline}'{where} is invalid:"]
        for problem in self.problems:
            at = f"line {problem.line}, " if problem.line else ""
            lines.append(f"  - {at}attributes.{problem.field}: {problem.message}")
        return "\n".join(lines)

    def located(self, line_of: Callable[[FieldPath], int | None]) -> PipelineConfigError:
        """The same error with line numbers looked up by ``line_of``."""
        problems = [replace(p, line=p.line or line_of(p.path)) for p in self.problems]
        problems.sort(key=lambda p: p.line or 0)
        return PipelineConfigError(self.pipeline, self.source, problems)


class PipelineRunError(RuntimeError):
    """A run cannot proceed for a reason the user can act on (mirror missing, table clash)."""

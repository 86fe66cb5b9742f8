"""What a scenario reports, and the tables the benchmark prints."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of the results table.

    ``achieved`` and ``ideal`` are in ``unit``; ``higher_is_better`` says which way the
    ratio is taken, so ``ratio`` is always "fraction of ideal" (1.0 = at the ideal).
    """

    scenario: str
    label: str
    unit: str
    achieved: float
    ideal: float | None = None
    baseline: float | None = None
    baseline_note: str = ""
    target: str = ""
    met: bool | None = None
    higher_is_better: bool = False
    runs: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ideal is None or not self.achieved or not self.ideal:
            return None
        return self.achieved / self.ideal if self.higher_is_better else self.ideal / self.achieved

    @property
    def vs_baseline(self) -> float | None:
        """How many times better than the baseline (``None`` without one)."""
        if self.baseline is None or not self.achieved or not self.baseline:
            return None
        return self.achieved / self.baseline if self.higher_is_better else self.baseline / self.achieved

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["vs_baseline"] = self.vs_baseline
        return data


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("s", "calls", "MB"):
        text = f"{value:,.0f}" if unit == "calls" else f"{value:,.1f}" if unit == "MB" else f"{value:,.2f}"
    elif abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:,.1f}"
    else:
        text = f"{value:,.3g}"
    return f"{text} {unit}".strip()


def table(rows: Sequence[Row], *, markdown: bool = False) -> str:
    """The results as a fixed-width (or Markdown) table."""
    head = ["scenario", "achieved", "ideal", "achieved/ideal", "baseline", "vs baseline", "target", "met"]
    body = []
    for r in rows:
        runs = f" (median of {len(r.runs)})" if len(r.runs) > 1 else ""
        body.append(
            [
                f"{r.scenario}: {r.label}",
                _num(r.achieved, r.unit) + runs,
                _num(r.ideal, r.unit),
                "-" if r.ratio is None else f"{r.ratio:.2f}",
                _num(r.baseline, r.unit) + (f" ({r.baseline_note})" if r.baseline_note else ""),
                "-" if r.vs_baseline is None else f"{r.vs_baseline:,.1f}x",
                r.target or "-",
                {True: "yes", False: "NO", None: "-"}[r.met],
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "/") for cell in line) + " |" for line in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(line[i]) for line in body)) if body else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in body]
    return "\n".join(out)


def to_json(rows: Sequence[Row], context: dict[str, Any]) -> str:
    return json.dumps({"context": context, "rows": [r.as_dict() for r in rows]}, indent=2, default=str)

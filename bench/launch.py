"""Scenario 7: a run end to end, as a user starts it (``dg launch``), next to Dagster's floor.

Each command runs in a process of its own under ``/usr/bin/time`` (wall seconds, peak RSS),
with one DAGSTER_HOME holding the project's dagster.yaml, against a stand-in process with no
latency and no rate limit (the client's own pacing lifted, ``STRIPE_RATE_LIMIT``), bytecode
cached as on a user's machine (each command ran once before):

- floor: ``dg launch --assets trivial`` of a one-asset project in a temporary folder, with
  Dagster's default executor and with the in-process executor (the cheapest run Dagster has);
- no changes: ``dg launch --assets stripe/customers`` on a current mirror (one events call);
- full scan: the same on an empty warehouse (N customers listed and mirrored);
- naive: ``python -m bench.naive`` (stripe-python's ``auto_paging_iter`` into pandas
  ``to_sql``, bench/naive.py) listing and loading the same N customers.

The commands of one round run one after the other and the rounds repeat, so a change in the
machine's load touches every command alike; each figure is the median of the rounds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from bench.report import Row, median
from bench.standin import StandinProcess

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NO_PACING = "10000"  # requests/s: the stand-in has no rate limit here
# Targets: a run with nothing to do within 1.5x of the floor; a full scan faster than naive.
NO_CHANGES_VS_FLOOR = 1.5

FLOOR_DEFS = '''\
import dagster as dg


@dg.asset
def trivial() -> int:
    return 1


defs = dg.Definitions(assets=[trivial]{executor})
'''


@dataclass
class Timed:
    seconds: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # user + system, the command's processes

    def add(self, seconds: float, rss_mb: float, cpu_s: float) -> None:
        self.seconds.append(seconds)
        self.peak_rss_mb.append(rss_mb)
        self.cpu_s.append(cpu_s)


def floor_project(folder: Path, *, in_process: bool) -> Path:
    """A one-asset dg project (its module importable from the folder)."""
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "floor"
            version = "0"

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "floor"
            code_location_target_module = "floor.definitions"
            """
        )
    )
    (folder / "floor").mkdir()
    (folder / "floor" / "__init__.py").write_text("")
    executor = ", executor=dg.in_process_executor" if in_process else ""
    (folder / "floor" / "definitions.py").write_text(FLOOR_DEFS.format(executor=executor))
    return folder


def timed(argv: list[str], cwd: Path, env: dict[str, str], expect: str | None = None) -> tuple[float, float, float]:
    """Run ``argv`` under /usr/bin/time: (wall s, peak RSS MB, CPU s)."""
    marker = "BENCH_TIME"
    done = subprocess.run(
        ["/usr/bin/time", "-f", f"{marker} %e %M %U %S", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = re.findall(rf"{marker} ([\d.]+) (\d+) ([\d.]+) ([\d.]+)", done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    if expect and not re.search(expect, done.stdout + done.stderr):
        raise AssertionError(f"{' '.join(argv)}: no {expect!r} in its output:\n{done.stderr[-4000:]}")
    seconds, rss_kb, user, system = found[-1]
    return float(seconds), int(rss_kb) / 1024, float(user) + float(system)


def mirror_rows(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM stripe.customers").fetchone()[0])


def run_launch(
    standin: StandinProcess, work: Path, customers: int, rounds: int, say, compare_with: Path | None = None
) -> dict[str, Timed]:
    """Every command once unmeasured, then ``rounds`` rounds. ``compare_with``: another checkout
    of the project (with its own .venv) whose mirror runs are measured in the same rounds."""
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    floor_default = floor_project(work / "floor_default", in_process=False)
    floor_in_process = floor_project(work / "floor_in_process", in_process=True)
    # Bytecode cached as on a user's machine (PYTHONDONTWRITEBYTECODE, set on CI machines, would
    # compile Dagster from source in every process), outside the work tree.
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "WAREHOUSE_", "DAGSTER_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    base |= {"DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1", "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    stripe = {
        "STRIPE_API_KEY": standin.api_key,
        "STRIPE_API_BASE": standin.url,
        "STRIPE_RATE_LIMIT": NO_PACING,
        "STRIPE_ENDPOINT_RATE_LIMIT": NO_PACING,
    }
    dg = str(BIN / "dg")
    mirror = [dg, "launch", "--assets", "stripe/customers"]
    projects = {"": (ROOT, mirror)}
    if compare_with is not None:
        projects["other_"] = (compare_with, [str(compare_with / ".venv" / "bin" / "dg"), *mirror[1:]])
    # Once each, unmeasured: the bytecode cache, and the mirror that "no changes" runs on.
    for prefix, (root, command) in projects.items():
        timed(command, root, base | stripe | {"WAREHOUSE_URL": f"duckdb:///{work / f'{prefix}current.duckdb'}"})
    for floor in (floor_default, floor_in_process):
        timed([dg, "launch", "--assets", "trivial"], floor, base)
    warm = work / "warm.duckdb"
    timed([sys.executable, "-m", "bench.naive", standin.api_key, standin.url, str(warm)], ROOT, base)
    warm.unlink()
    names = ["floor_default", "floor_in_process", "no_changes", "full_scan", "naive"]
    names += [f"other_{n}" for n in ("no_changes", "full_scan") if compare_with is not None]
    results = {name: Timed() for name in names}
    for i in range(rounds):
        say(f"launch round {i + 1} of {rounds}")
        results["floor_default"].add(*timed([dg, "launch", "--assets", "trivial"], floor_default, base))
        results["floor_in_process"].add(*timed([dg, "launch", "--assets", "trivial"], floor_in_process, base))
        for prefix, (root, command) in projects.items():
            current = work / f"{prefix}current.duckdb"
            results[f"{prefix}no_changes"].add(
                *timed(command, root, base | stripe | {"WAREHOUSE_URL": f"duckdb:///{current}"},
                       expect=r"incremental refresh \([^)]*\): \+0 ~0 -0")
            )
            fresh = work / f"{prefix}full_{i}.duckdb"
            results[f"{prefix}full_scan"].add(
                *timed(command, root, base | stripe | {"WAREHOUSE_URL": f"duckdb:///{fresh}"}, expect=r"full refresh")
            )
            if mirror_rows(fresh) != customers:
                raise AssertionError(f"the launched full scan mirrored {mirror_rows(fresh)} of {customers} customers")
            fresh.unlink()
        naive_db = work / f"naive_{i}.duckdb"
        argv = [sys.executable, "-m", "bench.naive", standin.api_key, standin.url, str(naive_db)]
        results["naive"].add(*timed(argv, ROOT, base, expect=rf"{customers} customers"))
        naive_db.unlink()
        say("; ".join(f"{k} {v.seconds[-1]:.2f}s ({v.cpu_s[-1]:.2f}s CPU)" for k, v in results.items()))
    return results


def launch_rows(customers: int, results: dict[str, Timed]) -> list[Row]:
    med = {name: median(t.seconds) for name, t in results.items()}
    cpu = {name: median(t.cpu_s) for name, t in results.items()}
    rss = {name: median(t.peak_rss_mb) for name, t in results.items()}
    floor = med["floor_in_process"]

    def details(name: str, **more: object) -> dict[str, object]:
        return {"runs_s": results[name].seconds, "cpu_s": cpu[name], "cpu_runs_s": results[name].cpu_s,
                "peak_rss_mb": rss[name], **more}

    rows = [
        Row("dg launch", "trivial one-asset job, Dagster's default executor", "s", med["floor_default"],
            runs=results["floor_default"].seconds, details=details("floor_default")),
        Row("dg launch", "trivial one-asset job, in-process executor (the floor)", "s", floor,
            runs=results["floor_in_process"].seconds, details=details("floor_in_process")),
        Row("dg launch", "stripe/customers, no changes (one events call)", "s", med["no_changes"], ideal=floor,
            target=f"<= {NO_CHANGES_VS_FLOOR:g}x the floor", met=med["no_changes"] <= NO_CHANGES_VS_FLOOR * floor,
            runs=results["no_changes"].seconds,
            details=details("no_changes", vs_floor=med["no_changes"] / floor, cpu_vs_floor=cpu["no_changes"] / cpu["floor_in_process"])),
        Row("dg launch", f"stripe/customers, full scan of {customers:,}, no latency", "s", med["full_scan"],
            ideal=floor, baseline=med["naive"],
            baseline_note="python -m bench.naive: auto_paging_iter + to_sql, whole run",
            target="faster than the naive script", met=med["full_scan"] < med["naive"],
            runs=results["full_scan"].seconds,
            details=details("full_scan", naive_runs_s=results["naive"].seconds, naive_cpu_s=cpu["naive"],
                            naive_peak_rss_mb=rss["naive"], naive_vs_full_scan=med["naive"] / med["full_scan"])),
    ]
    for name, what in (("no_changes", "no changes"), ("full_scan", f"full scan of {customers:,}")):
        if f"other_{name}" in results:
            other = f"other_{name}"
            rows.append(Row("dg launch", f"compared checkout: stripe/customers, {what}", "s", med[other], ideal=floor,
                            runs=results[other].seconds, details=details(other, vs_floor=med[other] / floor)))
    return rows

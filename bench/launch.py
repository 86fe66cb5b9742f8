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

    def add(self, seconds: float, rss_mb: float) -> None:
        self.seconds.append(seconds)
        self.peak_rss_mb.append(rss_mb)


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


def timed(argv: list[str], cwd: Path, env: dict[str, str], expect: str | None = None) -> tuple[float, float, str]:
    """Run ``argv`` under /usr/bin/time: (wall s, peak RSS MB, its stderr)."""
    marker = "BENCH_TIME"
    done = subprocess.run(
        ["/usr/bin/time", "-f", f"{marker} %e %M", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = re.findall(rf"{marker} ([\d.]+) (\d+)", done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    if expect and not re.search(expect, done.stdout + done.stderr):
        raise AssertionError(f"{' '.join(argv)}: no {expect!r} in its output:\n{done.stderr[-4000:]}")
    seconds, rss_kb = found[-1]
    return float(seconds), int(rss_kb) / 1024, done.stderr


def mirror_rows(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM stripe.customers").fetchone()[0])


def run_launch(standin: StandinProcess, work: Path, customers: int, rounds: int, say) -> dict[str, Timed]:
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
    current = work / "current.duckdb"
    stripe = {
        "STRIPE_API_KEY": standin.api_key,
        "STRIPE_API_BASE": standin.url,
        "STRIPE_RATE_LIMIT": NO_PACING,
        "STRIPE_ENDPOINT_RATE_LIMIT": NO_PACING,
    }
    dg = str(BIN / "dg")
    mirror = [dg, "launch", "--assets", "stripe/customers"]
    # Once each, unmeasured: the bytecode cache, and the mirror that "no changes" runs on.
    timed(mirror, ROOT, base | stripe | {"WAREHOUSE_URL": f"duckdb:///{current}"})
    for floor in (floor_default, floor_in_process):
        timed([dg, "launch", "--assets", "trivial"], floor, base)
    warm = work / "warm.duckdb"
    timed([sys.executable, "-m", "bench.naive", standin.api_key, standin.url, str(warm)], ROOT, base)
    warm.unlink()
    results = {name: Timed() for name in ("floor_default", "floor_in_process", "no_changes", "full_scan", "naive")}
    for i in range(rounds):
        say(f"launch round {i + 1} of {rounds}")
        results["floor_default"].add(*timed([dg, "launch", "--assets", "trivial"], floor_default, base)[:2])
        results["floor_in_process"].add(*timed([dg, "launch", "--assets", "trivial"], floor_in_process, base)[:2])
        results["no_changes"].add(
            *timed(mirror, ROOT, base | stripe | {"WAREHOUSE_URL": f"duckdb:///{current}"},
                   expect=r"incremental refresh \([^)]*\): \+0 ~0 -0")[:2]
        )
        fresh = work / f"full_{i}.duckdb"
        results["full_scan"].add(
            *timed(mirror, ROOT, base | stripe | {"WAREHOUSE_URL": f"duckdb:///{fresh}"}, expect=r"full refresh")[:2]
        )
        if mirror_rows(fresh) != customers:
            raise AssertionError(f"the launched full scan mirrored {mirror_rows(fresh)} of {customers} customers")
        fresh.unlink()
        naive_db = work / f"naive_{i}.duckdb"
        argv = [sys.executable, "-m", "bench.naive", standin.api_key, standin.url, str(naive_db)]
        results["naive"].add(*timed(argv, ROOT, base, expect=rf"{customers} customers")[:2])
        naive_db.unlink()
        say("; ".join(f"{k} {v.seconds[-1]:.2f}s" for k, v in results.items()))
    return results


def launch_rows(customers: int, results: dict[str, Timed]) -> list[Row]:
    med = {name: median(t.seconds) for name, t in results.items()}
    rss = {name: median(t.peak_rss_mb) for name, t in results.items()}
    floor = med["floor_in_process"]
    details = {"seconds": {k: v.seconds for k, v in results.items()},
               "peak_rss_mb": {k: v.peak_rss_mb for k, v in results.items()}}
    rows = [
        Row("dg launch", "trivial one-asset job, Dagster's default executor (the floor)", "s", med["floor_default"],
            runs=results["floor_default"].seconds, details={"peak_rss_mb": rss["floor_default"]}),
        Row("dg launch", "trivial one-asset job, in-process executor (the floor)", "s", floor,
            runs=results["floor_in_process"].seconds, details={"peak_rss_mb": rss["floor_in_process"]}),
        Row("dg launch", "stripe/customers, no changes (one events call)", "s", med["no_changes"], ideal=floor,
            target=f"<= {NO_CHANGES_VS_FLOOR:g}x the in-process floor",
            met=med["no_changes"] <= NO_CHANGES_VS_FLOOR * floor, runs=results["no_changes"].seconds,
            details={**details, "peak_rss_mb": rss["no_changes"]}),
        Row("dg launch", f"stripe/customers, full scan of {customers:,}, no latency", "s", med["full_scan"],
            ideal=floor, baseline=med["naive"],
            baseline_note="python -m bench.naive: auto_paging_iter + to_sql, whole run",
            target="faster than the naive script", met=med["full_scan"] < med["naive"],
            runs=results["full_scan"].seconds, details={"peak_rss_mb": rss["full_scan"], "naive_peak_rss_mb": rss["naive"]}),
    ]
    return rows

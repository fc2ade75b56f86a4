"""The fault benchmark's report: ``faults.md`` (``hpo bench faults``)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sqlite3
import subprocess
from pathlib import Path

from hpo.bench.faults_bench import HEARTBEAT, STALE, FaultRun, run_faults_benchmark

__all__ = ["write_faults_report", "run"]

_COLUMNS = (
    ("told", "told"), ("lost", "lost"), ("overwritten", "told COMPLETE, stored FAILED"),
    ("duplicated", "duplicated"), ("requeued_twice", "re-queued more than once"),
    ("left_running", "left RUNNING"), ("wrong_study", "written into another study"),
    ("crashed", "workers crashed"),
)
_SCENARIOS = {
    "sigkill": "random SIGKILLs of 3 `optimize` workers, each restarted",
    "paused": "a worker SIGSTOPped past `stale_after` mid-trial, its trial reclaimed, then SIGCONT",
    "reclaimers": "4 processes reclaiming in a loop while 2 workers tell trials that expire meanwhile",
    "deleted": "the study deleted (and another created) while a worker writes to it",
}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _postgres_version() -> str:
    try:
        from hpo.testing.postgres import find_postgres_bindir

        out = subprocess.run([str(find_postgres_bindir() / "postgres"), "--version"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001 - only for the report's header
        return "not found"


def write_faults_report(runs: list[FaultRun], output_dir: Path, quick: bool, seed: int) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / ("faults_quick.md" if quick else "faults.md")
    command = "hpo bench faults" + (" --quick" if quick else "")
    lines = [
        f"# Fault benchmark (`{command}`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores ({_cpu()}), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, {_postgres_version()}; seed {seed}; heartbeat_interval {HEARTBEAT} s, "
        f"stale_after {STALE} s.",
        "",
        "Each worker journals (fsync) every `tell` that returned, so what was told is known outside the store. "
        "A told result is kept when its trial is COMPLETE with that value, or when the store kept it as the "
        "late result of a reclaimed trial. Targets: 0 in every column but `told`.",
        "",
        "| scenario | backend | faults | " + " | ".join(label for _, label in _COLUMNS) + " | late results kept | s |",
        "|---|---|---:|" + "---:|" * len(_COLUMNS) + "---:|---:|",
    ]
    for r in runs:
        cells = " | ".join(str(getattr(r, key)) for key, _ in _COLUMNS)
        lines.append(f"| {r.scenario} | {r.backend} | {r.faults} | {cells} | {r.late_kept} | {r.seconds:.0f} |")
    totals = {key: sum(getattr(r, key) for r in runs) for key, _ in _COLUMNS}
    bad = {k: v for k, v in totals.items() if k != "told" and v}
    lines += ["", f"**All targets met** ({totals['told']} results told, none lost)." if not bad else
              "**Targets missed**: " + ", ".join(f"{k} {v}" for k, v in bad.items()) + "."]
    lines += ["", "## Scenarios", ""] + [f"- **{name}**: {text}." for name, text in _SCENARIOS.items()]
    notes = [(r, note) for r in runs for note in r.notes]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {r.scenario} / {r.backend}: {note}" for r, note in notes]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(quick: bool, output_dir: Path, seeds: int | None = None, runs_log: str | None = None) -> Path:
    """Run the scenarios on SQLite and PostgreSQL (``--seeds N`` picks the seed; ``--runs-log`` resumes)."""
    seed = int(seeds or 0)
    runs = run_faults_benchmark(quick=quick, seed=seed, runs_log=Path(runs_log) if runs_log else None)
    return write_faults_report(runs, Path(output_dir), quick, seed)

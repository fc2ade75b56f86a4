"""The Optuna benchmark's report: ``optuna.md`` (a section per part) and ``optuna_storage.png``.

Each part of :data:`hpo.bench.optuna_bench.SECTIONS` has a writer here in :data:`WRITERS`
(``(rows, output_dir) -> markdown lines``); ``sampler``'s is filled by its own module.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpo.bench.optuna_bench import SECTIONS, StorageRun
from hpo.bench.store_report import _fmt
from hpo.errors import ConfigError

__all__ = ["WRITERS", "storage_section", "write_optuna_report", "run"]

TARGET_RATIO = 5.0
TARGET_GROWTH = 1.5


def _plot(runs: list[StorageRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in runs:
        if r.procs == 1 and r.target == max(x.target for x in runs) and r.per_trial_ms:
            xs = [100 * i + 50 for i in range(len(r.per_trial_ms))]
            ax.plot(xs, r.per_trial_ms, label=f"{r.storage} on {r.backend}",
                    linestyle="-" if r.storage == "hpo" else "--")
    ax.set_xlabel("trials in the study")
    ax.set_ylabel("ms per trial (ask + 3 suggests + tell), median of 100")
    ax.set_yscale("log")
    ax.set_title("Optuna's ask/tell loop: HpoStorage vs RDBStorage (1 process)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def storage_section(runs: list[StorageRun], output_dir: Path) -> list[str]:
    png = output_dir / "optuna_storage.png"
    _plot(runs, png)
    by_key = {r.key: r for r in runs}
    lines = [
        "## Storage: Optuna's ask/tell loop on HpoStorage vs Optuna's RDBStorage",
        "",
        "`optuna.create_study(storage=HpoStorage(url))` against `optuna.create_study(storage=url)` (RDBStorage in "
        "Optuna's cache, as users get it), RandomSampler, three parameters (float, int, categorical); trials per "
        "second over all processes after they have imported and loaded the study. RDBStorage runs are capped in "
        "time; a capped run's figure is over the trials it reached (marked *), which favours it since it slows as "
        "the history grows.",
        "",
        "| backend | trials | processes | HpoStorage trials/s | RDBStorage trials/s | HpoStorage / RDB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for r in runs:
        if r.storage != "hpo":
            continue
        o = by_key.get(("optuna-rdb", r.backend, r.target, r.procs))
        ratio = r.throughput / o.throughput if o else None
        if ratio is not None:
            ratios.append(ratio)
        o_text = "n/a" if o is None else f"{o.throughput:.1f}" + (f" * ({o.done} reached)" if o.capped else "")
        h_text = f"{r.throughput:.1f}" + (f" * ({r.done} reached)" if r.capped else "")
        lines.append(f"| {r.backend} | {r.target} | {r.procs} | {h_text} | {o_text} | {_fmt(ratio)}x |")
    lines += [
        "",
        "### Time per trial as the history grows (1 process, largest run)",
        "",
        "| storage | backend | trials reached | ms/trial at ~100 | ms/trial at the end | end / ~100 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    growths = []
    biggest = max((r.target for r in runs), default=0)
    for r in runs:
        if r.procs != 1 or r.target != biggest or r.trial_ms_at_100 is None:
            continue
        growth = r.trial_ms_at_end / r.trial_ms_at_100 if r.trial_ms_at_end else None
        if r.storage == "hpo" and growth is not None:
            growths.append(growth)
        lines.append(f"| {r.storage} | {r.backend} | {r.done} | {_fmt(r.trial_ms_at_100)} | "
                     f"{_fmt(r.trial_ms_at_end)} | {_fmt(growth)}x |")
    met_ratio = bool(ratios) and min(ratios) >= TARGET_RATIO
    met_growth = bool(growths) and max(growths) <= TARGET_GROWTH
    lines += [
        "",
        f"- Target: HpoStorage at least {TARGET_RATIO:g}x RDBStorage's throughput through Optuna's API: smallest "
        f"ratio {_fmt(min(ratios) if ratios else None)}x -> **{'met' if met_ratio else 'not met'}**.",
        f"- Target: per-trial time at the end within {TARGET_GROWTH}x of that at ~100 trials: largest growth "
        f"{_fmt(max(growths) if growths else None)}x -> **{'met' if met_growth else 'not met'}**.",
        "",
        f"![per-trial time]({png.name})",
        "",
    ]
    return lines


#: part -> its report writer (None: the part's writer is not there yet).
WRITERS: dict[str, Callable[[list[Any], Path], list[str]] | None] = {
    "storage": storage_section,
    "sampler": lambda rows, output_dir: _sampler_lines(rows, output_dir),
}


def _sampler_lines(rows: list[Any], output_dir: Path) -> list[str]:
    from hpo.bench.optuna_sampler_bench import section_lines

    return section_lines(rows, output_dir)


def write_optuna_report(results: dict[str, list[Any]], output_dir: Path, quick: bool = False) -> Path:
    md = output_dir / "optuna.md"
    lines = [
        "# Optuna benchmark (`hpo bench optuna" + (" --quick" if quick else "") + "`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores "
        f"({platform.machine()}, {platform.system()}), Python {platform.python_version()}; random sampler seeds "
        "are not fixed in the storage part (the figures are timings, not results).",
        "",
    ]
    for part, rows in results.items():
        writer = WRITERS.get(part)
        if writer is None:
            lines += [f"## {part.capitalize()}", "", "(not measured: this part has no writer yet)", ""]
        else:
            lines += writer(rows, output_dir)
    md.write_text("\n".join(lines), encoding="utf-8")
    return md


def run(quick: bool, output_dir: Path, part: str = "all", runs_log: str | None = None, processes: int = 1) -> Path:
    """``hpo bench optuna [--part storage|sampler|all] [--processes N]``: measure the parts (the sampler
    part's studies in ``processes`` processes), then write ``optuna.md``."""
    parts = list(SECTIONS) if part == "all" else [part]
    unknown = [p for p in parts if p not in SECTIONS]
    if unknown:
        raise ConfigError(f"--part: must be one of {['all', *SECTIONS]}, but got {part!r}")
    log = Path(runs_log) if runs_log else output_dir / ("optuna_runs_quick.jsonl" if quick else "optuna_runs.jsonl")
    results: dict[str, list[Any]] = {}
    for name in parts:
        func = SECTIONS[name]
        if func is None:
            if part != "all":
                raise ConfigError(f"--part {name}: this part of hpo bench optuna is not available yet")
            results[name] = []
            continue
        results[name] = func(quick, log, processes)
    return write_optuna_report(results, output_dir, quick=quick)

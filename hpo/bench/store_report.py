"""The store benchmark's report: ``store.md`` with tables and ``store_throughput.png``."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

from hpo.bench.store_bench import StoreRun

__all__ = ["write_store_report"]

TARGET_RATIO = 10.0
TARGET_GROWTH = 1.5


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def _plot(runs: list[StoreRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(r.backend, r.target, r.procs) for r in runs}, key=lambda k: (k[0], k[1], k[2]))
    labels = [f"{b}\n{n} trials x{p}" for b, n, p in keys]
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(keys)), 4.5))
    width = 0.4
    for offset, system, color in ((-width / 2, "hpo", "#1f77b4"), (width / 2, "optuna", "#ff7f0e")):
        values = []
        for key in keys:
            match = [r for r in runs if (r.backend, r.target, r.procs) == key and r.system == system]
            values.append(match[0].throughput if match else 0.0)
        ax.bar([i + offset for i in range(len(keys))], values, width, label=system, color=color)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ask+tell per second (log)")
    ax.set_title("Study store throughput, random sampler")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_store_report(runs: list[StoreRun], output_dir: Path, quick: bool = False) -> Path:
    md = output_dir / "store.md"
    png = output_dir / "store_throughput.png"
    _plot(runs, png)
    by_key = {(r.system, r.backend, r.target, r.procs): r for r in runs}
    lines = [
        "# Store benchmark (`hpo bench store" + (" --quick" if quick else "") + "`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}; random sampler, 3 parameters (float, int, categorical); "
        "ask+tell pairs per second over all processes, after the processes have started and imported.",
        "Optuna runs are capped in time; a capped run's throughput is over the trials it reached "
        "(marked *), which favours Optuna since its storage slows as the history grows.",
        "",
        "## Throughput",
        "",
        "| backend | trials | processes | hpo trials/s | Optuna RDB trials/s | hpo / Optuna |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for r in runs:
        if r.system != "hpo":
            continue
        o = by_key.get(("optuna", r.backend, r.target, r.procs))
        ratio = r.throughput / o.throughput if o else None
        if ratio is not None:
            ratios.append(ratio)
        o_text = "n/a (not run)" if o is None else f"{o.throughput:.1f}" + (f" * ({o.done} reached)" if o.capped else "")
        h_text = f"{r.throughput:.1f}" + (f" * ({r.done} reached)" if r.capped else "")
        lines.append(
            f"| {r.backend} | {r.target} | {r.procs} | {h_text} | {o_text} | {_fmt(ratio)}x |"
        )
    lines += [
        "",
        "## Time per ask as the history grows (1 process)",
        "",
        "Median over asks 50-150 and over the last 100 asks of the largest single-process run.",
        "",
        "| system | backend | trials reached | ms/ask at ~100 | ms/ask at the end | end / ~100 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    growths = []
    biggest = max(r.target for r in runs)
    for r in runs:
        if r.procs != 1 or r.target != biggest or r.ask_ms_at_100 is None:
            continue
        growth = r.ask_ms_at_end / r.ask_ms_at_100 if r.ask_ms_at_end else None
        if r.system == "hpo" and growth is not None:
            growths.append(growth)
        lines.append(
            f"| {r.system} | {r.backend} | {r.done} | {_fmt(r.ask_ms_at_100)} | {_fmt(r.ask_ms_at_end)} | {_fmt(growth)}x |"
        )
    lines += [
        "",
        "## Targets",
        "",
        f"- hpo at least {TARGET_RATIO:g}x Optuna's RDB throughput: smallest ratio measured "
        f"{_fmt(min(ratios) if ratios else None)}x -> **{'met' if ratios and min(ratios) >= TARGET_RATIO else 'not met'}**.",
        f"- per-ask time at the end within {TARGET_GROWTH}x of that at ~100 trials: largest growth "
        f"{_fmt(max(growths) if growths else None)}x -> **{'met' if growths and max(growths) <= TARGET_GROWTH else 'not met'}**.",
        "",
        f"![throughput]({png.name})",
        "",
    ]
    md.write_text("\n".join(lines))
    return md


def run(quick: bool, output_dir: Path) -> Path:
    """``hpo bench store``: measure, then write ``store.md`` and its plot."""
    from hpo.bench.store_bench import run_store_benchmark

    return write_store_report(run_store_benchmark(quick=quick), output_dir, quick=quick)

"""The report of ``hpo bench fidelity``: regret against cost, time-to-target, the targets."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from hpo.bench.fidelity_bench import (
    BUDGETS,
    METHODS,
    QUICK_BUDGET,
    RECOMMEND_EVERY,
    WORKERS,
    MAX_MODEL_TRIALS,
    FidelityRun,
    regret_on_grid,
    run_fidelity_benchmark,
    time_to_target,
)
from hpo.bench.fidelity_problems import CURVE_PROBLEMS, get_curve_problem

__all__ = ["run", "write_fidelity_report"]

_MODEL_BASED = ("asha-bo", "mfbo-kg", "mfbo-mes")
_COLORS = {"random-full": "0.45", "hyperband": "C1", "asha-random": "C2", "asha-bo": "C0", "mfbo-kg": "C3",
           "mfbo-mes": "C4"}


def _references(runs: list[FidelityRun]) -> dict[str, float]:
    """Best known loss per problem: the optimum, or the best any run found (mlp-digits)."""
    out = {}
    for name in {r.problem for r in runs}:
        optimum = get_curve_problem(name).optimum() if name != "mlp-digits" else None
        found = [min(r.incumbent) for r in runs if r.problem == name and r.incumbent]
        out[name] = optimum if optimum is not None else (min(found) if found else 0.0)
    return out


_NEVER = 1e300


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    """25th, 50th and 75th percentiles, where ``inf`` (never) sorts last and stays ``inf``."""
    arr = np.minimum(np.asarray(values, dtype=float), _NEVER)
    out = [float(np.percentile(arr, q)) for q in (25, 50, 75)]
    return tuple(math.inf if v >= _NEVER / 10 else v for v in out)  # type: ignore[return-value]


def _median(values: list[float]) -> float:
    return _quartiles(values)[1]


def _fmt(x: float, digits: int = 3) -> str:
    return "never" if math.isinf(x) else f"{x:.{digits}g}"


def _speedup(baseline: float, method: float) -> float:
    """How many times cheaper ``method`` reached the target (inf: only it did; nan: neither)."""
    if math.isinf(method):
        return math.nan
    return math.inf if math.isinf(baseline) else baseline / max(method, 1e-12)


def _fmt_speedup(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    return "only it reached" if math.isinf(x) else f"{x:.2g}x"


def _plot(runs: list[FidelityRun], refs: dict[str, float], problems: list[str], methods: list[str],
          budgets: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(problems), figsize=(4.6 * len(problems), 3.6), squeeze=False)
    for ax, problem in zip(axes.flat, problems):
        grid = np.linspace(0.0, budgets[problem], 121)
        for method in methods:
            rows = [regret_on_grid(r, refs[problem], grid) for r in runs
                    if r.problem == problem and r.method == method and r.error is None]
            if not rows:
                continue
            curves = np.vstack(rows)
            curves = np.log10(np.where(np.isfinite(curves), curves, np.nan))
            keep = np.sum(np.isfinite(curves), axis=0) * 2 > len(rows)  # most seeds have an incumbent
            if not keep.any():
                continue
            with np.errstate(all="ignore"):
                q25, med, q75 = (10.0 ** np.nanpercentile(curves[:, keep], q, axis=0) for q in (25, 50, 75))
            grid_kept = grid[keep]
            ax.plot(grid_kept, med, color=_COLORS.get(method), label=method, lw=1.6)
            ax.fill_between(grid_kept, q25, q75, color=_COLORS.get(method), alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set_title(problem, fontsize=10)
        ax.set_xlabel("cost (full-fidelity evaluations)", fontsize=8)
        ax.set_ylabel("regret at the target fidelity", fontsize=8)
        ax.grid(alpha=0.3, which="both", lw=0.4)
        ax.tick_params(labelsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle("Regret against cost: median over seeds, quartile bands", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_fidelity_report(runs: list[FidelityRun], output_dir: Path, problems: list[str], methods: list[str],
                          seeds: int, quick: bool) -> Path:
    ok = [r for r in runs if r.error is None]
    refs = _references(ok)
    budgets = {p: float(QUICK_BUDGET if quick else BUDGETS[p]) for p in problems}
    plot_path = output_dir / "fidelity_regret.png"
    _plot(ok, refs, problems, methods, budgets, plot_path)
    hosts = Counter(r.host for r in ok)
    lines = [
        "# Multi-fidelity benchmark (`hpo bench fidelity`)" + (" — quick run" if quick else ""),
        "",
        f"Every study runs on the simulated backend with {WORKERS} asynchronous workers until it has used its "
        "budget of training, counted in full-fidelity evaluations (fidelity units used / max). Seeds per "
        "method (each problem): " + ", ".join(f"{m} {len({r.seed for r in ok if r.method == m})}" for m in methods)
        + f" (of {seeds} asked). Incumbent: the best loss reported at the target fidelity (random, Hyperband, ASHA), or the "
        f"multi-fidelity BO sampler's recommendation at the target fidelity (every {RECOMMEND_EVERY} trials). "
        "Regret = incumbent's loss at the target fidelity - best known. The target regret of a problem is what "
        "random search at full fidelity reaches with its whole budget in 3 of 4 seeds (the 75th percentile of its "
        "final regrets); time-to-target is the first cost at which a "
        "run's regret is at or below it (median over seeds; `never` when fewer than half the seeds reach it).",
        "",
        "Methods: " + ", ".join(f"`{m}`" for m in methods) + ". BO settings are reduced to fit the machine "
        "(ASHA+BO: gp with 2 restarts and 64 raw samples; MF-BO: 2 restarts, 64 raw samples, 8 fantasies, "
        f"256 MES candidates, fixed cost 1.0 in its affine cost model 1.0 + budget / max), and MF-BO studies stop "
        f"after {MAX_MODEL_TRIALS} trials (a compute cap of this machine), so their curves may end before the "
        "budget is spent.",
        "",
        "Hosts: " + "; ".join(f"{n} studies on {h}" for h, n in hosts.items()),
        "",
        "| problem | budget (full evaluations) | best known loss |",
        "|---|---|---|",
    ]
    lines += [f"| {p} | {budgets[p]:g} | {refs.get(p, float('nan')):.6g} |" for p in problems]
    failed = [r for r in runs if r.error is not None]
    if failed:
        lines += ["", f"{len(failed)} studies failed: " + "; ".join(
            f"{r.problem}/{r.method}/{r.seed}: {r.error.strip().splitlines()[-1]}" for r in failed[:5])]
    lines += ["", f"![regret against cost]({plot_path.name})", ""]
    targets: list[str] = []
    for problem in problems:
        final = {m: [r.incumbent[-1] - refs[problem] if r.incumbent else math.inf
                     for r in ok if r.problem == problem and r.method == m] for m in methods}
        if not final.get("random-full"):
            continue
        target = _quartiles(final["random-full"])[2]
        lines += [f"## {problem}", "", f"Target regret: {target:.4g}.", "",
                  "| method | final regret (median [q25, q75]) | time-to-target (median [q25, q75]) | "
                  "reached | trials (median) | real seconds per study |", "|---|---|---|---|---|---|"]
        ttt: dict[str, float] = {}
        for m in methods:
            rs = [r for r in ok if r.problem == problem and r.method == m]
            if not rs:
                continue
            times = [time_to_target(r, refs[problem], target) for r in rs]
            ttt[m] = _median(times)
            fq = _quartiles(final[m])
            tq = _quartiles(times)
            reached = sum(math.isfinite(t) for t in times)
            lines.append(f"| {m} | {_fmt(fq[1])} [{_fmt(fq[0])}, {_fmt(fq[2])}] | {_fmt(tq[1])} [{_fmt(tq[0])}, "
                         f"{_fmt(tq[2])}] | {reached}/{len(rs)} | {np.median([r.n_trials for r in rs]):.0f} | "
                         f"{np.median([r.wall_seconds for r in rs]):.1f} |")
        lines.append("")
        best = min((m for m in _MODEL_BASED if m in ttt), key=lambda m: ttt[m], default=None)
        if best is not None:
            vs_random = _speedup(ttt.get("random-full", math.inf), ttt[best])
            vs_asha = _speedup(ttt.get("asha-random", math.inf), ttt[best])
            met = not math.isnan(vs_random) and vs_random >= 3 and vs_asha >= 1.5
            targets.append(f"| {problem} | {best} | {_fmt(ttt[best])} | {_fmt(ttt.get('random-full', math.inf))} "
                           f"| {_fmt_speedup(vs_random)} | {_fmt(ttt.get('asha-random', math.inf))} | "
                           f"{_fmt_speedup(vs_asha)} | {'met' if met else 'not met'} |")
    lines += ["## Targets", "",
              "ASHA+BO or MF-BO reaches the target regret at least 3x cheaper than random at full fidelity and at "
              "least 1.5x cheaper than ASHA with random (medians over seeds; the best model-based method per "
              "problem).", "",
              "| problem | best model-based | its time-to-target | random-full | speed-up | asha-random | speed-up "
              "| target |", "|---|---|---|---|---|---|---|---|", *targets, ""]
    report = output_dir / "fidelity.md"
    report.write_text("\n".join(lines))
    return report


def run(quick: bool, output_dir: Path, processes: int = 1, seeds: int | None = None,
        problems: list[str] | None = None, methods: list[str] | None = None, runs_log: str | None = None) -> Path:
    """Run the benchmark (resumable through ``runs_log``) and write ``fidelity.md`` and its plot."""
    import tempfile

    problems = list(problems or CURVE_PROBLEMS)
    methods = list(methods or METHODS)
    seeds = seeds if seeds is not None else (2 if quick else 10)
    log = Path(runs_log) if runs_log else output_dir / ("fidelity_runs_quick.jsonl" if quick else "fidelity_runs.jsonl")
    with tempfile.TemporaryDirectory() as workdir:
        runs = run_fidelity_benchmark(problems, methods, seeds, quick, Path(workdir), log, processes=processes)
    return write_fidelity_report(runs, output_dir, problems, methods, seeds, quick)

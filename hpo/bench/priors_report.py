"""The scaling-law benchmark's report: ``priors.md`` and ``priors.png`` (``hpo bench priors``).

The report is a list of sections (:data:`SECTIONS`), each a function of a :class:`ReportContext` that
returns markdown lines (and may write plots into ``ctx.output_dir``); a new part is one more function
appended to the list.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo.bench.priors_bench import CellGap, Extrapolation, extrapolation, load_dense, step_law_gaps

__all__ = ["ReportContext", "SECTIONS", "write_priors_report", "run"]


@dataclass
class ReportContext:
    """What the sections share: the data, the run's settings, and results earlier sections left."""

    quick: bool
    output_dir: Path
    seed: int
    dense: pd.DataFrame
    results: dict[str, Any] = field(default_factory=dict)  # section name -> its measurements
    tuning_seeds: int = 10
    processes: int = 2

    @property
    def n_bootstrap(self) -> int:
        return 100 if self.quick else 1000

    @property
    def suffix(self) -> str:
        return "_quick" if self.quick else ""


def _gap_table(rows: list[CellGap], label: str = "") -> list[str]:
    lines = [f"| N | D | runs | {label}lr | {label}bs (seq) | snapped lr | snapped bs | smooth loss there | "
             "cell best (lr, bs) | cell best loss | gap % |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.N:.3g} | {r.D:.3g} | {r.runs} | {r.lr:.3e} | {r.batch_sequences:.0f} | {r.snapped_lr:.3e} "
                     f"| {r.snapped_bs} | {r.snapped_loss:.4f} | ({r.best_lr:.3e}, {r.best_bs}) | {r.best_loss:.4f} "
                     f"| {100 * r.gap:.3f} |")
    return lines


def section_reproduction(ctx: ReportContext) -> list[str]:
    rows = step_law_gaps(ctx.dense)
    ctx.results["reproduction"] = rows
    gaps = np.array([r.gap for r in rows]) * 100
    return [
        "## 1. Step Law on the released dense runs",
        "",
        "`hpo.priors.step_law(N, D)` (the mean of the 1,000 shipped bootstrap fits: lr = 1.79 N^-0.713 D^0.307, "
        "B = 0.58 D^0.571 tokens), snapped to the nearest (lr, bs) grid point of each (N, D) cell (nearest in "
        "(ln lr, ln bs)); the gap is that run's smooth loss over the cell's best run. bs in sequences of 2048 tokens.",
        "",
        *_gap_table(rows, "predicted "),
        "",
        f"**Mean gap {gaps.mean():.3f}%, median {np.median(gaps):.3f}%, max {gaps.max():.3f}% over {len(rows)} cells** "
        "(reference: 0.097% mean, 0.31% max; the paper reports 0.094% on its own test set).",
    ]


def _coef(law: Any, target: str, name: str) -> str:
    lo, hi = law.interval(target, name)
    return f"{law.coefficients[target][name]:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def section_extrapolation(ctx: ReportContext) -> list[str]:
    ex: Extrapolation = extrapolation(ctx.dense, n_bootstrap=ctx.n_bootstrap, seed=ctx.seed)
    ctx.results["extrapolation"] = ex
    law, full = ex.law, ex.full_law
    lines = [
        "## 2. Extrapolation: a law fitted on the smaller models",
        "",
        f"`hpo.priors.fit_law` (runs within 0.25% of their cell's best smooth loss, OLS in log space, "
        f"{ctx.n_bootstrap} bootstraps, seed {ctx.seed}) on the {law.n_cells} cells with N < {ex.held_out_N:.3g} "
        f"({law.n_runs} runs kept); the {len(ex.fitted)} cells of the held-out N = {ex.held_out_N:.3g} are "
        "predicted and snapped as in part 1.",
        "",
        "| law | lr: N exponent [95%] | lr: D exponent [95%] | batch: D exponent [95%] |",
        "|---|---|---|---|",
        "| published Step Law (shipped fits) | -0.713 | +0.307 | +0.571 |",
        f"| fit_law, all 17 cells | {_coef(full, 'lr', 'N')} | {_coef(full, 'lr', 'D')} | {_coef(full, 'batch', 'D')} |",
        f"| fit_law, N < {ex.held_out_N:.3g} only | {_coef(law, 'lr', 'N')} | {_coef(law, 'lr', 'D')} "
        f"| {_coef(law, 'batch', 'D')} |",
        f"| same, bootstrap over whole cells | {_coef(ex.cells_law, 'lr', 'N')} | {_coef(ex.cells_law, 'lr', 'D')} "
        f"| {_coef(ex.cells_law, 'batch', 'D')} |",
        "",
        "Held-out cells at the fitted law's prediction:",
        "",
        *_gap_table(ex.fitted, "fitted "),
        "",
        "95% intervals of the held-out prediction, bootstrapping runs (Step Law's procedure) or whole cells; "
        "\"best inside\": the cell's best run lies in the interval.",
        "",
        "| N | D | bootstrap | fitted lr 95% interval | cell best lr inside | fitted bs (seq) 95% interval "
        "| cell best bs inside | gap % (fitted law) | gap % (Step Law) |",
        "|---:|---:|---|---|---|---|---|---:|---:|",
    ]
    for fit, law_gap, iv, civ in zip(ex.fitted, ex.step_law, ex.intervals, ex.cells_intervals):
        for kind, bounds in (("runs", iv), ("cells", civ)):
            lo, hi = bounds["lr"]
            blo, bhi = (x / 2048 for x in bounds["batch"])
            lines.append(f"| {fit.N:.3g} | {fit.D:.3g} | {kind} | {lo:.3e}..{hi:.3e} "
                         f"| {'yes' if lo <= fit.best_lr <= hi else 'no'} | {blo:.0f}..{bhi:.0f} "
                         f"| {'yes' if blo <= fit.best_bs <= bhi else 'no'} | {100 * fit.gap:.3f} "
                         f"| {100 * law_gap.gap:.3f} |")
    fitted, published = (np.mean([r.gap for r in rows]) * 100 for rows in (ex.fitted, ex.step_law))
    lines += ["", f"**Held-out mean gap: {fitted:.3f}% with the law fitted on the smaller models, {published:.3f}% "
              "with the published Step Law.**"]
    same = sum((f.snapped_lr, f.snapped_bs) == (s.snapped_lr, s.snapped_bs) for f, s in zip(ex.fitted, ex.step_law))
    lines += ["", f"Both laws snap to the same grid point in {same} of the {len(ex.fitted)} held-out cells."]
    return lines


def section_plot(ctx: ReportContext) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: list[CellGap] = ctx.results["reproduction"]
    ex: Extrapolation = ctx.results["extrapolation"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    best = np.array([r.best_lr for r in rows])
    a.scatter(best, [r.lr for r in rows], label="Step Law, 17 cells", color="C0")
    a.scatter([r.best_lr for r in ex.fitted], [r.lr for r in ex.fitted], marker="x", s=60, color="C3",
              label=f"fit_law on N < {ex.held_out_N:.2g}, held-out cells")
    span = np.array([best.min() / 2, best.max() * 2])
    a.plot(span, span, color="grey", lw=0.8, ls="--")
    a.set(xscale="log", yscale="log", xlabel="lr of the cell's best run", ylabel="predicted lr",
          title="predicted vs best learning rate")
    a.legend(fontsize=8)
    x = np.arange(len(rows))
    b.bar(x, [100 * r.gap for r in rows], color="C0", label="Step Law")
    index = {(r.N, r.D): i for i, r in enumerate(rows)}
    b.scatter([index[(r.N, r.D)] for r in ex.fitted], [100 * r.gap for r in ex.fitted], color="C3", marker="x",
              s=60, zorder=3, label="fit_law (held out)")
    b.set_xticks(x, [f"{r.N / 1e9:.2f}B/{r.D / 1e9:.0f}B" for r in rows], rotation=70, fontsize=7)
    b.set(ylabel="smooth-loss gap to cell best (%)", title="gap at the snapped prediction, per (N, D) cell")
    b.legend(fontsize=8)
    fig.tight_layout()
    name = f"priors{ctx.suffix}.png"
    fig.savefig(ctx.output_dir / name, dpi=100)
    plt.close(fig)
    return [f"![Step Law and the fitted law against the dense runs]({name})"]


#: The report's sections, in order (a third part, tuning on the table, is appended after these).
def section_tuning(ctx: ReportContext) -> list[str]:
    """Part 3: tuning on the real table (see :mod:`hpo.bench.priors_tuning`)."""
    from hpo.bench import priors_tuning as tuning

    seeds = range(2) if ctx.quick else range(ctx.tuning_seeds)
    methods = ("gp+steplaw", "gp", "random") if ctx.quick else tuning.METHODS
    budget = 8 if ctx.quick else 30
    runs = tuning.tuning_runs(ctx.dense, methods=methods, seeds=seeds, budget=budget,
                              cells=2 if ctx.quick else None, processes=ctx.processes)
    ctx.results["tuning"] = runs
    summary, cells = tuning.summarise(runs), tuning.cell_table(runs)
    lines = ["## 3. Tuning on the real table",
             "",
             f"Each dense (N, D) cell is a tabular problem (search space: the whole released lr and bs ranges; objective: "
             f"the smooth loss of the cell's released run nearest to the suggestion). Evaluations until a run within {tuning.TOLERANCE:.2%} of "
             f"the cell's best is found; budget {budget} (not reached: counted as {budget + 1}); seeds "
             f"{list(seeds)}; {len(cells)} cells; priors are log-normal with sigma {tuning.PRIOR_SIGMA} in ln around "
             f"the prediction (fitted law: fitted on the other cells only; wrong: Step Law with lr x 10). "
             f"`gp` options {tuning.GP_OPTIONS}; `tpe` n_startup_trials 4. With a prior, `gp` runs the BO sampler's "
             f"prior defaults: the initial design alternates prior and uniform Sobol points, πBO's prior_beta = 3.",
             "",
             "| method | median evaluations (median over cells of the per-cell median) | mean | reached |",
             "|---|---:|---:|---:|"]
    for method, row in summary.iterrows():
        lines.append(f"| {method} | {row['median evaluations']:.1f} | {row['mean evaluations']:.1f} | "
                     f"{row['reached']:.0%} |")
    lines += ["", "Per cell (median evaluations over seeds):", "",
              "| N | D | " + " | ".join(cells.columns) + " |", "|---:|---:|" + "---:|" * len(cells.columns)]
    for (N, D), row in cells.iterrows():
        lines.append(f"| {N:.3g} | {D:.3g} | " + " | ".join(f"{v:.1f}" for v in row) + " |")
    lines += ["", "Targets (median over cells of the per-cell ratio to plain `gp`):", ""]
    if "gp" in cells.columns:
        for method, goal, text in (("gp+steplaw", 1 / 3, "at most a third of plain gp's"),
                                   ("gp+fitted", 1 / 3, "at most a third of plain gp's"),
                                   ("gp+wrong", 2.0, "at most 2x plain gp's")):
            if method in cells.columns:
                ratio = tuning.median_ratio(runs, method)
                verdict = "met" if ratio <= goal else "not met"
                lines.append(f"- `{method}` needs {ratio:.2f}x plain gp's evaluations ({text}): **{verdict}**")
    return lines


SECTIONS: list[Callable[[ReportContext], list[str]]] = [section_reproduction, section_extrapolation, section_tuning,
                                                        section_plot]


def write_priors_report(output_dir: Path, quick: bool = False, seed: int = 0,
                        sections: list[Callable[[ReportContext], list[str]]] | None = None,
                        seeds: int = 10, processes: int = 2) -> Path:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    ctx = ReportContext(quick, output_dir, seed, load_dense(), tuning_seeds=seeds, processes=processes)
    command = "hpo bench priors" + (" --quick" if quick else "")
    lines = [
        f"# Scaling-law priors (`{command}`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; seed {seed}. Data: the "
        f"{len(ctx.dense):,} released dense runs of Step Law (step-law/steplaw, `data/dense_lr_bs_loss.csv`, "
        "shipped in `hpo/priors/data/`).",
    ]
    for section in SECTIONS if sections is None else sections:
        lines += ["", *section(ctx)]
    path = output_dir / f"priors{ctx.suffix}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(quick: bool, output_dir: Path, seeds: int | None = None, processes: int = 2) -> Path:
    """Part 1 (Step Law per cell), part 2 (a law fitted on the smaller models; bootstrap seed 0) and part 3
    (tuning each cell's table with and without priors: ``seeds`` studies per cell and method, default 10,
    on ``processes`` worker processes)."""
    from hpo.validators import positive_int

    seeds = 10 if seeds is None else positive_int("bench priors: seeds", seeds)
    return write_priors_report(Path(output_dir), quick=quick, seeds=seeds,
                               processes=positive_int("bench priors: processes", processes))

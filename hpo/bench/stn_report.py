"""The report of ``hpo bench stn``: ``stn.md``, ``stn_schedules.png`` and ``stn_test_loss.png``.

Per task and method, over seeds: validation and test loss (mean cross-entropy of the final STN
network or of the best fixed trial's network, mean ± sd), the measured wall-clock and weight steps.
The target (MacKay et al. 2019): the STN's mean test loss is at or below the best fixed setting's of
``random`` and of ``gp`` on every task; met / not met with the differences, computed from the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpo.bench.stn_bench import GP_INITIAL, MethodRun, StnBenchResult
from hpo.bench.stn_tasks import get_task, load_splits

__all__ = ["summary", "targets", "write_stn_report", "run"]

_COLORS = {"stn": "#d62728", "random": "#7f7f7f", "gp": "#1f77b4"}


def _ok(runs: Sequence[MethodRun]) -> list[MethodRun]:
    return [r for r in runs if r.error is None and math.isfinite(r.test_loss)]


def summary(result: StnBenchResult) -> dict[str, dict[str, dict[str, float]]]:
    """task -> method -> {val_mean, val_sd, test_mean, test_sd, wall, steps, n} over the successful seeds."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for task in result.plan.tasks:
        for method in result.plan.methods:
            runs = _ok([r for r in result.runs if r.task == task and r.method == method])
            if not runs:
                continue
            val = np.array([r.val_loss for r in runs])
            test = np.array([r.test_loss for r in runs])
            out.setdefault(task, {})[method] = {
                "val_mean": float(val.mean()), "val_sd": float(val.std(ddof=1)) if len(val) > 1 else math.nan,
                "test_mean": float(test.mean()), "test_sd": float(test.std(ddof=1)) if len(test) > 1 else math.nan,
                "wall": float(np.mean([r.wall for r in runs])), "steps": float(np.mean([r.weight_steps for r in runs])),
                "n": float(len(runs))}
    return out


def targets(result: StnBenchResult, table: dict[str, dict[str, dict[str, float]]]) -> list[tuple[str, str, str]]:
    """(claim, measurement, "met" / "not met" / "not checked"): STN mean test loss <= each baseline's, per task."""
    out = []
    for task in result.plan.tasks:
        by = table.get(task, {})
        baselines = [m for m in ("random", "gp") if m in by]
        claim = f"Target ({task}): STN test loss at or below the best fixed setting of random and gp"
        if "stn" not in by or not baselines:
            out.append((claim, f"methods measured: {sorted(by)}", "not checked"))
            continue
        stn = by["stn"]["test_mean"]
        parts, ok = [], True
        for m in baselines:
            diff = stn - by[m]["test_mean"]
            wins = _seed_wins(result, task, m)
            parts.append(f"{m} {by[m]['test_mean']:.4f} (STN {'+' if diff >= 0 else '-'}{abs(diff):.4f}, "
                         f"{diff / by[m]['test_mean']:+.1%}; STN lower on {wins})")
            ok = ok and stn <= by[m]["test_mean"]
        out.append((claim, f"STN {stn:.4f} vs " + "; ".join(parts), "met" if ok else "not met"))
    return out


def _seed_wins(result: StnBenchResult, task: str, method: str) -> str:
    stn = {r.seed: r.test_loss for r in _ok(result.runs) if r.task == task and r.method == "stn"}
    other = {r.seed: r.test_loss for r in _ok(result.runs) if r.task == task and r.method == method}
    seeds = sorted(set(stn) & set(other))
    return f"{sum(stn[s] <= other[s] for s in seeds)}/{len(seeds)} seeds"


def _pm(mean: float, sd: float) -> str:
    return f"{mean:.4f}" + ("" if math.isnan(sd) else f" ± {sd:.4f}")


def _plot_schedules(result: StnBenchResult, path: Path) -> bool:
    """Per task one row, per hyperparameter one panel: the STN's value against weight step, one line per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(t, list(get_task(t).bounds)) for t in result.plan.tasks
            if any(r.schedule for r in _ok(result.runs) if r.task == t and r.method == "stn")]
    if not rows:
        return False
    ncols = max(len(names) for _, names in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(2.6 * ncols, 2.4 * len(rows)), squeeze=False)
    for (task, names), row in zip(rows, axes):
        runs = [r for r in _ok(result.runs) if r.task == task and r.method == "stn" and r.schedule]
        for ax, name in zip(row, names):
            for i, r in enumerate(runs):
                sched = r.schedule or {}
                if name in sched:
                    ax.plot(sched.get("step", range(len(sched[name]))), sched[name], lw=1.0, color=f"C{i % 10}",
                            label=f"seed {r.seed}")
            ax.axhline(get_task(task).initial[name], color="k", lw=0.6, ls=":")
            ax.set_ylim(*get_task(task).bounds[name])
            ax.set_title(f"{task}: {name}", fontsize=8)
            ax.set_xlabel("weight step", fontsize=7)
            ax.tick_params(labelsize=6)
            ax.grid(alpha=0.3, lw=0.4)
        for ax in row[len(names):]:
            ax.set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=7, frameon=False)
    fig.suptitle("STN hyperparameter schedules (dotted: initial value)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _plot_test_loss(result: StnBenchResult, path: Path) -> None:
    """Per task one panel: each method's test loss per seed (dots) and mean (bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, methods = result.plan.tasks, result.plan.methods
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for j, m in enumerate(methods):
            vals = [r.test_loss for r in _ok(result.runs) if r.task == task and r.method == m]
            if not vals:
                continue
            color = _COLORS.get(m, f"C{j}")
            ax.scatter(np.full(len(vals), j) + np.linspace(-0.12, 0.12, len(vals)), vals, s=14, color=color)
            ax.hlines(np.mean(vals), j - 0.3, j + 0.3, color=color, lw=2)
        ax.set_xticks(range(len(methods)), list(methods), fontsize=8)
        ax.set_title(task, fontsize=9)
        ax.set_ylabel("test cross-entropy", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="y", lw=0.4)
    fig.suptitle(f"Test loss at equal wall-clock ({result.plan.seconds:g} s per method and seed)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_stn_report(result: StnBenchResult, output_dir: Path) -> Path:
    """Write ``stn.md`` and its two PNGs into ``output_dir``; return the markdown's path."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    md, sched_png, loss_png = output_dir / "stn.md", output_dir / "stn_schedules.png", output_dir / "stn_test_loss.png"
    plan = result.plan
    table = summary(result)
    w, n = plan.seconds, plan.trials
    lines = ["# hpo bench stn", "",
             f"Machine: {result.machine.get('host', '')}; one torch thread per run (runs of one `hpo bench stn` "
             f"process go one at a time). Seeds: {list(plan.seeds)}. Wall-clock per (task, method, seed): W = {w:g} s. "
             f"The runs took {sum(r.wall for r in result.runs if math.isfinite(r.wall)):.0f} s in all "
             f"({result.run_seconds:.0f} s of them in this call; the rest came from the runs log)."
             + (" **Quick (tiny) run.**" if plan.quick else ""), "",
             "- `stn`: one self-tuning run (`hpo.stn.train`, tune=True) stopped after W seconds of training, from "
             "the initial values below; its result is the final network at its final hyperparameters.",
             f"- `random`, `gp`: an hpo study over the same space, {n} trials asked and told in turn, each a full "
             "training run of the same network at fixed hyperparameters (`hpo.stn.train`, tune=False); trial i of n "
             "trains for (W - time used so far) / (n - i) seconds, so the sampler's time comes out of the training "
             f"time and the total is W. `gp` starts Bayesian optimisation after {GP_INITIAL} initial trials"
             f"{' (fewer trials here: all initial)' if n <= GP_INITIAL else ''}. The best "
             "fixed setting is the trial with the lowest validation loss; its test loss is that network's.",
             "- Losses: mean cross-entropy, eval mode (no dropout or augmentation). The test split is never used "
             "for a decision.", "", "## Tasks", "",
             "| task | train / val / test | hyperparameters (bounds) | STN initial values | description |",
             "|---|---|---|---|---|"]
    for task in plan.tasks:
        spec = get_task(task)
        sizes = " / ".join(str(s) for s in load_splits(task).sizes())
        bounds = ", ".join(f"{k} [{lo:g}, {hi:g}]" for k, (lo, hi) in spec.bounds.items())
        init = ", ".join(f"{k} {v:g}" for k, v in spec.initial.items())
        lines.append(f"| {task} | {sizes} | {bounds} | {init} | {spec.description} |")
    lines += ["", "## Validation and test loss (mean ± sd over seeds)", "",
              "| task | method | seeds | val loss | test loss | wall-clock (s) | weight steps |",
              "|---|---|---|---|---|---|---|"]
    for task, by in table.items():
        best = min(s["test_mean"] for s in by.values())
        for m, s in by.items():
            test = _pm(s["test_mean"], s["test_sd"])
            lines.append(f"| {task} | {m} | {int(s['n'])} | {_pm(s['val_mean'], s['val_sd'])} | "
                         f"{'**' + test + '**' if s['test_mean'] == best else test} | {s['wall']:.1f} | "
                         f"{s['steps']:.0f} |")
    lines += ["", "## Hyperparameters found (mean over seeds: STN final values; best fixed trial's values)", ""]
    for task in plan.tasks:
        names = list(get_task(task).bounds)
        lines += [f"**{task}**", "", "| method | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for m in plan.methods:
            runs = [r for r in _ok(result.runs) if r.task == task and r.method == m]
            if runs:
                lines.append(f"| {m} | " + " | ".join(f"{np.mean([r.params.get(k, math.nan) for r in runs]):.3f}"
                                                      for k in names) + " |")
        lines.append("")
    lines += ["## Plots", ""]
    if _plot_schedules(result, sched_png):
        lines += [f"![STN schedules]({sched_png.name})", ""]
    _plot_test_loss(result, loss_png)
    lines += [f"![test loss]({loss_png.name})", "", "## Target", ""]
    lines += [f"- {claim}: {detail} -> **{status}**." for claim, detail, status in targets(result, table)]
    failed = [r for r in result.runs if r.error is not None]
    if failed:
        lines += ["", "## Failed runs (left out)", ""]
        lines += [f"- {r.task} / {r.method} / seed {r.seed}: {(r.error or '').strip().splitlines()[-1][:200]}"
                  for r in failed]
    md.write_text("\n".join(lines) + "\n")
    return md


def run(quick: bool, output_dir: Path, seeds: int | None = None, problems: Sequence[str] | None = None,
        methods: Sequence[str] | None = None, runs_log: str | Path | None = None,
        seconds: float | None = None) -> Path:
    """``hpo bench stn``: run every (task, method, seed) at equal wall-clock, then write ``stn.md``.

    ``problems``: the tasks (default digits-cnn, mnist1d-mlp); ``methods``: among stn, random, gp;
    ``seconds``: the wall-clock W per (task, method, seed) (default 180, quick 3); ``runs_log``: a
    JSON-lines file recording each finished run; a run given the same file skips those in it.
    """
    from hpo.bench.stn_bench import make_stn_plan, run_stn_benchmark

    plan = make_stn_plan(quick=quick, tasks=problems, methods=methods, seeds=seeds, seconds=seconds)
    log = Path(runs_log) if runs_log is not None else None
    return write_stn_report(run_stn_benchmark(plan, runs_log=log), output_dir)

"""The report of ``hpo bench rl``: tuning vs test score of each method's incumbent, the gap, Kendall's τ,
and the single-seed vs five-seed comparison."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from hpo.bench.rl_bench import (
    AGGREGATE,
    ENVS,
    EVAL_EPISODES,
    FULL_TRIALS,
    METHODS,
    QUICK,
    STARTUP_TRIALS,
    STEPS,
    TEST_SEEDS,
    TEST_TOP_K,
    TUNING_SEEDS,
    RLRun,
    kendall_tau,
    run_rl_benchmark,
)

__all__ = ["run", "write_rl_report"]

_FIVE_VS_ONE = (("gp", "gp-1seed"), ("random", "random-1seed"))
_COLORS = {"gp": "C0", "tpe": "C1", "random": "0.45", "asha": "C2", "pbt": "C3", "gp-1seed": "C4",
           "random-1seed": "C5"}


def _incumbent(run: RLRun) -> dict | None:
    return run.configs[run.incumbent] if run.incumbent is not None and run.configs else None


def _med(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def _cell(values: list[float], digits: int = 1) -> str:
    """``median [min, max]`` of the finite values (``n/a`` when none)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "n/a"
    return f"{np.median(finite):.{digits}f} [{min(finite):.{digits}f}, {max(finite):.{digits}f}]"


def _scores(runs: list[RLRun], env: str, method: str) -> dict[str, list[float]]:
    """Per repetition: the incumbent's tuning and test scores, the gap (tuning - test) and Kendall's τ."""
    out: dict[str, list[float]] = {"tuning": [], "test": [], "gap": [], "tau": [], "trials": [], "configs": []}
    for run in runs:
        if run.env != env or run.method != method or run.error is not None:
            continue
        inc = _incumbent(run)
        if inc is None or "test" not in inc:
            continue
        out["tuning"].append(inc["tuning"])
        out["test"].append(inc["test"])
        out["gap"].append(inc["tuning"] - inc["test"])
        out["tau"].append(kendall_tau(run))
        out["trials"].append(float(run.n_trials))
        out["configs"].append(float(len(run.configs)))
    return out


def _plot(runs: list[RLRun], envs: list[str], methods: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(envs), figsize=(5.2 * len(envs), 3.6), squeeze=False)
    for ax, env in zip(axes.flat, envs):
        for i, method in enumerate(methods):
            s = _scores(runs, env, method)
            for x, key, marker in ((i - 0.15, "tuning", "o"), (i + 0.15, "test", "s")):
                if s[key]:
                    ax.scatter([x] * len(s[key]), s[key], color=_COLORS.get(method, "k"), marker=marker, s=18,
                               alpha=0.8, label=key if i == 0 else None)
                    ax.hlines(_med(s[key]), x - 0.12, x + 0.12, color="k", lw=1.2)
        ax.set_xticks(range(len(methods)), methods, rotation=30, fontsize=7)
        ax.set_title(env, fontsize=10)
        ax.set_ylabel(f"incumbent's {AGGREGATE} return", fontsize=8)
        ax.grid(alpha=0.3, lw=0.4)
        ax.tick_params(labelsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, ["tuning seeds (o)", "test seeds (s)"][: len(handles)], loc="lower center", ncol=2,
               fontsize=8, frameon=False)
    fig.suptitle("Incumbent per repetition: tuning vs test score (bar: median)", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_rl_report(runs: list[RLRun], output_dir: Path, envs: list[str], methods: list[str], reps: int,
                    quick: bool) -> Path:
    ok = [r for r in runs if r.error is None]
    steps = QUICK["steps"] if quick else STEPS
    full = QUICK["full_trials"] if quick else FULL_TRIALS
    tuning = QUICK["tuning"] if quick else TUNING_SEEDS
    test = QUICK["test"] if quick else TEST_SEEDS
    episodes = QUICK["eval_episodes"] if quick else EVAL_EPISODES
    plot_path = output_dir / "rl_scores.png"
    _plot(ok, envs, methods, plot_path)
    hosts = Counter(r.host for r in ok)
    lines = [
        "# RL tuning protocol benchmark (`hpo bench rl`)" + (" — quick run" if quick else ""),
        "",
        f"PPO (Stable-Baselines3, CPU) tuned on {', '.join(envs)}. Every study has the same budget of "
        f"environment steps: {full} full trials × {steps} steps × {len(tuning)} tuning seeds "
        f"= {full * steps * len(tuning)} steps. Tuning seeds {list(tuning)} (the `-1seed` methods: seed 0 "
        f"only, so {len(tuning)}x the trials), test seeds {list(test)}; repetitions asked: {reps}. A score is "
        f"the {AGGREGATE.upper()} over seeds of the mean return of {episodes} evaluation episodes on a "
        f"separately seeded environment. Each study has the protocol `SeedSplit(tuning, test, aggregate="
        f"'{AGGREGATE}')`: the store keeps every seed's result and refuses a test seed while tuning; then "
        f"`study.evaluate(top_k={TEST_TOP_K})` re-trains the {TEST_TOP_K} best configurations by tuning score from "
        f"scratch on the test seeds for {steps} steps (PBT: its best segments' params; its schedule is not "
        "replayed). Incumbent: the best tuning score. Gap = tuning - test. Kendall τ: between tuning and test "
        "scores over the re-trained configurations of a study. Cells: median [min, max] over "
        "repetitions.",
        "",
        f"Methods: `gp` (2 restarts, 64 raw samples, {STARTUP_TRIALS} Sobol trials), `tpe` ({STARTUP_TRIALS} "
        "startup trials), `random`: full trials; `asha`: random proposals, "
        f"fidelity = environment steps {max(steps // 9, 1)}..{steps}, reduction factor 3, chunks ending at the "
        f"rungs; `pbt`: a population of {max(full, 2)} trained in segments, exploit/explore between them.",
        "",
        "Hosts: " + ("; ".join(f"{n} studies on {h}" for h, n in hosts.items()) or "none"),
        "",
    ]
    failed = [r for r in runs if r.error is not None]
    if failed:
        lines += [f"{len(failed)} studies failed: " + "; ".join(
            f"{r.env}/{r.method}/{r.rep}: {(r.error or '').strip().splitlines()[-1]}" for r in failed[:5]), ""]
    lines += [f"![tuning vs test]({plot_path.name})", ""]
    best_test: dict[str, str] = {}
    for env in envs:
        lines += [f"## {env}", "", "| method | reps | incumbent tuning | incumbent test | gap | Kendall τ | trials "
                  "| configs tested |", "|---|---|---|---|---|---|---|---|"]
        medians: dict[str, float] = {}
        for method in methods:
            s = _scores(ok, env, method)
            if not s["test"]:
                continue
            medians[method] = _med(s["test"])
            lines.append(f"| {method} | {len(s['test'])} | {_cell(s['tuning'])} | {_cell(s['test'])} | "
                         f"{_cell(s['gap'])} | {_cell(s['tau'], 2)} | {_med(s['trials']):.0f} | "
                         f"{_med(s['configs']):.0f} |")
        five = {m: v for m, v in medians.items() if not m.endswith("-1seed")}
        if five:
            top = max(five.values())
            best_test[env] = ", ".join(m for m in five if five[m] == top)  # ties: all of them, named
        lines.append("")
    lines += ["## Single seed vs five seeds", "",
              "Test score of the incumbent tuned on one seed vs on all tuning seeds, same step budget "
              "(median over repetitions).", "",
              "| env | method | tuned on all seeds: test | tuned on seed 0: test | difference |", "|---|---|---|---|---|"]
    single_ok: list[bool] = []
    for env in envs:
        for many, one in _FIVE_VS_ONE:
            if many not in methods or one not in methods:
                continue
            a, b = _med(_scores(ok, env, many)["test"]), _med(_scores(ok, env, one)["test"])
            if math.isfinite(a) and math.isfinite(b):
                single_ok.append(a >= b)
                lines.append(f"| {env} | {many} | {a:.1f} | {b:.1f} | {a - b:+.1f} |")
    gp_best = [env + ("" if m == "gp" else f", tied with {m.replace('gp, ', '')}") for env, m in best_test.items()
               if "gp" in m.split(", ")]
    lines += ["", "## Targets", "",
              "| target | result |", "|---|---|",
              "| the tuning/test gap is reported for every method | "
              + ("met" if all(_scores(ok, e, m)["gap"] for e in envs for m in methods) else "not met") + " |",
              "| `gp` has the best median test score on at least one environment | "
              + (f"met ({', '.join(gp_best)})" if gp_best else "not met (best: " + ", ".join(
                  f"{e}: {m}" for e, m in best_test.items()) + ")") + " |",
              "| tuning on all seeds is at least as good on the test seeds as tuning on one, on every environment | "
              + ("met" if single_ok and all(single_ok) else "not met" if single_ok else "n/a") + " |", ""]
    report = output_dir / "rl.md"
    report.write_text("\n".join(lines))
    return report


def run(quick: bool, output_dir: Path, processes: int = 1, seeds: int | None = None,
        problems: list[str] | None = None, methods: list[str] | None = None, runs_log: str | None = None) -> Path:
    """Run the benchmark (resumable through ``runs_log``) and write ``rl.md`` and its plot. ``seeds`` is
    the number of repetitions of each tuning run (default 3; 1 with ``quick``), ``problems`` the
    environments."""
    import tempfile

    envs = list(problems or ENVS)
    methods = list(methods or METHODS)
    reps = seeds if seeds is not None else (1 if quick else 3)
    log = Path(runs_log) if runs_log else output_dir / ("rl_runs_quick.jsonl" if quick else "rl_runs.jsonl")
    with tempfile.TemporaryDirectory() as workdir:
        runs = run_rl_benchmark(envs, methods, reps, quick, Path(workdir), log, processes=processes)
    return write_rl_report(runs, output_dir, envs, methods, reps, quick)

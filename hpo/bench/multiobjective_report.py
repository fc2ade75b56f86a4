"""The multi-objective benchmark's report: ``multiobjective.md`` with tables, the target and
``multiobjective_hv.png``."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpo.bench.multiobjective_bench import (
    METHODS,
    REL_FLOOR,
    TAIL,
    MOBenchResult,
    best_known_hv,
    hv_curves,
)
from hpo.bench.samplers_report import Stat, Target, _f, _hosts_line, _short_error, _stat, checkpoints

__all__ = ["final_hv", "evaluate_mo_target", "write_mo_report", "run", "report_from_log"]

NEHVI, BASELINES = "gp", ("nsga2", "motpe")  # the default sampler against the baselines
_COLORS = {"gp": "#d62728", "qlognehvi": "#e377c2", "parego": "#9467bd", "nehvi-mc128": "#8c564b", "nsga2": "#1f77b4", "motpe": "#ff7f0e", "random": "#7f7f7f"}


def final_hv(result: MOBenchResult) -> dict[tuple[str, str], Stat]:
    """``(problem, method) -> Stat`` of the final hypervolume over seeds (failed runs left out)."""
    values: dict[tuple[str, str], list[float]] = {}
    for r in result.runs:
        if r.error is None and r.values:
            values.setdefault((r.problem, r.sampler), []).append(r.values[-1])
    return {k: _stat(np.asarray(v, dtype=float)) for k, v in values.items()}


def evaluate_mo_target(result: MOBenchResult) -> Target:
    """The default ``gp``'s median final hypervolume >= NSGA-II's and MOTPE's on every problem, and > both on most."""
    text = ("The default gp's (qLogNEHVI / ParEGO) median final hypervolume at least that of NSGA-II and MOTPE on "
            "every problem, and better on most")
    ran = set(result.plan.samplers)
    if NEHVI not in ran or not set(BASELINES) <= ran:
        return Target(text, "n/a", "gp, nsga2 and motpe were not all run")
    stats = final_hv(result)
    at_least, better, rows = [], [], []
    for p in result.problems:
        cells = [stats.get((p, m)) for m in (NEHVI, *BASELINES)]
        if any(c is None or c.n == 0 for c in cells):
            rows.append(f"{p}: missing runs")
            continue
        ours, others = cells[0].median, [c.median for c in cells[1:]]
        if ours >= max(others):
            at_least.append(p)
        if ours > max(others):
            better.append(p)
        rows.append(f"{p}: {ours:.4g} vs NSGA-II {others[0]:.4g}, MOTPE {others[1]:.4g}")
    n = len(result.problems)
    ok = len(at_least) == n and len(better) > n / 2
    detail = (f"at least on {len(at_least)} of {n}, better on {len(better)} of {n} "
              f"({'; '.join(rows)})")
    return Target(text, "met" if ok else "not met", detail)


def _header(result: MOBenchResult) -> list[str]:
    plan, m = result.plan, result.machine
    seeds_done: dict[tuple[str, str], int] = {}
    for r in result.runs:
        if r.error is None:
            seeds_done[(r.problem, r.sampler)] = seeds_done.get((r.problem, r.sampler), 0) + 1
    expected = len(plan.problems) * len(plan.samplers) * len(plan.seeds)
    complete = sum(1 for r in result.runs if r.error is None)
    lines = [
        "# Multi-objective benchmark (`hpo bench multiobjective" + (" --quick" if plan.quick else "") + "`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {m.get('cpus', '?')} CPU cores "
        f"({m.get('processor', '?')}), Python {m.get('python', '?')}, one thread per study, "
        f"{plan.processes} worker process(es); the machine was shared with other work, so the times are "
        "indicative only. Methods: " + ", ".join(f"`{s}`" for s in plan.samplers) + f"; "
        f"{len(plan.seeds)} seeds planned; {'/'.join(map(str, sorted(set(plan.budgets.values()))))} evaluations "
        f"per study. {complete} of {expected} planned studies finished.",
        "",
        "Each (problem, method, seed) is a real hpo study on a SQLite file (`create_study(objectives=..., "
        "constraints=..., sampler=..., seed=...)`, `study.optimize`). After each evaluation the hypervolume "
        "of the study's feasible Pareto front is taken with the problem's reference point "
        "(`hpo.hypervolume.hypervolume_history`).",
        "",
        "Methods: " + "; ".join(f"`{k}` = {_method_text(k)}" for k in plan.samplers) + ".",
        "",
    ]
    per_problem = {p: min((seeds_done.get((p, m), 0) for m in plan.samplers), default=0) for p in plan.problems}
    if any(n < len(plan.seeds) for n in per_problem.values()):
        counts = ", ".join(f"{p} {n}" for p, n in per_problem.items())
        lines += [f"**Not every planned seed finished in the time available.** Seeds finished by every method, per "
                  f"problem: {counts} (of {len(plan.seeds)} planned). The statistics below use those seeds only, "
                  "the same seeds for every method of a problem (jobs ran seed by seed, so they are the lowest "
                  "seeds).", ""]
    return lines + _hosts_line(result)


def _method_text(name: str) -> str:
    spec = METHODS[name]
    if spec["name"] == "gp":
        options = dict(spec["options"])
        if "acquisition" not in options:
            return ("hpo BO sampler `gp` as a user gets it: qLogNEHVI with 2 objectives, qLogEHVI with 3, ParEGO with 4 "
                    "or more (defaults)")
        acq = options.pop("acquisition")
        what = {"nehvi": "qLogNoisyExpectedHypervolumeImprovement",
                "ehvi": "qLogExpectedHypervolumeImprovement over the observed front"}.get(
                    acq, "ParEGO (qLogNEI, random Chebyshev weights)")
        opts = ", ".join(f"{k}={v}" for k, v in options.items()) or "the default settings"
        return f"hpo BO sampler `gp` with {what} ({opts}; Sobol initial design)"
    if spec["name"] == "nsga2":
        return f"Optuna NSGA-II (population {spec['options'].get('population_size', 50)})"
    if spec["name"] == "tpe":
        return "Optuna multi-objective TPE (defaults)"
    return "uniform random search"


def _problems_section(result: MOBenchResult, best: dict[str, float]) -> list[str]:
    lines = ["## Problems", "", "| problem | description | dim | objectives | constraints | reference point | "
             "best known HV |", "|---|---|---:|---|---|---|---:|"]
    for name, info in result.problems.items():
        cons = ", ".join(f"{c} {op} {b:g}" for c, (op, b) in info.constraints.items()) or "none"
        known = f"{best[name]:.6g}" + ("" if info.max_hv is not None else " (union of all runs' fronts)")
        ref = "(" + ", ".join(f"{v:g}" for v in info.ref_point) + ")"
        lines.append(f"| {name} | {info.description} | {info.dim} | {', '.join(info.objectives)} (all minimised) "
                     f"| {cons} | {ref} | {known} |")
    lines += ["", "Best known hypervolumes of the test functions are BoTorch's `max_hv` (DTLZ2: the exact value "
              "1.1^3 - pi/6; C2DTLZ2 and BraninCurrin: approximations from long NSGA-II runs). The tuning task "
              "has no known front: its best known hypervolume is that of the union of the final fronts of every "
              "run in this benchmark, so it is an optimistic reference that improves with the runs. "
              f"log10 HV differences are floored at log10({REL_FLOOR:g} x best known HV).", ""]
    return lines


def _tables(result: MOBenchResult, curves: dict[tuple[str, str], np.ndarray]) -> list[str]:
    finals = final_hv(result)
    budget = max(result.plan.budgets.values())
    cps = checkpoints(budget)
    lines = ["## Final table", "",
             f"Hypervolume after {budget} evaluations (median [q25, q75] over seeds) and log10(best known HV - HV) "
             f"at {'/'.join(map(str, cps))} evaluations. Bold: the highest median final hypervolume of the problem.",
             "", "| problem | method | runs | final HV | " + " | ".join(f"log10 HV diff after {c}" for c in cps) + " |",
             "|---|---|---:|---:|" + "---:|" * len(cps)]
    for problem in result.problems:
        best = max((s.median for (p, _), s in finals.items() if p == problem and s.n), default=math.nan)
        for method in result.plan.samplers:
            s = finals.get((problem, method))
            curve = curves.get((problem, method))
            if s is None or curve is None:
                lines.append(f"| {problem} | {method} | 0 | n/a | " + " | ".join("n/a" for _ in cps) + " |")
                continue
            cell = f"{s.median:.4g} [{s.q25:.4g}, {s.q75:.4g}]"
            cell = f"**{cell}**" if s.median == best else cell
            diffs = []
            for c in cps:
                d = _stat(curve[:, min(c, curve.shape[1]) - 1])
                diffs.append(f"{d.median:.2f} [{d.q25:.2f}, {d.q75:.2f}]")
            lines.append(f"| {problem} | {method} | {s.n} | {cell} | " + " | ".join(diffs) + " |")
    return lines + [""]


def _median(xs: list[float]) -> float | None:
    return float(np.median(xs)) if xs else None


def _timing(result: MOBenchResult) -> list[str]:
    lines = ["## Cost", "",
             f"Seconds per suggestion: the median over every study of its last {TAIL} suggestions (the model-based "
             "ones, with the most observations), and their 90th percentile. First suggestion in a fresh process: "
             "after a BO study's budget, a new Python process loads it (`hpo.load_study`) and asks once (median over "
             "seeds; imports apart). One thread per study; shared machine.", "",
             "| problem | method | s per suggestion (median) | p90 | fresh process: first ask (s) | fresh process: "
             "imports (s) | s per study (median) |", "|---|---|---:|---:|---:|---:|---:|"]
    for p in result.problems:
        for m in result.plan.samplers:
            runs = [r for r in result.runs if r.sampler == m and r.problem == p and r.error is None]
            asks = [x for r in runs for x in r.suggest_seconds[-TAIL:]]
            fresh = [r.extra["fresh"] for r in runs if r.extra.get("fresh")]
            walls = [r.wall_seconds for r in runs]
            lines.append(f"| {p} | {m} | {_f(_median(asks))} | {_f(float(np.quantile(asks, 0.9)) if asks else None)} | "
                         f"{_f(_median([f['ask_s'] for f in fresh]))} | {_f(_median([f['import_s'] for f in fresh]))} | "
                         f"{_f(_median(walls))} |")
    return lines + [""]


def write_mo_report(result: MOBenchResult, output_dir: Path, notes: Sequence[str] = ()) -> Path:
    """Write ``multiobjective.md`` and ``multiobjective_hv.png`` into ``output_dir``; return the markdown's path.

    ``notes``: paragraphs for a closing "Notes" section (e.g. diagnostics run outside the benchmark).
    """
    from hpo.bench.plots import plot_bands

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    md, png = output_dir / "multiobjective.md", output_dir / "multiobjective_hv.png"
    curves = hv_curves(result)
    best = best_known_hv(result)
    panels = [(f"{p} ({info.dim}-D, {len(info.objectives)} obj.)",
               {m: curves[(p, m)] for m in result.plan.samplers if (p, m) in curves})
              for p, info in result.problems.items()]
    plot_bands(panels, result.plan.samplers, _COLORS, "best known HV - HV",
               "Hypervolume gap to the best known (log scale): median over seeds, band = quartiles", png)
    target = evaluate_mo_target(result)
    lines = _header(result) + _problems_section(result, best) + _tables(result, curves) + _timing(result)
    lines += ["## Hypervolume against evaluations", "", f"![hypervolume gap]({png.name})", "", "## Target", "",
              f"- {target.text}: {target.detail} -> **{target.status}**.", ""]
    if notes:
        lines += ["## Notes", ""] + [line for note in notes for line in (f"- {note}",)] + [""]
    failed = [r for r in result.runs if r.error is not None]
    if failed:
        lines += ["## Failed runs (left out of the statistics)", ""]
        lines += [f"- {r.problem} / {r.sampler} / seed {r.seed}: {_short_error(r.error or '')}" for r in failed]
    md.write_text("\n".join(lines) + "\n")
    return md


def run(quick: bool, output_dir: Path, processes: int = 1, seeds: int | None = None,
        problems: Sequence[str] | None = None, samplers: Sequence[str] | None = None,
        runs_log: str | Path | None = None) -> Path:
    """``hpo bench multiobjective``: run the studies, then write ``multiobjective.md``.

    ``samplers``: the methods (``gp``, ``qlognehvi``, ``parego``, ``nehvi-mc128``, ``nsga2``, ``motpe``,
    ``random``; default: ``FULL_METHODS``);
    ``runs_log``: a JSON-lines file that records each finished study; a run given the
    same file skips the studies already in it.
    """
    from hpo.bench.multiobjective_bench import make_mo_plan, run_mo_benchmark

    plan = make_mo_plan(quick=quick, methods=samplers, problems=problems, seeds=seeds, processes=processes)
    log = Path(runs_log) if runs_log is not None else None
    return write_mo_report(run_mo_benchmark(plan, runs_log=log), output_dir)


def report_from_log(runs_log: str | Path, output_dir: str | Path, seeds: int = 10, processes: int = 1,
                    notes: Sequence[str] = ()) -> Path:
    """Write the report of the full plan from a runs log alone, running nothing (an interrupted run).

    Per problem, only the seeds that every method finished are kept, so the methods are
    compared on the same seeds; the header says how many that is.
    """
    import os
    import platform

    from hpo.bench.multiobjective_bench import make_mo_plan
    from hpo.bench.mo_problems import get_mo_problem
    from hpo.bench.samplers_bench import _processor_name, load_runs_log

    plan = make_mo_plan(seeds=seeds, processes=processes)
    runs = load_runs_log(Path(runs_log), plan)
    kept = []
    for problem in plan.problems:
        mine = [r for r in runs if r.problem == problem]
        paired = {seed for seed in plan.seeds if all(any(r.sampler == m and r.seed == seed for r in mine)
                                                        for m in plan.samplers)}
        kept += [r for r in mine if r.seed in paired]
    infos = {p: get_mo_problem(p).info(plan.budgets[p]) for p in plan.problems}
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": _processor_name()}
    seconds = sum(r.wall_seconds for r in kept)
    return write_mo_report(MOBenchResult(plan, infos, kept, seconds, machine), Path(output_dir), notes)

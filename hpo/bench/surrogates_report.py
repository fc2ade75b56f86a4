"""The report of ``hpo bench surrogates``: ``surrogates.md`` and ``surrogates_curves.png``.

Per problem the score after the last evaluation, median over seeds: log10 simple regret
(one objective; floored at the problem's floor) or log10 of the hypervolume gap to the
best known hypervolume (several objectives; floored at 1e-6 of it). Lower is better for
both, and the rank table ranks the methods by it per problem (1 = best; ties share the
mean rank). Then time per suggestion at n = 50, 100, 200, and the paper's four findings
and the issue's targets, each met / not met as computed from these numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpo.bench.samplers_bench import BenchResult, TimingResult, best_so_far
from hpo.bench.surrogate_problems import HIGH_DIM, is_multi_objective
from hpo.bench.surrogates_bench import INITIAL_POINTS, QUICK_INITIAL_POINTS

__all__ = ["score_curves", "final_scores", "ranks", "findings", "write_surrogates_report", "run"]

HV_FLOOR = 1e-6
_COLORS = {"gp": "#d62728", "ibnn": "#2ca02c", "dkl": "#1f77b4", "hmc": "#ff7f0e", "sghmc": "#8c564b",
           "ensemble": "#9467bd", "random": "#7f7f7f"}
STOCHASTIC = ("hmc", "sghmc", "ensemble")


def score_curves(result: BenchResult) -> dict[tuple[str, str], np.ndarray]:
    """``(problem, method) -> (seeds, budget)`` log10 regret (or hypervolume gap) after each evaluation."""
    ref = _references(result)
    curves: dict[tuple[str, str], list[np.ndarray]] = {}
    for r in result.runs:
        if r.error is not None or not r.values:
            continue
        info = result.problems[r.problem]
        if is_multi_objective(r.problem):
            best = getattr(info, "max_hv", None) or max(v for q in result.runs if q.problem == r.problem
                                                        for v in (q.values or [0.0]))
            gap = np.maximum(best - np.asarray(r.values, dtype=float), HV_FLOOR * best)
        else:
            gap = np.maximum(best_so_far(r.values) - ref[r.problem], info.regret_floor)  # type: ignore[union-attr]
        curve = np.log10(gap)
        if len(curve) < info.budget:
            curve = np.concatenate([curve, np.full(info.budget - len(curve), curve[-1])])
        curves.setdefault((r.problem, r.sampler), []).append(curve[: info.budget])
    return {k: np.vstack(v) for k, v in curves.items()}


def _references(result: BenchResult) -> dict[str, float]:
    """Per single-objective problem: the known optimum, or the best value any run reached."""
    ref: dict[str, float] = {}
    for name, info in result.problems.items():
        if is_multi_objective(name):
            continue
        optimum = getattr(info, "optimum", None)
        seen = [v for r in result.runs if r.problem == name and r.error is None for v in r.values if not math.isnan(v)]
        ref[name] = optimum if optimum is not None else (min(seen) if seen else math.nan)
    return ref


def final_scores(result: BenchResult, curves: dict[tuple[str, str], np.ndarray]) -> dict[str, dict[str, float]]:
    """problem -> method -> median over seeds of the last score (missing: no successful run)."""
    out: dict[str, dict[str, float]] = {}
    for (problem, method), arr in curves.items():
        out.setdefault(problem, {})[method] = float(np.nanmedian(arr[:, -1]))
    return {p: out[p] for p in result.plan.problems if p in out}


def ranks(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """problem -> method -> rank (1 = lowest score; ties share their mean rank)."""
    out: dict[str, dict[str, float]] = {}
    for problem, by_method in scores.items():
        values = sorted(by_method.values())
        out[problem] = {m: float(np.mean([i + 1 for i, v in enumerate(values) if v == s]))
                        for m, s in by_method.items()}
    return out


def _timing(timings: Sequence[TimingResult], method: str, n: int) -> float | None:
    for t in timings:
        if t.sampler == method and t.n_obs == n:
            return t.median
    return None


def _beats(scores: dict[str, dict[str, float]], a: str, b: str, problems: Sequence[str]) -> list[str]:
    return [p for p in problems if a in scores.get(p, {}) and b in scores[p] and scores[p][a] < scores[p][b]]


def findings(result: BenchResult, scores: dict[str, dict[str, float]],
             rank: dict[str, dict[str, float]]) -> list[tuple[str, str, str]]:
    """(claim, measurement, "met" / "not met" / "not checked") for the four findings and the targets."""
    problems = list(scores)
    high = [p for p in problems if result.problems[p].dim >= HIGH_DIM]
    out: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "not checked" if ok is None else ("met" if ok else "not met")

    present = [m for m in STOCHASTIC if any(m in scores[p] for p in problems)]
    if "hmc" in present and len(present) > 1:
        sub = {p: {m: scores[p][m] for m in present if m in scores[p]} for p in problems}
        mean_rank = {m: float(np.mean([r[m] for r in ranks(sub).values() if m in r])) for m in present}
        text = ", ".join(f"{m} {v:.2f}" for m, v in sorted(mean_rank.items(), key=lambda kv: kv[1]))
        out.append(("Finding 1: HMC is the best inference among the fully stochastic BNNs (mean rank among "
                    f"{present}; strictly best)", text,
                    verdict(all(mean_rank["hmc"] < v for m, v in mean_rank.items() if m != "hmc"))))
    else:
        out.append(("Finding 1: HMC is the best inference among the fully stochastic BNNs",
                    f"methods present: {present}", verdict(None)))
    if "dkl" in result.plan.samplers and "gp" in result.plan.samplers:
        wins = _beats(scores, "dkl", "gp", problems)
        out.append(("Finding 2: DKL is competitive with the GP (better on at least a third of the problems)",
                    f"dkl better than gp on {len(wins)}/{len(problems)}: {wins}", verdict(3 * len(wins) >= len(problems))))
    else:
        out.append(("Finding 2: DKL is competitive with the GP", "dkl or gp not run", verdict(None)))
    ibnn_wins = _beats(scores, "ibnn", "gp", high)
    have_ibnn = "ibnn" in result.plan.samplers and "gp" in result.plan.samplers and bool(high)
    out.append((f"Finding 3: I-BNN beats the GP in high dimensions (every problem with d >= {HIGH_DIM})",
                f"ibnn better on {len(ibnn_wins)}/{len(high)}: {ibnn_wins}",
                verdict(len(ibnn_wins) == len(high) if have_ibnn else None)))
    winners = {p: min(scores[p], key=scores[p].get) for p in problems if scores[p]}  # type: ignore[arg-type]
    out.append(("Finding 4: the ranking depends on the problem (more than one winner)",
                f"winners: {winners}", verdict(len(set(winners.values())) > 1 if len(winners) > 1 else None)))
    out.append(("Target: ibnn beats gp on at least 2 of the high-dimensional problems",
                f"{len(ibnn_wins)} of {high}", verdict(len(ibnn_wins) >= 2 if have_ibnn else None)))
    have_ens = {"ensemble", "random"} <= set(result.plan.samplers)
    ens = _beats(scores, "ensemble", "random", problems)
    out.append(("Target: ensemble ranks above random on at least 6 problems",
                f"{len(ens)}/{len(problems)}: {ens}", verdict(len(ens) >= 6 if have_ens else None)))
    n = 100 if 100 in result.plan.timing_sizes else max(result.plan.timing_sizes)
    gp_t = _timing(result.timings, "gp", n)
    for method in ("ibnn", "dkl"):
        t = _timing(result.timings, method, n)
        ok = None if t is None or gp_t is None else t <= 2 * gp_t
        out.append((f"Target: {method} time per suggestion at n = {n} <= 2x gp's",
                    f"{method} {_f(t)} s, gp {_f(gp_t)} s", verdict(ok)))
    t = _timing(result.timings, "hmc", n)
    out.append((f"Target: hmc time per suggestion at n = {n} <= 20 s", f"{_f(t)} s", verdict(None if t is None else t <= 20)))
    return out


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def write_surrogates_report(result: BenchResult, output_dir: Path) -> Path:
    """Write ``surrogates.md`` and ``surrogates_curves.png`` into ``output_dir``; return the markdown's path."""
    from hpo.bench.plots import plot_bands

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    md, png = output_dir / "surrogates.md", output_dir / "surrogates_curves.png"
    curves = score_curves(result)
    scores = final_scores(result, curves)
    rank = ranks(scores)
    methods = list(result.plan.samplers)
    plan = result.plan
    panels = [(p, {m: curves[(p, m)] for m in methods if (p, m) in curves}) for p in plan.problems]
    plot_bands(panels, methods, _COLORS, "regret (HV gap for MO)", "hpo bench surrogates: median and quartiles", png)
    lines = ["# hpo bench surrogates", "",
             f"Machine: {result.machine.get('host', '')}; {result.machine.get('processes')} worker process(es), one "
             f"thread each. Seeds: {list(plan.seeds)}. Methods: {methods}; every BO method starts with "
             f"{QUICK_INITIAL_POINTS if plan.quick else INITIAL_POINTS} Sobol trials. Studies took {result.run_seconds:.0f} s, "
             f"the timing {result.timing_seconds:.0f} s." + (" **Quick (tiny) run.**" if plan.quick else ""), "",
             "## Problems", "", "| problem | d | budget | description |", "|---|---|---|---|"]
    lines += [f"| {p} | {i.dim} | {i.budget} | {i.description} |" for p, i in result.problems.items()]
    header = "| problem | " + " | ".join(methods) + " |"
    rule = "|---" * (len(methods) + 1) + "|"
    lines += ["", "## Median final log10 regret (one objective) or log10 hypervolume gap (several)", "",
              "Lower is better; the best per problem in bold.", "", header, rule]
    for p, by in scores.items():
        best = min(by.values())
        cells = [("**" + _f(by[m]) + "**" if by[m] == best else _f(by[m])) if m in by else "-" for m in methods]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "## Ranks (1 = best)", "", header, rule]
    for p, by in rank.items():
        lines.append(f"| {p} | " + " | ".join(_f(by.get(m), 2) for m in methods) + " |")
    mean = {m: np.mean([r[m] for r in rank.values() if m in r]) if any(m in r for r in rank.values()) else None
            for m in methods}
    lines.append("| **mean rank** | " + " | ".join(_f(None if v is None else float(v), 3) for v in mean.values()) + " |")
    lines += ["", "## Time per suggestion (median s, Hartmann-6, n completed trials)", "",
              "| method | " + " | ".join(f"n={n}" for n in plan.timing_sizes) + " |",
              "|---" * (len(plan.timing_sizes) + 1) + "|"]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(_f(_timing(result.timings, m, n)) for n in plan.timing_sizes) + " |")
    lines += ["", "## Curves", "", f"![curves]({png.name})", "", "## Findings and targets", ""]
    lines += [f"- {claim}: {detail} -> **{status}**." for claim, detail, status in findings(result, scores, rank)]
    failed = [r for r in result.runs if r.error is not None]
    if failed:
        lines += ["", "## Failed runs (left out)", ""]
        lines += [f"- {r.problem} / {r.sampler} / seed {r.seed}: {(r.error or '').strip().splitlines()[-1][:200]}"
                  for r in failed]
    md.write_text("\n".join(lines) + "\n")
    return md


def run(quick: bool, output_dir: Path, processes: int = 2, seeds: int | None = None,
        problems: Sequence[str] | None = None, methods: Sequence[str] | None = None,
        runs_log: str | Path | None = None) -> Path:
    """``hpo bench surrogates``: run the studies and the timing, then write ``surrogates.md``.

    ``methods``: the methods to run (default gp, ibnn, dkl, hmc, sghmc, ensemble, random; names
    not registered are skipped with a message). ``runs_log``: a JSON-lines file recording each
    finished study; a run given the same file skips the studies already in it.
    """
    from hpo.bench.surrogates_bench import make_surrogate_plan, run_surrogates_benchmark

    plan = make_surrogate_plan(quick=quick, methods=methods, problems=problems, seeds=seeds, processes=processes)
    log = Path(runs_log) if runs_log is not None else None
    return write_surrogates_report(run_surrogates_benchmark(plan, runs_log=log), output_dir)

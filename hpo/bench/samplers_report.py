"""The sampler benchmark's report: ``samplers.md`` with tables, targets and ``samplers_regret.png``."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpo.bench.problems import MIXED_PROBLEMS
from hpo.bench.samplers_bench import BenchResult, TimingResult, log_regret_curves, reference_values

__all__ = ["Target", "checkpoints", "summarise", "rank_samplers", "evaluate_targets", "write_samplers_report", "run"]

GP = "gp"
TPE = "tpe"
#: gp must beat tpe on at least this share of the problems (6 of 9).
TARGET_WIN_SHARE = 6 / 9
TARGET_TIMES = {500: 1.0, 1000: 3.0}  # history size -> seconds per suggestion
OPTUNA_GP = "optuna-gp"
#: on the mixed problems (hpo.bench.mixed_problems) gp must beat tpe and optuna-gp on this share (3 of 4).
MIXED_WIN_SHARE = 3 / 4
_COLORS = {"gp": "#d62728", "ensemble": "#9467bd", "tpe": "#1f77b4", "optuna-gp": "#ff7f0e", "random": "#7f7f7f", "sobol": "#2ca02c"}


@dataclass(frozen=True)
class Stat:
    """Median and quartiles of log10 regret over seeds at one checkpoint."""

    median: float
    q25: float
    q75: float
    n: int


@dataclass(frozen=True)
class Target:
    text: str
    status: str  # "met" | "not met" | "n/a"
    detail: str


def checkpoints(budget: int) -> tuple[int, int, int]:
    """A third, two thirds and all of the budget (20/40/60 for 60, 10/20/30 for 30)."""
    return (max(1, round(budget / 3)), max(1, round(2 * budget / 3)), budget)


def _stat(column: np.ndarray) -> Stat:
    finite = column[~np.isnan(column)]
    if not len(finite):
        return Stat(math.nan, math.nan, math.nan, 0)
    q25, med, q75 = np.percentile(finite, [25, 50, 75])
    return Stat(float(med), float(q25), float(q75), len(finite))


def summarise(result: BenchResult) -> dict[tuple[str, str], dict[int, Stat]]:
    """``(problem, sampler) -> {evaluations: Stat}`` at each problem's checkpoints."""
    curves = log_regret_curves(result)
    out: dict[tuple[str, str], dict[int, Stat]] = {}
    for (problem, sampler), curve in curves.items():
        out[(problem, sampler)] = {c: _stat(curve[:, c - 1]) for c in checkpoints(result.problems[problem].budget)}
    return out


def final_medians(result: BenchResult, stats: dict[tuple[str, str], dict[int, Stat]]) -> dict[str, dict[str, float]]:
    """``problem -> {sampler: median final log10 regret}`` (samplers with results only)."""
    out: dict[str, dict[str, float]] = {}
    for problem, info in result.problems.items():
        row = {s: stats[(problem, s)][info.budget].median for s in result.plan.samplers if (problem, s) in stats}
        out[problem] = {s: v for s, v in row.items() if not math.isnan(v)}
    return out


def rank_samplers(medians: dict[str, dict[str, float]]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per-problem ranks (1 = lowest median final regret, ties share the mean rank) and median ranks."""
    from scipy.stats import rankdata

    ranks: dict[str, dict[str, float]] = {}
    for problem, row in medians.items():
        names = list(row)
        if names:
            ranks[problem] = dict(zip(names, map(float, rankdata([row[n] for n in names]))))
    samplers = sorted({s for row in ranks.values() for s in row})
    median_rank = {s: float(np.median([row[s] for row in ranks.values() if s in row])) for s in samplers}
    return ranks, median_rank


def _timing(timings: list[TimingResult], sampler: str, n: int) -> TimingResult | None:
    return next((t for t in timings if t.sampler == sampler and t.n_obs == n), None)


def evaluate_targets(result: BenchResult) -> list[Target]:
    """The gp targets: met / not met, or n/a when gp (or what it is compared with) was not run.

    Four always (tpe on the original problems, median rank, two timings), two more (tpe and
    optuna-gp on the mixed problems) when mixed problems were run.
    """
    stats = summarise(result)
    medians = final_medians(result, stats)
    _, median_rank = rank_samplers(medians)
    problems = [p for p in result.problems if p not in MIXED_PROBLEMS]
    need = math.ceil(TARGET_WIN_SHARE * len(problems) - 1e-9)
    texts = [
        f"`gp` reaches a lower median final regret than Optuna `tpe` on at least {need} of the {len(problems)} problems",
        "`gp` has the best (lowest) median rank",
        *(f"`gp` time per suggestion at {n} observations < {s:g} s" for n, s in TARGET_TIMES.items()),
    ]
    ran = set(result.plan.samplers)
    if GP not in ran:
        return [Target(t, "n/a", "gp is not registered (or not run)") for t in texts]
    targets = []
    if TPE not in ran or not problems:
        targets.append(Target(texts[0], "n/a", "tpe not run" if TPE not in ran else "only mixed problems run"))
    else:
        both = [p for p in problems if GP in medians[p] and TPE in medians[p]]
        wins = [p for p in both if medians[p][GP] < medians[p][TPE]]
        detail = f"gp lower on {len(wins)} of {len(problems)}" + (f" ({', '.join(wins)})" if wins else "")
        targets.append(Target(texts[0], "met" if len(wins) >= need else "not met", detail))
    if GP not in median_rank:
        targets.append(Target(texts[1], "not met", "gp has no completed run"))
    else:
        best = min(median_rank.values())
        tied = [s for s, r in median_rank.items() if r == best and s != GP]
        ok = median_rank[GP] == best
        detail = f"gp {median_rank[GP]:g}, best {best:g}" + (f" (tied with {', '.join(tied)})" if ok and tied else "")
        targets.append(Target(texts[1], "met" if ok else "not met", detail))
    for (n, limit), text in zip(TARGET_TIMES.items(), texts[2:]):
        t = _timing(result.timings, GP, n)
        if t is None:
            targets.append(Target(text, "n/a", f"not measured at {n} observations (--quick)"))
        elif t.median is None:
            targets.append(Target(text, "not met", t.error or "no measurement"))
        else:
            targets.append(Target(text, "met" if t.median < limit else "not met", f"median {t.median:.3g} s"))
    return targets + _mixed_targets(result, medians)


def _mixed_targets(result: BenchResult, medians: dict[str, dict[str, float]]) -> list[Target]:
    """gp against tpe and optuna-gp on the mixed problems run (none run: no target)."""
    mixed = [p for p in result.problems if p in MIXED_PROBLEMS]
    if not mixed:
        return []
    need = math.ceil(MIXED_WIN_SHARE * len(mixed) - 1e-9)
    out = []
    for rival in (TPE, OPTUNA_GP):
        text = (f"`gp` reaches a lower median final regret than `{rival}` on at least {need} of the {len(mixed)} "
                "mixed/categorical problems")
        if GP not in result.plan.samplers or rival not in result.plan.samplers:
            out.append(Target(text, "n/a", f"gp or {rival} not run"))
            continue
        wins = [p for p in mixed if GP in medians[p] and rival in medians[p] and medians[p][GP] < medians[p][rival]]
        detail = f"gp lower on {len(wins)} of {len(mixed)}" + (f" ({', '.join(wins)})" if wins else "")
        out.append(Target(text, "met" if len(wins) >= need else "not met", detail))
    return out


# -- formatting ----------------------------------------------------------------------
def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _short_error(error: str) -> str:
    """The error's last line, with file-system paths shortened (reports carry no local paths)."""
    last = error.strip().splitlines()[-1] if error.strip() else "error"
    return re.sub(r"(?:/[^\s/'\"]+)+/", ".../", last).replace("|", "\\|")[:200]


def _plot(result: BenchResult, curves: dict[tuple[str, str], np.ndarray], path: Path) -> None:
    from hpo.bench.plots import plot_bands

    panels = [
        (f"{problem} ({info.dim}-D)" + ("" if info.optimum is not None else " *"),
         {s: curves[(problem, s)] for s in result.plan.samplers if (problem, s) in curves})
        for problem, info in result.problems.items()
    ]
    plot_bands(panels, result.plan.samplers, _COLORS, "simple regret",
               "Simple regret: median over seeds, band = quartiles (* regret vs best value seen in the run)", path)


def _header(result: BenchResult) -> list[str]:
    plan, m = result.plan, result.machine
    budgets = sorted(set(plan.budgets.values()))
    return [
        "# Sampler benchmark (`hpo bench samplers" + (" --quick" if plan.quick else "") + "`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC in one run on {m.get('cpus', '?')} CPU cores "
        f"({m.get('processor', '?')}), Python {m.get('python', '?')}. Samplers: {', '.join(f'`{s}`' for s in plan.samplers)}; "
        f"{len(plan.seeds)} seeds; budgets {'/'.join(map(str, budgets))} evaluations. "
        f"Each (problem, sampler, seed) is a real hpo study on a SQLite file (`create_study(sampler=..., seed=...)`, "
        f"`study.optimize`), run on a pool of {plan.processes} worker processes with one thread each "
        f"({len(result.runs)} studies in {result.run_seconds:.0f} s; time per suggestion measured afterwards in "
        f"{result.timing_seconds:.0f} s with {m.get('torch_threads', '?')} torch threads"
        + (f", pinned to {m['timing_cores']} CPU cores" if m.get("timing_cores") else "")
        + (f"; 1-minute load average at the end {m['load_1min']:.1f}" if m.get("load_1min") is not None else "")
        + ": times depend on what else the machine runs).",
        "",
        *_hosts_line(result),
    ]


def _hosts_line(result: BenchResult) -> list[str]:
    """Where the studies ran, when a resumed run (``--runs-log``) combined machines."""
    hosts: dict[str, int] = {}
    for r in result.runs:
        hosts[r.host or "unknown"] = hosts.get(r.host or "unknown", 0) + 1
    if len(hosts) < 2:
        return []
    where = "; ".join(f"{n} on {host}" for host, n in sorted(hosts.items(), key=lambda kv: -kv[1]))
    return [f"The studies were resumed from a runs log across machines: {where}. Regret does not depend on "
            "the machine (every study is seeded); the time per suggestion below was measured on this one.", ""]


def _problems_section(result: BenchResult, ref: dict[str, float]) -> list[str]:
    lines = ["## Problems", "", "| problem | description | dim | budget | optimum |", "|---|---|---:|---:|---|"]
    for name, info in result.problems.items():
        opt = f"{info.optimum:.6g}" if info.optimum is not None else f"unknown; best seen in this run {_f(ref[name], 5)}"
        lines.append(f"| {name} | {info.description} | {info.dim} | {info.budget} | {opt} |")
    floors = sorted({(i.regret_floor, i.optimum is None) for i in result.problems.values()})
    lines += [
        "",
        "Simple regret after n evaluations = best value among the first n - optimum. For the tuning tasks "
        "(no known optimum) it is measured against **the best value seen by any sampler and seed in this run**, "
        "so at least one run ends at regret 0. log10 regret is floored at "
        + ", ".join(f"{fl:g} ({'tuning tasks' if real else 'test functions'})" for fl, real in floors)
        + ": regrets below count as solved.",
        "",
    ]
    return lines


def _regret_tables(result: BenchResult, stats: dict[tuple[str, str], dict[int, Stat]]) -> list[str]:
    lines = ["## log10 simple regret (median and IQR over seeds)", ""]
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, info in result.problems.items():
        groups.setdefault(checkpoints(info.budget), []).append(name)
    for cps, names in groups.items():
        lines += [
            f"At {'/'.join(map(str, cps))} evaluations, a third, two thirds and all of the budget of "
            f"{cps[-1]} ({', '.join(names)}). Cells: median [q25, q75]; bold: lowest final median of the problem.",
            "",
            "| problem | sampler | runs | " + " | ".join(f"after {c}" for c in cps) + " |",
            "|---|---|---:|" + "---:|" * len(cps),
        ]
        for problem in names:
            finals = [stats[(problem, s)][cps[-1]].median for s in result.plan.samplers if (problem, s) in stats]
            best = min((v for v in finals if not math.isnan(v)), default=math.nan)
            for sampler in result.plan.samplers:
                st = stats.get((problem, sampler))
                if st is None:
                    lines.append(f"| {problem} | {sampler} | 0 | " + " | ".join("n/a" for _ in cps) + " |")
                    continue
                cells = []
                for c in cps:
                    s = st[c]
                    cell = f"{s.median:.2f} [{s.q25:.2f}, {s.q75:.2f}]" if s.n else "n/a"
                    cells.append(f"**{cell}**" if c == cps[-1] and s.n and s.median == best else cell)
                lines.append(f"| {problem} | {sampler} | {st[cps[-1]].n} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _rank_section(result: BenchResult, ranks: dict[str, dict[str, float]], median_rank: dict[str, float]) -> list[str]:
    samplers = list(result.plan.samplers)
    lines = [
        "## Ranks (by median final regret; 1 = best, ties share the mean rank)",
        "",
        "| problem | " + " | ".join(samplers) + " |",
        "|---|" + "---:|" * len(samplers),
    ]
    for problem in result.problems:
        row = ranks.get(problem, {})
        lines.append(f"| {problem} | " + " | ".join(_f(row.get(s), 3) for s in samplers) + " |")
    lines += ["| **median rank** | " + " | ".join(f"**{_f(median_rank.get(s), 3)}**" for s in samplers) + " |", ""]
    return lines


def _timing_section(result: BenchResult) -> list[str]:
    sizes = list(result.plan.timing_sizes)
    lines = [
        "## Time per suggestion",
        "",
        f"Seconds per `study.ask()` with n completed random trials of the 6-D Hartmann problem in the history "
        f"(one warm-up ask, then the median of {result.plan.timing_repeats}); last column: median time of the "
        "sampler's `suggest` during the benchmark studies above (one thread, histories up to the budget).",
        "",
        "| sampler | " + " | ".join(f"n={n}" for n in sizes) + " | during the studies |",
        "|---|" + "---:|" * (len(sizes) + 1),
    ]
    notes = []
    for s in result.plan.samplers:
        cells = []
        for n in sizes:
            t = _timing(result.timings, s, n)
            if t is not None and t.median is None and t.error:
                notes.append(f"- {s} at n={n}: {_short_error(t.error)}")
            cells.append(_f(t.median if t else None))
        during = [x for r in result.runs if r.sampler == s for x in r.suggest_seconds]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {_f(float(np.median(during)) if during else None)} |")
    lines += [""] + (notes + [""] if notes else [])
    samplers = list(result.plan.samplers)
    lines += ["Median seconds per `suggest` during the studies, per problem (histories up to the budget):", "",
              "| problem | " + " | ".join(samplers) + " |", "|---|" + "---:|" * len(samplers)]
    for problem in result.problems:
        cells = []
        for s in samplers:
            during = [x for r in result.runs if r.sampler == s and r.problem == problem for x in r.suggest_seconds]
            cells.append(_f(float(np.median(during)) if during else None))
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    return lines + [""]


def write_samplers_report(result: BenchResult, output_dir: Path) -> Path:
    """Write ``samplers.md`` and ``samplers_regret.png`` into ``output_dir``; return the markdown's path."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    md, png = output_dir / "samplers.md", output_dir / "samplers_regret.png"
    curves = log_regret_curves(result)
    stats = summarise(result)
    ranks, median_rank = rank_samplers(final_medians(result, stats))
    _plot(result, curves, png)
    lines = _header(result) + _problems_section(result, reference_values(result))
    lines += _regret_tables(result, stats) + _rank_section(result, ranks, median_rank) + _timing_section(result)
    lines += ["## Regret curves", "", f"![regret curves]({png.name})", "", "## Targets", ""]
    for t in evaluate_targets(result):
        lines.append(f"- {t.text}: {t.detail} -> **{t.status}**.")
    failed = [r for r in result.runs if r.error is not None]
    if failed:
        lines += ["", "## Failed runs (left out of the statistics)", ""]
        lines += [f"- {r.problem} / {r.sampler} / seed {r.seed}: {_short_error(r.error or '')}" for r in failed]
    md.write_text("\n".join(lines) + "\n")
    return md


def run(quick: bool, output_dir: Path, processes: int = 2, seeds: int | None = None,
        problems: Sequence[str] | None = None, samplers: Sequence[str] | None = None,
        timing_cores: int | None = None, runs_log: str | Path | None = None) -> Path:
    """``hpo bench samplers``: run the studies and the timing, then write ``samplers.md``.

    ``runs_log``: a JSON-lines file that records each finished study; a run
    given the same file skips the studies already in it.
    """
    from hpo.bench.samplers_bench import make_plan, run_samplers_benchmark

    plan = make_plan(quick=quick, samplers=samplers, problems=problems, seeds=seeds, processes=processes,
                     timing_cores=timing_cores)
    log = Path(runs_log) if runs_log is not None else None
    return write_samplers_report(run_samplers_benchmark(plan, runs_log=log), output_dir)

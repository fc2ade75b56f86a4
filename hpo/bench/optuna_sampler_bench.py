"""The sampler half of ``hpo bench optuna``: ``HpoSampler("gp")`` inside Optuna vs Optuna's own samplers.

Each run is one Optuna study (in memory, ``direction="minimize"``) on a problem of the sampler
benchmark (:mod:`hpo.bench.problems`), driven through Optuna's API (``study.optimize`` with an
objective that calls ``trial.suggest_*``), for ``budget`` trials (None: the problem's own budget), for
every seed. Samplers (:data:`SAMPLERS`): ``hpo-gp`` (``HpoSampler("gp", seed=seed)``), ``optuna-gp``
(``optuna.samplers.GPSampler(seed=seed)``), ``optuna-tpe`` (``optuna.samplers.TPESampler(seed=seed)``),
all with their default settings.

:func:`run_sampler_part` returns one row per run (also appended, one JSON line each, to
``runs_log``, from which a later call resumes); :func:`sampler_section` writes the report's markdown
section: the median simple regret after the budget per problem and sampler (regret against the
known optimum, or against the best value any run reached on a tuning task), and on how many problems
``hpo-gp`` has a lower median regret than ``optuna-gp`` (the issue's target: a majority).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpo.errors import ConfigError
from hpo.params import Categorical, Fixed, Float, Int, Param

__all__ = ["SAMPLERS", "make_sampler", "run_one", "run_sampler_part", "median_regrets", "sampler_section",
           "run_part", "section_lines", "QUICK_PROBLEMS"]

#: ``--quick``: two problems, 2 seeds, 10 trials each.
QUICK_PROBLEMS: tuple[str, ...] = ("branin", "hartmann6")

#: The samplers compared, in report order.
SAMPLERS: tuple[str, ...] = ("hpo-gp", "optuna-gp", "optuna-tpe")


def make_sampler(name: str, seed: int) -> Any:
    """The Optuna sampler called ``name`` (one of :data:`SAMPLERS`), seeded."""
    import optuna

    if name == "hpo-gp":
        from hpo.integrations.optuna_sampler import HpoSampler

        return HpoSampler("gp", seed=seed)
    if name == "optuna-gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ConfigError(f"bench optuna: unknown sampler {name!r}; valid: {list(SAMPLERS)}")


def _suggest(trial: Any, name: str, param: Param) -> Any:
    """The Optuna ``suggest_*`` call of an hpo parameter."""
    if isinstance(param, Float):
        return trial.suggest_float(name, param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, Int):
        return trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, Categorical):
        return trial.suggest_categorical(name, list(param.choices))
    if isinstance(param, Fixed):
        return param.value
    raise ConfigError(f"bench optuna: parameter {name!r} of type {type(param).__name__} has no Optuna suggest call")


def run_one(problem: str, sampler: str, seed: int, budget: int | None = None) -> dict[str, Any]:
    """One Optuna study of ``sampler`` on ``problem``: a row with the values in trial order (NaN for a
    trial that did not complete), the wall time and the error (None when the run completed)."""
    import optuna

    from hpo.bench.problems import get_problem

    prob = get_problem(problem)
    n = int(budget or prob.budget)
    row: dict[str, Any] = {"problem": problem, "sampler": sampler, "seed": int(seed), "budget": n, "values": [],
                           "seconds": 0.0, "error": None}
    start = time.perf_counter()
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature and model-fit warnings of the samplers
            study = optuna.create_study(sampler=make_sampler(sampler, seed), direction="minimize")
            study.optimize(lambda t: prob.objective({k: _suggest(t, k, p) for k, p in prob.space.items()}),
                           n_trials=n)
        row["values"] = [t.value if t.state == optuna.trial.TrialState.COMPLETE else math.nan for t in study.trials]
    except Exception as exc:  # a broken run is recorded (and run again on resume), not fatal to the others
        row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    row["seconds"] = time.perf_counter() - start
    return row


def _load(runs_log: Path | None) -> dict[tuple[str, str, int, int], dict[str, Any]]:
    found: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    if runs_log is None or not runs_log.exists():
        return found
    for line in runs_log.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("part", "sampler") != "sampler":  # the log is shared with hpo bench optuna's other parts
                continue
            if row.get("error") is None:
                row.pop("part", None)
                found[(row["problem"], row["sampler"], int(row["seed"]), int(row["budget"]))] = row
    return found


def _run_job(job: tuple[str, str, int, int]) -> dict[str, Any]:
    return run_one(*job)


def run_sampler_part(out_dir: str | Path, seeds: Sequence[int], budget: int | None, problems: Sequence[str],
                     runs_log: str | Path | None, samplers: Sequence[str] = SAMPLERS,
                     processes: int = 1) -> list[dict[str, Any]]:
    """Run every (problem, sampler, seed) not yet in ``runs_log`` and return all rows (see the module
    docstring), in ``processes`` worker processes (each run is one process's serial Optuna study). ``out_dir``
    is created; the rows are also written to ``out_dir/optuna_samplers.json``."""
    from hpo.bench.problems import get_problem

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = Path(runs_log) if runs_log is not None else None
    done = _load(log)
    jobs = [(problem, sampler, int(seed), int(budget or get_problem(problem).budget))
            for problem in problems for sampler in samplers for seed in seeds]
    pending = [job for job in jobs if job not in done]

    def keep(row: dict[str, Any]) -> None:
        done[(row["problem"], row["sampler"], int(row["seed"]), int(row["budget"]))] = row
        if log is not None:
            with log.open("a") as fh:
                fh.write(json.dumps({"part": "sampler", **row}, allow_nan=True) + "\n")

    if processes > 1 and len(pending) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(processes, len(pending))) as pool:
            for row in pool.imap_unordered(_run_job, pending):
                keep(row)
    else:
        for job in pending:
            keep(run_one(*job))
    rows = [done[job] for job in jobs]
    (out / "optuna_samplers.json").write_text(json.dumps(rows, allow_nan=True, indent=1))
    return rows


def median_regrets(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], float]:
    """``(problem, sampler) -> median simple regret after the budget`` over the seeds (runs with an error
    are left out; regret against the known optimum, else the best value of any run of the problem)."""
    from hpo.bench.problems import get_problem

    best_seen: dict[str, float] = {}
    for r in rows:
        finite = [v for v in r["values"] if v is not None and not math.isnan(v)]
        if r.get("error") is None and finite:
            best_seen[r["problem"]] = min(best_seen.get(r["problem"], math.inf), min(finite))
    finals: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        finite = [v for v in r["values"] if v is not None and not math.isnan(v)]
        if r.get("error") is not None or not finite:
            continue
        prob = get_problem(r["problem"])
        ref = prob.optimum if prob.optimum is not None else best_seen[r["problem"]]
        finals.setdefault((r["problem"], r["sampler"]), []).append(max(min(finite) - ref, 0.0))
    return {k: float(np.median(v)) for k, v in finals.items()}


def sampler_section(rows: Sequence[Mapping[str, Any]], machine: str | None = None) -> str:
    """The report's markdown section for these rows (see the module docstring)."""
    med = median_regrets(rows)
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    samplers = [s for s in SAMPLERS if any(r["sampler"] == s for r in rows)]
    seeds = sorted({int(r["seed"]) for r in rows})
    budgets = {r["problem"]: int(r["budget"]) for r in rows}
    errors = [r for r in rows if r.get("error") is not None]
    lines = ["## Sampler: HpoSampler inside Optuna", "",
             f"`HpoSampler(\"gp\")` vs Optuna's `GPSampler` and `TPESampler`, each driven through Optuna's API "
             f"(`optuna.create_study(sampler=...).optimize`), default settings, seeds {seeds}"
             + (f", on {machine}" if machine else "") + ". Median simple regret after the budget over the seeds "
             "(lower is better; regret against the known optimum, or the best value any run reached).", "",
             "| problem | budget | " + " | ".join(samplers) + " |",
             "|---|---:|" + "---:|" * len(samplers)]
    wins = compared = 0
    for p in problems:
        cells = [f"{med[(p, s)]:.3g}" if (p, s) in med else "n/a" for s in samplers]
        lines.append(f"| {p} | {budgets[p]} | " + " | ".join(cells) + " |")
        if (p, "hpo-gp") in med and (p, "optuna-gp") in med:
            compared += 1
            wins += med[(p, "hpo-gp")] < med[(p, "optuna-gp")]
    seconds = {s: sum(r["seconds"] for r in rows if r["sampler"] == s) for s in samplers}
    lines += ["", f"`hpo-gp` has a lower median regret than `optuna-gp` on {wins} of {compared} problems "
              f"(target: a majority, {'met' if compared and wins > compared / 2 else 'not met'}).",
              "Wall time of all runs: " + ", ".join(f"{s} {seconds[s]:.0f} s" for s in samplers) + "."]
    if errors:
        lines.append(f"{len(errors)} run(s) ended in an error: " + "; ".join(
            f"{r['problem']}/{r['sampler']}/{r['seed']}: {r['error']}" for r in errors[:5]))
    return "\n".join(lines) + "\n"


def run_part(quick: bool, runs_log: Path | None = None, processes: int = 1) -> list[dict[str, Any]]:
    """The ``sampler`` part of ``hpo bench optuna``: every problem of the sampler benchmark at its own
    budget, seeds 0-4 (``quick``: :data:`QUICK_PROBLEMS`, seeds 0-1, 10 trials), in ``processes`` processes."""
    import tempfile

    from hpo.bench.problems import PROBLEM_NAMES

    problems = QUICK_PROBLEMS if quick else PROBLEM_NAMES
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_sampler_part(tmp, seeds=range(2 if quick else 5), budget=10 if quick else None,
                                problems=problems, runs_log=runs_log, processes=processes)
    return rows


def section_lines(rows: list[Any], output_dir: Path) -> list[str]:
    """The report writer of the ``sampler`` part (``output_dir`` unused: no plot)."""
    import os
    import platform

    if not rows:
        return ["## Sampler: HpoSampler inside Optuna", "", "(not measured in this run: `--part sampler` or `all`)", ""]
    machine = f"{os.cpu_count()} CPU cores ({platform.machine()})"
    return sampler_section(rows, machine=machine).splitlines() + [""]

"""``hpo bench multiobjective``: hypervolume reached by multi-objective samplers, run side by side.

Every (problem, method, seed) is a real hpo study (a SQLite file in a temporary
directory, ``create_study(objectives=..., constraints=..., sampler=..., seed=...)``,
``study.optimize``), run on the pool of :func:`hpo.bench.samplers_bench.run_studies`
(one thread per worker process, ``--runs-log`` to resume). After the study, the
hypervolume of its feasible front after each evaluation is computed with the
problem's reference point (:func:`hpo.hypervolume.hypervolume_history`, the
incremental history the dashboard shows) and stored with the final feasible
front. Jobs run seed by seed (seed 0 of every problem and method first), so an
interrupted run has whole seeds.
"""

from __future__ import annotations

import math
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpo.bench.mo_problems import MO_PROBLEM_NAMES, MOProblemInfo, get_mo_problem
from hpo.bench.samplers_bench import BenchPlan, RunResult, _Job, _processor_name, run_studies, run_timed_study
from hpo.validators import optional, positive_int

__all__ = ["METHODS", "FULL_METHODS", "BO_OPTIONS", "TAIL", "fresh_process_ask", "MOBenchResult", "make_mo_plan",
           "run_mo_benchmark", "hv_curves", "best_known_hv", "QUICK_PROBLEMS"]

#: The settings the BO sampler had before issue 23 (128 quasi-MC samples with several objectives too),
#: run as ``nehvi-mc128`` to measure what the cheaper default costs in hypervolume.
BO_OPTIONS: dict[str, Any] = {"num_restarts": 8, "raw_samples": 256, "mc_samples": 128}
#: Method name -> sampler spec (``create_study(sampler=...)``). ``gp`` is the sampler as a user gets it
#: (``sampler="gp"`` or none: qLogNEHVI with two objectives, qLogEHVI with three, ParEGO with four or more,
#: default settings).
METHODS: dict[str, dict[str, Any]] = {
    "gp": {"name": "gp", "options": {}},
    "qlognehvi": {"name": "gp", "options": {"acquisition": "nehvi"}},
    "parego": {"name": "gp", "options": {"acquisition": "parego"}},
    "ehvi": {"name": "gp", "options": {"acquisition": "ehvi"}},
    "nehvi-mc128": {"name": "gp", "options": {"acquisition": "nehvi", **BO_OPTIONS}},
    "nsga2": {"name": "nsga2", "options": {"population_size": 20}},
    "motpe": {"name": "tpe", "options": {}},
    "random": {"name": "random", "options": {}},
}
QUICK_PROBLEMS = ("branin-currin", "c2dtlz2")
QUICK_METHODS = ("gp", "parego", "nsga2", "random")
#: The methods of the full run (``qlognehvi`` and ``nehvi-mc128`` cost minutes per suggestion with 3-4
#: objectives: run them with ``--samplers`` on the 2-objective problems).
FULL_METHODS = ("gp", "parego", "nsga2", "motpe", "random")
#: The trailing model-based suggestions of a study whose median the report gives as the time per suggestion.
TAIL = 20
#: log10 hypervolume differences are floored at this share of the best known hypervolume.
REL_FLOOR = 1e-6


@dataclass
class MOBenchResult:
    """Everything the report shows."""

    plan: BenchPlan
    problems: dict[str, MOProblemInfo]
    runs: list[RunResult]
    run_seconds: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)


def make_mo_plan(quick: bool = False, methods: Sequence[str] | None = None, problems: Sequence[str] | None = None,
                 seeds: Sequence[int] | int | None = None, budget: int | None = None, processes: int = 1) -> BenchPlan:
    """The full plan (6 problems x 5 methods of ``FULL_METHODS`` x 10 seeds, 60 evaluations) or the quick one (2 x 4 x 1, 12).

    Raises:
        UnknownNameError: an unknown problem or method (the valid ones are listed).
        ConfigError: ``processes`` or ``seeds`` below 1.
    """
    from hpo.errors import UnknownNameError

    problems = tuple(problems or (QUICK_PROBLEMS if quick else MO_PROBLEM_NAMES))
    for p in problems:
        get_mo_problem(p)
    methods = tuple(methods or (QUICK_METHODS if quick else FULL_METHODS))
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise UnknownNameError(f"bench multiobjective: unknown method(s) {unknown}; valid: {list(METHODS)}")
    for key, value in (("processes", processes), ("seeds", seeds if isinstance(seeds, int) else None)):
        optional(positive_int, f"bench multiobjective: {key}", value)
    if seeds is None:
        seeds = 1 if quick else 10
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)
    budget = budget or (12 if quick else None)
    return BenchPlan(problems=problems, samplers=methods, seeds=seed_list,
                     budgets={p: budget or get_mo_problem(p).budget for p in problems},
                     timing_sizes=(), processes=processes, quick=quick)


def _order(job: _Job) -> tuple[int, int, int]:
    """Seed by seed; within a seed, the expensive BO studies first."""
    return (job.seed, 0 if METHODS[job.sampler]["name"] == "gp" else 1, MO_PROBLEM_NAMES.index(job.problem))


def run_mo_job(job: _Job) -> RunResult:
    """One study to its budget: hypervolume after each evaluation, and the final feasible front."""
    import hpo
    from hpo.hypervolume import hypervolume_history

    problem = get_mo_problem(job.problem)

    def build(url: str, name: str) -> Any:
        return hpo.create_study(name=name, space=problem.space, storage=url,
                                objectives={o: "minimize" for o in problem.objectives},
                                constraints=problem.constraints or None, sampler=METHODS[job.sampler], seed=job.seed)

    def collect(study: Any) -> tuple[list[float], dict[str, Any]]:
        history = hypervolume_history(study, ref_point=list(problem.ref_point))
        by_number = dict(zip(history.numbers, history.values))
        values, hv = [], 0.0
        for t in sorted(study.trials, key=lambda t: t.number):  # one worker: finishing order = number order
            hv = by_number.get(t.number, hv)
            values.append(hv)
        front = [[t.values[o] for o in problem.objectives] for t in study.pareto_front()]
        feasible = sum(t.is_feasible(study.constraints) for t in study.trials if t.values)
        extra: dict[str, Any] = {"front": front, "feasible": feasible}
        if METHODS[job.sampler]["name"] == "gp":
            extra["fresh"] = fresh_process_ask(study.store.url, study.name)
        return values, extra

    return run_timed_study(job, build, lambda trial: problem.evaluate(trial.params), collect)


_FRESH = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import hpo, torch, botorch  # noqa: F401
imported = time.perf_counter()
study = hpo.load_study(sys.argv[2], storage=sys.argv[1])
loaded = time.perf_counter()
study.ask()
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported, "ask_s": time.perf_counter() - loaded}))
"""


def fresh_process_ask(url: str, name: str) -> dict[str, float] | None:
    """Seconds of a resumed study's first suggestion in a new Python process: imports, ``load_study``,
    and the first ``ask()`` (its model fit and acquisition), each apart; None when it failed."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _FRESH, url, name], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0 or not done.stdout.strip():
        return None
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: float(v) for k, v in found.items()}


def run_mo_benchmark(plan: BenchPlan, progress: bool = True, runs_log: Path | None = None) -> MOBenchResult:
    """Run the studies (resuming from ``runs_log`` when given); return everything measured."""
    infos = {p: get_mo_problem(p).info(plan.budgets[p]) for p in plan.problems}
    with tempfile.TemporaryDirectory(prefix="hpo-bench-mo-") as tmp:
        start = time.perf_counter()
        runs = run_studies(plan, Path(tmp), progress=progress, log=runs_log, run_job=run_mo_job, order=_order,
                           desc="bench multiobjective")
        run_seconds = time.perf_counter() - start
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": _processor_name(),
               "load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    return MOBenchResult(plan, infos, runs, run_seconds, machine)


# -- hypervolume curves ---------------------------------------------------------------------
def best_known_hv(result: MOBenchResult) -> dict[str, float]:
    """Per problem: BoTorch's best known hypervolume, or (tuning task) that of the union of all final fronts."""
    from hpo.hypervolume import hypervolume

    out: dict[str, float] = {}
    for name, info in result.problems.items():
        if info.max_hv is not None:
            out[name] = info.max_hv
            continue
        points = [p for r in result.runs if r.problem == name and r.error is None for p in r.extra.get("front", [])]
        out[name] = hypervolume(np.array(points), info.ref_point) if points else math.nan
    return out


def hv_curves(result: MOBenchResult) -> dict[tuple[str, str], np.ndarray]:
    """``(problem, method) -> (seeds, budget)`` array of log10(best known HV - HV after n evaluations).

    Differences are floored at ``REL_FLOOR`` times the best known hypervolume (also when a
    run exceeds an approximate best known value); failed runs are left out.
    """
    best = best_known_hv(result)
    curves: dict[tuple[str, str], list[np.ndarray]] = {}
    for r in result.runs:
        if r.error is not None or not r.values:
            continue
        info = result.problems[r.problem]
        hv = np.asarray(r.values[: info.budget], dtype=float)
        if len(hv) < info.budget:
            hv = np.concatenate([hv, np.full(info.budget - len(hv), hv[-1])])
        floor = REL_FLOOR * best[r.problem]
        curves.setdefault((r.problem, r.sampler), []).append(np.log10(np.maximum(best[r.problem] - hv, floor)))
    return {k: np.vstack(v) for k, v in curves.items()}

"""``hpo bench surrogates``: every surrogate family side by side on the same problems, seeds and budgets.

Each method is the BO sampler of that surrogate name (``gp``, ``ibnn``, ``dkl``, ``hmc``,
``sghmc``, ``ensemble``) with its default options (qLogNEI for one objective, qLogNEHVI
for several) except the initial design: ``INITIAL_POINTS`` = 10 Sobol trials, the paper's
protocol for its synthetic problems (the sampler's default ``max(5, 2d)`` would spend the
whole 60-trial budget of the 30-D and 50-D problems on Sobol points), plus ``random``. A method whose name is not registered in this build is
skipped with a message (the list is an option). Every (problem, method, seed) study runs
to its budget on the pool of :func:`hpo.bench.samplers_bench.run_studies` (one thread per
worker; ``runs_log`` appends each finished study to a JSON-lines file and a rerun skips
those already there). Recorded per study: the objective values in trial order
(single objective) or the hypervolume of the feasible front after each evaluation
(several objectives), and the time of every suggestion. Then the time per suggestion
at ``n`` = 50, 100, 200 completed trials of Hartmann-6
(:func:`hpo.bench.samplers_bench.measure_suggest_times`). The report is
:mod:`hpo.bench.surrogates_report`.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpo.bench.samplers_bench import (
    BenchPlan,
    BenchResult,
    RunResult,
    _Job,
    _pinned,
    _processor_name,
    measure_suggest_times,
    run_studies,
    run_timed_study,
)
from hpo.bench.surrogate_problems import SURROGATE_PROBLEMS, get_surrogate_problem, is_multi_objective
from hpo.validators import is_int

__all__ = ["DEFAULT_METHODS", "QUICK_PROBLEMS", "make_surrogate_plan", "run_surrogates_benchmark",
           "run_surrogate_job", "available_methods"]

DEFAULT_METHODS = ("gp", "ibnn", "dkl", "hmc", "sghmc", "ensemble", "random")
QUICK_PROBLEMS = ("branin", "branin-currin")
TIMING_SIZES = (50, 100, 200)
QUICK_TIMING_SIZES = (8, 12)
#: Sobol trials before every BO method models (Li et al., 2024: 10 initial points on the synthetic problems)
INITIAL_POINTS = 10
QUICK_INITIAL_POINTS = 3


def available_methods(methods: Sequence[str], announce: bool = True) -> tuple[str, ...]:
    """The methods registered as sampler names; the others are skipped with a message."""
    from hpo.samplers.registry import sampler_names

    known = set(sampler_names())
    missing = [m for m in methods if m not in known]
    if missing and announce:
        print(f"bench surrogates: skipping method(s) {missing}: not registered sampler names in this build")
    return tuple(m for m in methods if m in known)


def make_surrogate_plan(quick: bool = False, methods: Sequence[str] | None = None,
                        problems: Sequence[str] | None = None, seeds: Sequence[int] | int | None = None,
                        budget: int | None = None, processes: int = 2) -> BenchPlan:
    """The full plan (10 problems, 5 seeds, the problems' budgets) or the quick one (2 problems, 1 seed, 6).

    Raises:
        UnknownNameError: an unknown problem.
        ConfigError: ``processes``, ``seeds`` or ``budget`` below 1 (or no method left).
    """
    from hpo.errors import ConfigError

    problems = tuple(problems or (QUICK_PROBLEMS if quick else SURROGATE_PROBLEMS))
    for p in problems:
        get_surrogate_problem(p)
    for key, value in (("processes", processes), ("budget", budget), ("seeds", seeds if isinstance(seeds, int) else None)):
        if value is not None and (not is_int(value) or value < 1):
            raise ConfigError(f"bench surrogates: `{key} >= 1` must hold, but got {key}={value!r}")
    chosen = available_methods(tuple(methods or DEFAULT_METHODS))
    if not chosen:
        raise ConfigError(f"bench surrogates: none of the methods {list(methods or DEFAULT_METHODS)} is registered")
    if seeds is None:
        seeds = 1 if quick else 5
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)
    budget = budget or (6 if quick else None)
    return BenchPlan(problems=problems, samplers=chosen, seeds=seed_list,
                     budgets={p: budget or get_surrogate_problem(p).budget for p in problems},
                     timing_sizes=QUICK_TIMING_SIZES if quick else TIMING_SIZES,
                     timing_repeats=1 if quick else 2, processes=processes, quick=quick)


def _sampler(method: str, quick: bool) -> Any:
    """The sampler spec of a method (cheap network training in the quick plan)."""
    if method == "random":
        return "random"
    options: dict[str, Any] = {"n_initial": INITIAL_POINTS}
    if quick:
        options = {"n_initial": QUICK_INITIAL_POINTS, "num_restarts": 2, "raw_samples": 32}
        cheap = {"dkl": {"steps": 20, "warm_steps": 5}, "ensemble": {"steps": 40, "warm_steps": 10}}
        if method in cheap:
            options["surrogate_options"] = cheap[method]
    return {"name": method, "options": options}


def run_surrogate_job(job: _Job) -> RunResult:
    """One study to its budget: objective values (one objective) or hypervolume (several) per trial."""
    import hpo
    from hpo.records import TrialState

    problem = get_surrogate_problem(job.problem)
    sampler = _sampler(job.sampler, os.environ.get(_QUICK_VAR) == "1")
    if not is_multi_objective(job.problem):

        def build(url: str, name: str) -> Any:
            return hpo.create_study(name=name, space=problem.space, storage=url, sampler=sampler, seed=job.seed)

        def collect(study: Any) -> tuple[list[float], dict[str, Any]]:
            key = study.objectives[0].name
            trials = sorted(study.trials, key=lambda t: t.number)
            return [float(t.values[key]) if t.state is TrialState.COMPLETE and t.values else math.nan
                    for t in trials], {}

        return run_timed_study(job, build, lambda trial: problem.objective(trial.params), collect)  # type: ignore[union-attr]

    from hpo.hypervolume import hypervolume_history

    def build_mo(url: str, name: str) -> Any:
        return hpo.create_study(name=name, space=problem.space, storage=url,
                                objectives={o: "minimize" for o in problem.objectives},  # type: ignore[union-attr]
                                sampler=sampler, seed=job.seed)

    def collect_mo(study: Any) -> tuple[list[float], dict[str, Any]]:
        history = hypervolume_history(study, ref_point=list(problem.ref_point))  # type: ignore[union-attr]
        by_number = dict(zip(history.numbers, history.values))
        values, hv = [], 0.0
        for t in sorted(study.trials, key=lambda t: t.number):
            hv = by_number.get(t.number, hv)
            values.append(hv)
        return values, {}

    return run_timed_study(job, build_mo, lambda trial: problem.evaluate(trial.params), collect_mo)  # type: ignore[union-attr]


_QUICK_VAR = "HPO_BENCH_SURROGATES_QUICK"


def _order(job: _Job) -> tuple[int, int]:
    """The expensive methods and high-dimensional problems first (they bound the run's length)."""
    weight = {"hmc": 0, "sghmc": 1, "ensemble": 2, "dkl": 3}.get(job.sampler, 4)
    return weight, -len(get_surrogate_problem(job.problem).space)


def run_surrogates_benchmark(plan: BenchPlan, progress: bool = True, runs_log: Path | None = None) -> BenchResult:
    """Run every study of ``plan`` (resuming from ``runs_log``), then time the suggestions."""
    from hpo.bench.samplers_bench import host_name

    saved = os.environ.get(_QUICK_VAR)
    os.environ[_QUICK_VAR] = "1" if plan.quick else "0"
    try:
        with tempfile.TemporaryDirectory(prefix="hpo-bench-surrogates-") as tmp:
            start = time.perf_counter()
            runs = run_studies(plan, Path(tmp), progress=progress, log=runs_log, run_job=run_surrogate_job,
                               order=_order, desc="bench surrogates")
            run_seconds = time.perf_counter() - start
            start = time.perf_counter()
            specs = {m: _sampler(m, plan.quick) for m in plan.samplers}
            with _pinned(plan.timing_cores):
                timings = measure_suggest_times(plan.samplers, plan.timing_sizes, plan.timing_repeats, Path(tmp),
                                                progress=progress, specs=specs)
            timing_seconds = time.perf_counter() - start
    finally:
        if saved is None:
            os.environ.pop(_QUICK_VAR, None)
        else:
            os.environ[_QUICK_VAR] = saved
    problems = {p: get_surrogate_problem(p).info(plan.budgets[p]) for p in plan.problems}
    machine = {"host": host_name(), "processor": _processor_name(), "cores": os.cpu_count(),
               "processes": plan.processes}
    return BenchResult(plan=plan, problems=problems, runs=runs, timings=timings,  # type: ignore[arg-type]
                       run_seconds=run_seconds, timing_seconds=timing_seconds, machine=machine)

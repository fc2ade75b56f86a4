"""``hpo bench samplers``: how fast each sampler finds good configurations, and what it costs.

Every (problem, sampler, seed) is a real hpo study (a SQLite file in a temporary
directory, ``create_study(sampler=name, seed=seed)``, ``study.optimize``) run in a
pool of worker processes, each limited to one thread (torch, BLAS, OpenMP) so
two runs side by side do not slow each other down. The study's sampler is wrapped
to time each ``suggest`` call. The objective values come back in trial order;
regret curves are computed from them (:func:`log_regret_curves`).

Then, in this process (default thread settings), the time per suggestion is
measured as the history grows: a 6-D Hartmann study is filled with random
completed trials up to each size, loaded with each sampler, and ``study.ask()``
is timed (one warm-up ask, then the median of a few; the timed trials are told
FAILED so the history stays at the size measured).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpo.bench.problems import ALL_PROBLEMS, ProblemInfo, get_problem
from hpo.samplers import Sampler, SamplingContext, sampler_names
from hpo.validators import is_int

__all__ = [
    "BenchPlan",
    "RunResult",
    "TimingResult",
    "BenchResult",
    "default_samplers",
    "make_plan",
    "run_samplers_benchmark",
    "best_so_far",
    "log_regret_curves",
]

#: BO samplers (registered by another module) compared first when present.
BO_SAMPLERS = ("gp", "ensemble")
BASELINES = ("tpe", "optuna-gp", "random", "sobol")
QUICK_PROBLEMS = ("branin", "mixed-hartmann3")
TIMING_PROBLEM = "hartmann6"
#: A sampler whose median ask at one history size exceeds this is not measured at larger sizes.
TIMING_CAP_S = 30.0
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def default_samplers(quick: bool = False) -> list[str]:
    """gp and ensemble when ``"gp"`` is registered, then the baselines.

    Quick: gp (when registered), random, sobol, tpe.
    """
    names = sampler_names()
    bo = [s for s in BO_SAMPLERS if s in names] if "gp" in names else []
    if quick:
        return bo[:1] + ["random", "sobol", "tpe"]
    return bo + list(BASELINES)


@dataclass(frozen=True)
class BenchPlan:
    """What to run: problems x samplers x seeds, with their budgets, and the timing sizes."""

    problems: tuple[str, ...]
    samplers: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: dict[str, int]
    timing_sizes: tuple[int, ...]
    timing_repeats: int = 3
    processes: int = 2
    quick: bool = False
    timing_cores: int | None = None


def make_plan(
    quick: bool = False,
    samplers: Sequence[str] | None = None,
    problems: Sequence[str] | None = None,
    seeds: Sequence[int] | int | None = None,
    budget: int | None = None,
    timing_sizes: Sequence[int] | None = None,
    processes: int = 2,
    timing_cores: int | None = None,
) -> BenchPlan:
    """The full plan (13 problems, 10 seeds, budgets 60/30/40) or the quick one (2 problems, 2 seeds, 8).

    Raises:
        UnknownNameError: an unknown problem or sampler (the valid ones are listed).
        ConfigError: ``processes``, ``seeds`` or ``timing_cores`` below 1.
    """
    from hpo.errors import ConfigError, UnknownNameError

    problems = tuple(problems or (QUICK_PROBLEMS if quick else ALL_PROBLEMS))
    for p in problems:
        get_problem(p)
    unknown = sorted(set(samplers or ()) - set(sampler_names()))
    if unknown:
        raise UnknownNameError(f"bench samplers: unknown sampler(s) {unknown}; valid: {sampler_names()}")
    for key, value in (("processes", processes), ("timing_cores", timing_cores),
                       ("seeds", seeds if isinstance(seeds, int) else None)):
        if value is not None and (not is_int(value) or value < 1):
            raise ConfigError(f"bench samplers: `{key} >= 1` must hold, but got {key}={value!r}")
    if seeds is None:
        seeds = 2 if quick else 10
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)
    budget = budget or (8 if quick else None)
    return BenchPlan(
        problems=problems,
        samplers=tuple(samplers or default_samplers(quick)),
        seeds=seed_list,
        budgets={p: budget or get_problem(p).budget for p in problems},
        timing_sizes=tuple(timing_sizes or ((20, 50) if quick else (50, 200, 500, 1000))),
        timing_repeats=2 if quick else 3,
        processes=processes,
        quick=quick,
        timing_cores=timing_cores,
    )


@dataclass
class RunResult:
    """One study: its objective values in trial order (NaN: failed) and suggestion times."""

    problem: str
    sampler: str
    seed: int
    values: list[float]
    suggest_seconds: list[float]
    wall_seconds: float
    error: str | None = None
    #: The machine the study ran on ("N cores, processor"): a resumed run may combine machines.
    host: str = ""
    #: Anything else a suite records per study (JSON-serialisable), e.g. the final Pareto front.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimingResult:
    """``study.ask()`` times of one sampler with ``n_obs`` completed trials in the history."""

    sampler: str
    n_obs: int
    seconds: list[float]
    warmup_seconds: float | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


@dataclass
class BenchResult:
    """Everything the report shows, measured in one run."""

    plan: BenchPlan
    problems: dict[str, ProblemInfo]
    runs: list[RunResult]
    timings: list[TimingResult]
    run_seconds: float = 0.0
    timing_seconds: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)


# -- the suggestion timer ------------------------------------------------------------
class _TimedSampler(Sampler):
    """Delegates to ``inner`` and records how long each ``suggest`` took."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner
        self.seconds: list[float] = []

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        start = time.perf_counter()
        params = self.inner.suggest(context)
        self.seconds.append(time.perf_counter() - start)
        return params

    def after_trial(self, trial: Any) -> None:
        self.inner.after_trial(trial)

    def options(self) -> dict[str, Any]:
        return self.inner.options()

    def __getattr__(self, name: str) -> Any:  # anything else the study may ask the sampler
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def _timed(inner: Sampler) -> _TimedSampler:
    """A timer that tells the study the same needs (history, pending) as ``inner``."""
    attrs = {"uses_history": inner.uses_history, "uses_pending": inner.uses_pending, "name": inner.name}
    return type(f"Timed{type(inner).__name__}", (_TimedSampler,), attrs)(inner)


# -- one job -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    problem: str
    sampler: str
    seed: int
    budget: int
    workdir: str


def _init_worker() -> None:
    """Worker processes: one thread each, quiet warnings."""
    import warnings

    for var in _THREAD_VARS:
        os.environ[var] = "1"
    warnings.filterwarnings("ignore")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def run_timed_study(job: _Job, build: Callable[[str, str], Any], evaluate: Callable[[Any], Any],
                    collect: Callable[[Any], tuple[list[float], dict[str, Any]]]) -> RunResult:
    """Run one study of a job to its budget, timing the sampler; failures come back as ``RunResult.error``.

    Args:
        job: what to run.
        build: ``(storage_url, study_name) -> Study`` (a SQLite file in ``job.workdir``, removed afterwards).
        evaluate: the objective, ``trial -> values``.
        collect: ``study -> (values, extra)`` for the result, once the budget is spent.
    """
    name = f"{job.problem}-{job.sampler}-{job.seed}"
    path = Path(job.workdir) / f"{''.join(c if c.isalnum() or c in '-_.' else '_' for c in name)}.db"
    values: list[float] = []
    extra: dict[str, Any] = {}
    timer: _TimedSampler | None = None
    error = None
    start = time.perf_counter()
    study = None
    try:
        study = build(f"sqlite:///{path}", name)
        timer = _timed(study.sampler)
        study.sampler = timer
        study.optimize(evaluate, n_trials=job.budget, show_progress_bar=False)
        values, extra = collect(study)
    except Exception:
        error = traceback.format_exc(limit=5)
    finally:
        discard_study(study, path)
    return RunResult(problem=job.problem, sampler=job.sampler, seed=job.seed, values=values,
                     suggest_seconds=list(timer.seconds) if timer else [], wall_seconds=time.perf_counter() - start,
                     error=error, host=host_name(), extra=extra)


def _run_job(job: _Job) -> RunResult:
    """Run one single-objective study to its budget: its objective values in trial order (NaN: not COMPLETE)."""
    import hpo
    from hpo.records import TrialState

    problem = get_problem(job.problem)

    def collect(study: Any) -> tuple[list[float], dict[str, Any]]:
        key = study.objectives[0].name
        trials = sorted(study.trials, key=lambda t: t.number)
        return [float(t.values[key]) if t.state is TrialState.COMPLETE and t.values else math.nan
                for t in trials], {}

    return run_timed_study(
        job, lambda url, name: hpo.create_study(name=name, space=problem.space, storage=url, sampler=job.sampler,
                                                seed=job.seed),
        lambda trial: problem.objective(trial.params), collect)


def _cost(job: _Job) -> float:
    """A rough relative cost, to start the long jobs first."""
    per_eval = 0.0 if get_problem(job.problem).optimum is not None else 1.0
    per_ask = {"gp": 1.0, "ensemble": 2.0, "optuna-gp": 0.5, "tpe": 0.05}.get(job.sampler, 0.01)
    return job.budget * (per_eval + per_ask)


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Run the block with warnings silenced (model-fit and experimental-feature warnings of a benchmark run)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def discard_study(study: Any, path: Path) -> None:
    """Close a benchmark study's store (if it was created) and delete its SQLite file and WAL files."""
    if study is not None:
        with contextlib.suppress(Exception):
            study.store.close()
    with contextlib.suppress(OSError):
        for p in path.parent.glob(path.name + "*"):
            p.unlink()


@contextlib.contextmanager
def _single_threaded_env() -> Iterator[None]:
    """Child processes started inside inherit one-thread settings; ours are restored."""
    saved = {var: os.environ.get(var) for var in _THREAD_VARS}
    os.environ.update({var: "1" for var in _THREAD_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def load_runs_log(path: Path, plan: BenchPlan) -> list[RunResult]:
    """The successful runs of ``plan`` already in the JSON-lines log at ``path`` (none if it is missing).

    A line counts when its (problem, sampler, seed) is in the plan with the same budget;
    runs that ended in an error are run again.
    """
    wanted = {(p, s, seed) for p in plan.problems for s in plan.samplers for seed in plan.seeds}
    found: dict[tuple[str, str, int], RunResult] = {}
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        run = RunResult(**json.loads(line))
        key = (run.problem, run.sampler, run.seed)
        if key in wanted and run.error is None and len(run.values) == plan.budgets[run.problem]:
            found[key] = run
    return list(found.values())


def run_studies(plan: BenchPlan, workdir: Path, progress: bool = True, log: Path | None = None,
                run_job: Callable[[_Job], RunResult] | None = None,
                order: Callable[[_Job], Any] | None = None, desc: str = "bench samplers") -> list[RunResult]:
    """Every (problem, sampler, seed) study of the plan, on a pool of ``plan.processes``.

    With ``log``, each finished study is appended to that JSON-lines file as it
    ends, and the studies already in it are not run again: an interrupted
    benchmark resumes where it stopped. ``run_job`` (a module-level function, so
    worker processes can import it; default: a single-objective study) runs one
    study; ``order`` sorts the jobs (default: the most expensive first).
    """
    from tqdm.auto import tqdm

    results: list[RunResult] = load_runs_log(log, plan) if log is not None else []
    done = {(r.problem, r.sampler, r.seed) for r in results}
    jobs = [
        _Job(p, s, seed, plan.budgets[p], str(workdir))
        for p in plan.problems
        for s in plan.samplers
        for seed in plan.seeds
        if (p, s, seed) not in done
    ]
    jobs.sort(key=order or (lambda job: -_cost(job)))
    ctx = mp.get_context("spawn")
    with _single_threaded_env():
        pool = ctx.Pool(max(1, min(plan.processes, len(jobs) or 1)), initializer=_init_worker)
    finished = 0
    try:
        with tqdm(total=len(jobs) + len(done), initial=len(done), desc=desc, unit="run",
                  disable=not progress) as bar:
            for result in pool.imap_unordered(run_job or _run_job, jobs):
                results.append(result)
                finished += 1
                if log is not None:
                    with log.open("a") as f:
                        f.write(json.dumps(dataclasses.asdict(result)) + "\n")
                bar.set_postfix_str(f"{result.problem} {result.sampler} seed {result.seed}")
                bar.update()
        pool.close()
    finally:
        pool.terminate() if finished < len(jobs) else None
        pool.join()
    return sorted(results, key=lambda r: (plan.problems.index(r.problem), plan.samplers.index(r.sampler), r.seed))


# -- time per suggestion as the history grows ------------------------------------------
def measure_suggest_times(
    samplers: Sequence[str], sizes: Sequence[int], repeats: int, workdir: Path, progress: bool = True,
    specs: Mapping[str, Any] | None = None,
) -> list[TimingResult]:
    """Median ``study.ask()`` time of each sampler with ``n`` random completed trials (6-D).

    ``specs`` maps a label in ``samplers`` to the sampler it times (a name or
    ``{"name": ..., "options": {...}}``, as ``load_study`` takes); other labels are sampler names.
    """
    from tqdm.auto import tqdm

    import hpo

    problem = get_problem(TIMING_PROBLEM)
    url = f"sqlite:///{workdir / 'timing.db'}"
    base = hpo.create_study(name="timing", space=problem.space, storage=url, sampler="random", seed=0)
    completed = 0
    capped: set[str] = set()
    out: list[TimingResult] = []
    bar = tqdm(total=len(sizes) * len(samplers), desc="bench samplers: time per ask", unit="case", disable=not progress)
    for n in sorted(sizes):
        while completed < n:
            trial = base.ask()
            base.tell(trial, problem.objective(trial.params))
            completed += 1
        for name in samplers:
            bar.set_postfix_str(f"{name} at {n}")
            if name in capped:
                out.append(TimingResult(name, n, [], error=f"skipped: slower than {TIMING_CAP_S:g} s at a smaller size"))
                bar.update()
                continue
            try:
                study = hpo.load_study("timing", url, sampler=(specs or {}).get(name, name))
                times = []
                for _ in range(1 + repeats):
                    start = time.perf_counter()
                    trial = study.ask()
                    times.append(time.perf_counter() - start)
                    study.tell(trial, state="FAILED")  # the history keeps n completed trials
                result = TimingResult(name, n, times[1:], warmup_seconds=times[0])
                if (result.median or 0.0) > TIMING_CAP_S:
                    capped.add(name)
            except Exception as exc:
                result = TimingResult(name, n, [], error=f"{type(exc).__name__}: {exc}")
            out.append(result)
            bar.update()
    bar.close()
    base.store.close()
    return out


# -- the whole benchmark ---------------------------------------------------------------
@contextlib.contextmanager
def _pinned(cores: int | None) -> Iterator[None]:
    """Run the body on the first ``cores`` CPUs this process may use (and as many torch threads)."""
    import torch

    if cores is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    allowed = sorted(os.sched_getaffinity(0))
    threads = torch.get_num_threads()
    os.sched_setaffinity(0, allowed[:cores])
    torch.set_num_threads(min(cores, len(allowed)))
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)
        torch.set_num_threads(threads)


def host_name() -> str:
    """``"<cores> cores, <processor>"`` of this machine."""
    return f"{os.cpu_count()} cores, {_processor_name()}"


def _processor_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run_samplers_benchmark(plan: BenchPlan, progress: bool = True, runs_log: Path | None = None) -> BenchResult:
    """Run the studies (resuming from ``runs_log`` when given), then the timing; return everything measured."""
    import torch

    infos = {p: get_problem(p).info(plan.budgets[p]) for p in plan.problems}
    with tempfile.TemporaryDirectory(prefix="hpo-bench-samplers-") as tmp:
        start = time.perf_counter()
        runs = run_studies(plan, Path(tmp), progress=progress, log=runs_log)
        run_seconds = time.perf_counter() - start
        start = time.perf_counter()
        with _pinned(plan.timing_cores):
            timings = measure_suggest_times(plan.samplers, plan.timing_sizes, plan.timing_repeats, Path(tmp), progress)
            timing_threads = torch.get_num_threads()
        timing_seconds = time.perf_counter() - start
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch_threads": timing_threads,
        "timing_cores": plan.timing_cores,
        "processor": _processor_name(),
        "load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    return BenchResult(plan, infos, runs, timings, run_seconds, timing_seconds, machine)


# -- regret --------------------------------------------------------------------------
def best_so_far(values: Sequence[float]) -> np.ndarray:
    """Running minimum of ``values`` (NaN for failed trials; NaN until the first success)."""
    arr = np.asarray(values, dtype=float)
    filled = np.where(np.isnan(arr), np.inf, arr)
    best = np.minimum.accumulate(filled) if len(arr) else arr
    return np.where(np.isinf(best), np.nan, best)


def reference_values(result: BenchResult) -> dict[str, float]:
    """Per problem: the known optimum, or else the best value any run reached."""
    ref: dict[str, float] = {}
    for name, info in result.problems.items():
        if info.optimum is not None:
            ref[name] = info.optimum
        else:
            seen = [v for r in result.runs if r.problem == name and r.error is None for v in r.values if not math.isnan(v)]
            ref[name] = min(seen) if seen else math.nan
    return ref


def log_regret_curves(result: BenchResult) -> dict[tuple[str, str], np.ndarray]:
    """``(problem, sampler) -> (seeds, budget)`` array of log10 simple regret after each evaluation.

    Runs that failed are left out; regret is floored at the problem's ``regret_floor``;
    a run shorter than the budget is padded with its last value.
    """
    ref = reference_values(result)
    curves: dict[tuple[str, str], list[np.ndarray]] = {}
    for r in result.runs:
        if r.error is not None or not r.values:
            continue
        info = result.problems[r.problem]
        regret = np.maximum(best_so_far(r.values) - ref[r.problem], info.regret_floor)
        curve = np.log10(regret)
        if len(curve) < info.budget:
            curve = np.concatenate([curve, np.full(info.budget - len(curve), curve[-1])])
        curves.setdefault((r.problem, r.sampler), []).append(curve[: info.budget])
    return {k: np.vstack(v) for k, v in curves.items()}

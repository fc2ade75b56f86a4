"""``hpo bench fidelity``: schedulers and multi-fidelity BO against random search at full fidelity.

Every study runs on the simulated backend (:mod:`hpo.execution.simulated`) with
``WORKERS`` asynchronous workers until it has used ``budget`` full-fidelity
evaluations' worth of training (the cost axis: fidelity units / max). After
each trial the incumbent is recorded with the cost so far:

- random, Hyperband and ASHA (with random or BO proposals): the configuration
  with the best loss reported at the target fidelity (none before one exists);
- multi-fidelity BO: the sampler's recommendation at the target fidelity
  (``MultiFidelityBOSampler.recommend``, every ``RECOMMEND_EVERY`` trials).

Its regret is the incumbent's loss at the target fidelity minus the best known
(the optimum of the synthetic problems; the best loss any run found on
mlp-digits). The target regret of a problem is the 75th percentile of the
final regrets of random search at full fidelity (what it reaches in 3 of 4
seeds); time-to-target is the first cost at which a run's regret is at or
below it.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpo.bench.fidelity_problems import CURVE_PROBLEMS, get_curve_problem
from hpo.bench.runs_log import load_keyed_runs, run_logged_jobs
from hpo.bench.samplers_bench import discard_study, host_name, quiet_warnings
from hpo.errors import ConfigError

__all__ = ["METHODS", "FidelityRun", "run_fidelity_benchmark", "load_runs", "WORKERS"]

WORKERS = 4
RECOMMEND_EVERY = 4
_CHEAP_BO = {"num_restarts": 2, "raw_samples": 64}
_CHEAP_MFBO = {"num_restarts": 2, "raw_samples": 64, "num_fantasies": 8, "mes_candidates": 256, "maxiter": 20,
               "fixed_cost": 1.0}
#: trials per study of the model-based methods at most (a compute cap of this 2-core machine)
MAX_MODEL_TRIALS = 36

#: method -> (sampler spec, scheduler spec)
METHODS: dict[str, tuple[Any, Any]] = {
    "random-full": ("random", None),
    "hyperband": ("random", "hyperband"),
    "asha-random": ("random", "asha"),
    "asha-bo": ({"name": "gp", "options": _CHEAP_BO}, "asha"),
    "mfbo-kg": ({"name": "mfbo", "options": {"acquisition": "kg", **_CHEAP_MFBO}}, None),
    "mfbo-mes": ({"name": "mfbo", "options": {"acquisition": "mes", **_CHEAP_MFBO}}, None),
}

BUDGETS = {"augmented-branin": 10, "augmented-hartmann": 20, "synthetic-curves": 15, "mlp-digits": 10}
QUICK_BUDGET = 6


@dataclass
class FidelityRun:
    """One study: its incumbent after each trial, against the cost used so far."""

    problem: str
    method: str
    seed: int
    cost: list[float] = field(default_factory=list)  # full-fidelity evaluations used
    incumbent: list[float] = field(default_factory=list)  # incumbent's loss at the target fidelity
    n_trials: int = 0
    wall_seconds: float = 0.0
    host: str = ""
    error: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.problem, self.method, self.seed)


@dataclass(frozen=True)
class _Job:
    problem: str
    method: str
    seed: int
    budget: float
    workdir: str


def _run_job(job: _Job) -> FidelityRun:
    import hpo
    from hpo.records import TrialState
    from hpo.execution.simulated import SimulatedExecutor

    problem = get_curve_problem(job.problem)
    sampler, scheduler = METHODS[job.method]
    run = FidelityRun(job.problem, job.method, job.seed, host=host_name())
    path = Path(job.workdir) / f"{job.problem}-{job.method}-{job.seed}.db"
    start = time.perf_counter()
    best: dict[str, Any] = {"loss": math.inf, "params": None}
    full = problem.fidelity.max

    def on_trial(study: Any, frozen: Any, executor: SimulatedExecutor) -> None:
        run.n_trials += 1
        if job.method.startswith("mfbo"):
            done = [t for t in study.trials if t.state is TrialState.COMPLETE]
            if len(done) < 2 or (run.n_trials % RECOMMEND_EVERY and executor.resource < job.budget * full):
                return
            params = study.recommend()
            value = problem.loss(params, full)
        else:
            reached = [e for e in executor.trace[run_trace_start[0]:] if e.step >= full]
            run_trace_start[0] = len(executor.trace)
            for event in reached:
                if event.loss < best["loss"]:
                    best["loss"] = event.loss
            if not math.isfinite(best["loss"]):
                return
            value = best["loss"]
        run.cost.append(executor.resource / full)
        run.incumbent.append(float(value))

    run_trace_start = [0]
    study = None
    try:
        study = hpo.create_study(name="bench", space=problem.space, fidelity=problem.fidelity, sampler=sampler,
                                 scheduler=scheduler, seed=job.seed, storage=f"sqlite:///{path}",
                                 checkpoint_root=str(Path(job.workdir) / "ckpt"))
        executor = SimulatedExecutor(problem, max_resource=job.budget * full, on_trial=on_trial)
        cap = MAX_MODEL_TRIALS if job.method.startswith("mfbo") else None
        with quiet_warnings():
            study.optimize(problem, n_trials=cap, n_workers=WORKERS, backend=executor, show_progress_bar=False)
    except Exception:
        run.error = traceback.format_exc(limit=6)
    finally:
        discard_study(study, path)
    run.wall_seconds = time.perf_counter() - start
    return run


def load_runs(path: Path) -> list[FidelityRun]:
    """The runs recorded in a JSON-lines runs log (later lines win)."""
    return load_keyed_runs(path, FidelityRun)


def run_fidelity_benchmark(problems: list[str], methods: list[str], seeds: int, quick: bool, workdir: Path,
                           runs_log: Path, processes: int = 1, progress: bool = True) -> list[FidelityRun]:
    """Run every (problem, method, seed) not in ``runs_log`` yet; append each as it finishes."""
    unknown = sorted(set(problems) - set(CURVE_PROBLEMS)) + sorted(set(methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"bench fidelity: unknown problem(s)/method(s) {unknown}; problems: "
                          f"{sorted(CURVE_PROBLEMS)}, methods: {list(METHODS)}")
    done = {r.key for r in load_runs(runs_log) if r.error is None}
    jobs = [
        _Job(p, m, s, QUICK_BUDGET if quick else BUDGETS[p], str(workdir))
        for s in range(seeds) for p in problems for m in methods if (p, m, s) not in done
    ]
    jobs.sort(key=lambda j: (not j.method.startswith("mfbo"), j.method != "asha-bo", j.seed))  # long jobs first
    run_logged_jobs(jobs, _run_job, runs_log, processes, "bench fidelity",
                    lambda run: f"{run.problem} {run.method} seed {run.seed}: {run.wall_seconds:.0f}s", progress)
    return [r for r in load_runs(runs_log) if r.problem in problems and r.method in methods and r.seed < seeds]


def regret_on_grid(run: FidelityRun, reference: float, grid: np.ndarray) -> np.ndarray:
    """The run's regret (incumbent - reference, floored at 1e-6) at each cost of ``grid`` (inf before any)."""
    out = np.full(len(grid), np.inf)
    cost = np.asarray(run.cost)
    values = np.asarray(run.incumbent) - reference
    for i, c in enumerate(grid):
        seen = np.flatnonzero(cost <= c + 1e-9)
        if len(seen):
            out[i] = max(float(np.min(values[: seen[-1] + 1])) if not run.method.startswith("mfbo")
                         else float(values[seen[-1]]), 1e-6)
    return out


def time_to_target(run: FidelityRun, reference: float, target: float) -> float:
    """The first cost at which the run's regret is at or below ``target`` (inf if never)."""
    for cost, value in zip(run.cost, run.incumbent):
        if value - reference <= target + 1e-12:
            return float(cost)
    return math.inf

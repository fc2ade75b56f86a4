"""``hpo bench rl``: tuning PPO on tuning seeds and scoring the incumbent on test seeds.

PPO (:mod:`hpo.protocols.rl`) on two classic-control environments; every method gets the same budget
of environment steps per study: ``FULL_TRIALS`` full trials' worth, where a full trial trains one agent
per tuning seed for ``STEPS`` steps.

- ``gp``, ``tpe``, ``random``: ``FULL_TRIALS`` trials of ``STEPS`` steps per tuning seed; ``gp`` and
  ``tpe`` model from the ``STARTUP_TRIALS``-th trial on (their defaults would keep a 10-trial study random).
- ``asha``: random proposals, the fidelity is environment steps (``STEPS / 9 .. STEPS``, reduction
  factor 3); a trial trains in chunks ending at the rungs (``learn(reset_num_timesteps=False)``),
  reports after each and is stopped by ASHA; new trials start until the step budget is spent.
- ``pbt``: a population of ``FULL_TRIALS`` agents trained in segments of ``STEPS / 4`` steps, each
  segment a trial that resumes its member's checkpoint (or an exploited one) and saves its own.
- ``gp-1seed``, ``random-1seed``: the same budget spent tuning on the single seed 0 (so 5x the trials):
  the paper's warning, how much worse a single-seed incumbent does on the test seeds.

Each study has a tuning protocol, ``SeedSplit(tuning=TUNING_SEEDS, test=TEST_SEEDS, aggregate="iqm")``
(:mod:`hpo.protocols`): an objective returns ``{tuning seed: mean evaluation return}`` (10 episodes of a
separately seeded evaluation environment), the store keeps each seed's result and the trial's value is
their IQM. Then ``study.evaluate(test_objective, top_k=TEST_TOP_K)`` re-trains the ``TEST_TOP_K`` best
configurations by tuning value from scratch on the test seeds, for ``STEPS`` steps (PBT: its best
segments' params; its schedule is not replayed), stored as test evaluations. The incumbent is the best
of them by tuning value; the report gives its test score, the generalisation gap and Kendall's τ
between tuning and test scores over the re-trained configurations.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.bench.runs_log import load_keyed_runs, run_logged_jobs
from hpo.bench.samplers_bench import discard_study, host_name, quiet_warnings
from hpo.errors import ConfigError

__all__ = ["ENVS", "METHODS", "RLRun", "load_runs", "run_rl_benchmark", "test_scores"]

ENVS = ("CartPole-v1", "Acrobot-v1")
METHODS = ("gp", "tpe", "random", "asha", "pbt", "gp-1seed", "random-1seed")
TUNING_SEEDS = (0, 1, 2, 3, 4)
TEST_SEEDS = (5, 6, 7, 8, 9)
STEPS = 10_000
FULL_TRIALS = 10
EVAL_EPISODES = 10
#: PBT: a population of FULL_TRIALS members (the step budget), each trained in PBT_SEGMENTS segments
PBT_SEGMENTS = 4
#: the test phase re-trains this many configurations of a study at most (the best by tuning score)
TEST_TOP_K = 6
AGGREGATE = "iqm"
#: the quick version (the test suite): tiny agents, 2 tuning seeds, 1 test seed
QUICK: dict[str, Any] = {"steps": 128, "full_trials": 2, "tuning": (0, 1), "test": (2,), "eval_episodes": 1}
#: model-based methods start modelling after this many random trials: their defaults (gp: ``max(5, 2d)`` =
#: 20 Sobol points for PPO's 10 parameters; TPE: 10) would spend a whole 10-trial study on the initial design
STARTUP_TRIALS = 4
_MODEL_OPTIONS: dict[str, dict[str, int]] = {
    "gp": {"num_restarts": 2, "raw_samples": 64, "n_initial": STARTUP_TRIALS},
    "tpe": {"n_startup_trials": STARTUP_TRIALS},
}


@dataclass
class RLRun:
    """One tuning study and the test scores of the configurations its test phase re-trained."""

    env: str
    method: str
    rep: int
    tuning_seeds: list[int] = field(default_factory=list)
    test_seeds: list[int] = field(default_factory=list)
    steps_used: int = 0
    n_trials: int = 0
    #: one per configuration study.evaluate re-ran, best tuning first: params, budget, tuning, tuning_per_seed,
    #: test, test_per_seed
    configs: list[dict[str, Any]] = field(default_factory=list)
    incumbent: int | None = None  # index into configs: the best tuning score (0 when any was tested)
    wall_seconds: float = 0.0
    host: str = ""
    error: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.env, self.method, self.rep)


def bench_space(steps: int) -> dict[str, Any]:
    """PPO's space with rollouts no longer than half the agent's budget (SB3 trains whole rollouts)."""
    from hpo.params import Categorical
    from hpo.protocols.rl import ppo_space

    space = ppo_space()
    space["n_steps"] = Categorical(tuple(n for n in (64, 128, 256, 512) if n <= max(steps // 2, 64)))
    return space


def test_scores(env_id: str, params: dict[str, Any], seeds: Sequence[int], steps: int,
                eval_episodes: int) -> dict[int, float]:
    """The test phase of one configuration: a fresh agent per test seed, ``{seed: mean return}`` (the
    objective the benchmark passes to ``study.evaluate``)."""
    from hpo.protocols.rl import train_ppo

    return {int(s): train_ppo(env_id, params, int(s), steps, eval_episodes) for s in seeds}


@dataclass(frozen=True)
class _Job:
    env: str
    method: str
    rep: int
    quick: bool
    workdir: str


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return dict(QUICK)
    return {"steps": STEPS, "full_trials": FULL_TRIALS, "tuning": TUNING_SEEDS, "test": TEST_SEEDS,
            "eval_episodes": EVAL_EPISODES}


def _study_spec(method: str, steps: int, population: int) -> dict[str, Any]:
    import hpo

    base = method.removesuffix("-1seed")
    if base == "asha":
        return {"sampler": "random", "scheduler": {"name": "asha", "options": {"reduction_factor": 3}},
                "fidelity": hpo.Fidelity("steps", max(steps // 9, 1), steps)}
    if base == "pbt":
        interval = max(steps // PBT_SEGMENTS, 1) if population > 2 else max(steps // 2, 1)
        return {"sampler": "random", "fidelity": hpo.Fidelity("steps", interval, steps),
                "scheduler": {"name": "pbt", "options": {"population_size": population, "interval": interval}}}
    return {"sampler": {"name": base, "options": _MODEL_OPTIONS[base]} if base in _MODEL_OPTIONS else base}


def _run_job(job: _Job) -> RLRun:
    import hpo
    from hpo.protocols import SeedSplit
    from hpo.protocols.rl import chunked_ppo, train_ppo

    cfg = _settings(job.quick)
    steps, episodes = int(cfg["steps"]), int(cfg["eval_episodes"])
    tuning = (0,) if job.method.endswith("-1seed") else tuple(cfg["tuning"])
    budget = int(cfg["full_trials"]) * steps * len(cfg["tuning"])  # env steps, the same for every method
    run = RLRun(job.env, job.method, job.rep, list(tuning), list(cfg["test"]), host=host_name())
    path = Path(job.workdir) / f"{job.env}-{job.method}-{job.rep}.db"
    spec = _study_spec(job.method, steps, max(int(cfg["full_trials"]), 2))
    rungs = [max(steps // 9, 1), max(steps // 3, 1)] if job.method == "asha" else []
    start = time.perf_counter()
    used = [0]

    def count(n: int) -> None:
        used[0] += n

    def objective(trial: Any) -> dict[int, float]:  # the tuning phase: {tuning seed: return}
        if "fidelity" in spec:
            return chunked_ppo(trial, job.env, trial.seeds, episodes, rungs, how=AGGREGATE, on_steps=count)
        values = {}
        for seed in trial.seeds:
            values[seed] = train_ppo(job.env, trial.params, seed, steps, episodes)
            count(steps)
        return values

    def test_objective(trial: Any) -> dict[int, float]:  # the test phase: a fresh agent per test seed
        return test_scores(job.env, trial.params, trial.seeds, steps, episodes)

    def stop_when_spent(study: Any, frozen: Any) -> None:
        if used[0] >= budget:
            study.stop()

    study = None
    try:
        study = hpo.create_study(name="bench-rl", space=bench_space(steps), objectives={"return": "maximize"},
                                 seed=1000 * job.rep + 17, storage=f"sqlite:///{path}",
                                 protocol=SeedSplit(tuning=tuning, test=tuple(cfg["test"]), aggregate=AGGREGATE),
                                 checkpoint_root=str(Path(job.workdir) / f"ckpt-{job.env}-{job.method}-{job.rep}"),
                                 **spec)
        cap = budget // (steps * len(tuning)) if "fidelity" not in spec else 100 * int(cfg["full_trials"])
        with quiet_warnings():
            study.optimize(objective, n_trials=cap, callbacks=[stop_when_spent], show_progress_bar=False)
        run.n_trials = len(study.trials)
        run.steps_used = used[0]
        with quiet_warnings():
            tested = study.evaluate(test_objective, top_k=TEST_TOP_K, phase="test")  # best tuning value first
        run.configs = _configs(study, tested, steps)
        run.incumbent = 0 if run.configs else None
    except Exception:
        run.error = traceback.format_exc(limit=6)
    finally:
        discard_study(study, path)
    run.wall_seconds = time.perf_counter() - start
    return run


def _configs(study: Any, tested: Sequence[Any], steps: int) -> list[dict[str, Any]]:
    """The runs log's record of each configuration ``study.evaluate`` re-ran, from the store's per-seed
    tuning and test evaluations: params, budget, tuning, tuning_per_seed, test, test_per_seed."""
    from hpo.records import TrialState

    by_number = {t.number: t for t in study.trials}
    per_seed: dict[tuple[int, str], dict[str, float]] = {}
    for e in study.store.get_evaluations(study.study_id, [r.number for r in tested]):
        if e.state is TrialState.COMPLETE and e.values:
            per_seed.setdefault((e.trial_number, e.split), {})[str(e.seed)] = float(e.values["return"])
    out = []
    for r in tested:
        c = {"number": r.number, "params": dict(r.params), "tuning": r.tuning_value,
             "budget": float(by_number[r.number].attrs.get("budget", steps)),
             "tuning_per_seed": per_seed.get((r.number, "tuning"), {})}
        if r.test_value is not None:
            c |= {"test": r.test_value, "test_per_seed": per_seed.get((r.number, "test"), {})}
        out.append(c)
    return out


def load_runs(path: Path) -> list[RLRun]:
    """The runs recorded in a JSON-lines runs log (later lines win)."""
    return load_keyed_runs(path, RLRun)


def run_rl_benchmark(envs: list[str], methods: list[str], reps: int, quick: bool, workdir: Path, runs_log: Path,
                     processes: int = 1, progress: bool = True) -> list[RLRun]:
    """Run every (env, method, repetition) not in ``runs_log`` yet; append each as it finishes."""
    unknown = sorted(set(envs) - set(ENVS)) + sorted(set(methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"bench rl: unknown env(s)/method(s) {unknown}; envs: {list(ENVS)}, methods: {list(METHODS)}")
    if reps < 1:
        raise ConfigError(f"bench rl: seeds (repetitions) must be >= 1, but got {reps}")
    done = {r.key for r in load_runs(runs_log) if r.error is None}
    jobs = [_Job(e, m, r, quick, str(workdir)) for r in range(reps) for e in envs for m in methods
            if (e, m, r) not in done]
    run_logged_jobs(jobs, _run_job, runs_log, processes, "bench rl",
                    lambda run: f"{run.env} {run.method} rep {run.rep}: {run.wall_seconds:.0f}s", progress)
    return [r for r in load_runs(runs_log) if r.env in envs and r.method in methods and r.rep < reps]


def kendall_tau(run: RLRun) -> float:
    """Kendall's τ between the tuning and test scores of the run's tested configurations (nan below 3 or
    when either is constant)."""
    pairs = [(c["tuning"], c["test"]) for c in run.configs if "test" in c]
    if len(pairs) < 3:
        return math.nan
    from scipy.stats import kendalltau

    tau = kendalltau([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return float(tau) if tau is not None and math.isfinite(tau) else math.nan

"""``hpo bench stn``: one self-tuning run against black-box search at EQUAL wall-clock per seed.

For each task (:mod:`hpo.bench.stn_tasks`) and seed, every method gets the same wall-clock ``W``
(``seconds``):

- ``stn``: one :func:`hpo.bench.stn_tasks.run_stn` run stopped after ``W`` seconds of training.
- ``random`` and ``gp``: an hpo study (a SQLite file in a temporary directory, ``sampler`` and
  ``seed`` set) over the same search space, ``trials`` trials asked and told one after another;
  each trial is a full training run of the same network at FIXED hyperparameters
  (:func:`hpo.bench.stn_tasks.run_fixed`). Trial ``i`` (of ``n``) trains for
  ``(W - time used so far) / (n - i)`` seconds, so the sampler's own time comes out of the
  training time and the method's total is ``W``. ``gp`` starts BO after ``GP_INITIAL`` trials
  (its default initial design, ``max(5, 2 d)`` trials, would leave no BO step in 12 trials).
  The best fixed setting is the trial with the lowest validation loss; its test loss is that
  trained network's (computed during the trial, never used for a decision).

Runs go one at a time in this process, with torch and BLAS limited to one thread (runs side by
side would take each other's time). ``runs_log``: each finished (task, method, seed) is appended
to a JSON-lines file; a rerun with the same file skips those already there for the same ``W`` and
trial budget. The report is :mod:`hpo.bench.stn_report`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.bench.stn_tasks import TASKS, get_task, load_splits, run_fixed, run_stn
from hpo.errors import ConfigError
from hpo.validators import is_int

__all__ = ["METHODS", "StnPlan", "MethodRun", "StnBenchResult", "make_stn_plan", "run_method",
           "run_stn_benchmark", "load_runs", "DEFAULT_SECONDS", "DEFAULT_TRIALS", "GP_INITIAL"]

METHODS = ("stn", "random", "gp")
#: Wall-clock per (task, method, seed) in the full run: 2 tasks x 5 seeds x 3 methods x 180 s = 90 min.
DEFAULT_SECONDS = 180.0
DEFAULT_TRIALS = 12
GP_INITIAL = 4
QUICK_SECONDS = 3.0
QUICK_TRIALS = 2


@dataclass(frozen=True)
class StnPlan:
    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    seconds: float
    trials: int
    quick: bool = False


@dataclass
class MethodRun:
    """One (task, method, seed): the result the method returns after ``seconds`` of wall-clock.

    Attributes:
        val_loss, test_loss: of the STN's final network, or of the best trial (by validation loss).
        wall: the measured wall-clock of the whole method (sampler and training).
        params: the STN's final hyperparameters or the best trial's fixed ones.
        trials: black-box only: per trial ``{"params", "val_loss", "test_loss", "seconds"}`` in order.
        schedule: STN only: column -> list (``step``, ``val_loss``, one per hyperparameter).
    """

    task: str
    method: str
    seed: int
    seconds: float
    n_trials: int
    val_loss: float = math.nan
    test_loss: float = math.nan
    wall: float = math.nan
    weight_steps: int = 0
    params: dict[str, float] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    schedule: dict[str, list[float]] | None = None
    error: str | None = None

    def key(self) -> tuple[str, str, int, float, int]:
        return self.task, self.method, self.seed, self.seconds, self.n_trials


@dataclass
class StnBenchResult:
    plan: StnPlan
    runs: list[MethodRun]
    machine: dict[str, Any]
    run_seconds: float


def make_stn_plan(quick: bool = False, tasks: Sequence[str] | None = None, methods: Sequence[str] | None = None,
                  seeds: int | Sequence[int] | None = None, seconds: float | None = None,
                  trials: int | None = None) -> StnPlan:
    """The full plan (both tasks, 5 seeds, W = 180 s, 12 trials) or the quick one (1 seed, 3 s, 2 trials).

    Raises:
        UnknownNameError: an unknown task.
        ConfigError: an unknown method, ``seeds`` or ``trials`` below 1, ``seconds`` not positive.
    """
    chosen_tasks = tuple(tasks or TASKS)
    for t in chosen_tasks:
        get_task(t)
    chosen = tuple(methods or METHODS)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ConfigError(f"bench stn: methods must be among {list(METHODS)}, but got {list(chosen)[:10]}")
    for key, value in (("seeds", seeds if isinstance(seeds, int) or seeds is None else None), ("trials", trials)):
        if value is not None and (not is_int(value) or value < 1):
            raise ConfigError(f"bench stn: `{key} >= 1` must hold, but got {key}={value!r}")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds) or seconds <= 0):
        raise ConfigError(f"bench stn: `seconds > 0` must hold, but got seconds={seconds!r}")
    if seeds is None:
        seeds = 1 if quick else 5
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    return StnPlan(tasks=chosen_tasks, methods=chosen, seeds=seed_list,
                   seconds=float(seconds or (QUICK_SECONDS if quick else DEFAULT_SECONDS)),
                   trials=int(trials or (QUICK_TRIALS if quick else DEFAULT_TRIALS)), quick=quick)


def _sampler(method: str) -> Any:
    return "random" if method == "random" else {"name": "gp", "options": {"n_initial": GP_INITIAL}}


def _black_box(task: str, method: str, seed: int, seconds: float, n_trials: int, workdir: Path) -> MethodRun:
    import hpo

    out = MethodRun(task, method, seed, seconds, n_trials)
    start = time.perf_counter()
    study = hpo.create_study(name=f"{task}-{method}-{seed}", space=get_task(task).space(),
                             storage=f"sqlite:///{workdir / f'{task}-{method}-{seed}.db'}",
                             sampler=_sampler(method), seed=seed)
    best: dict[str, Any] | None = None
    for i in range(n_trials):
        trial = study.ask()
        budget = (seconds - (time.perf_counter() - start)) / (n_trials - i)
        if budget <= 0:  # the sampler used the time up: the trial is not run
            study.tell(trial, state="FAILED")
            break
        run = run_fixed(task, trial.params, seed, budget)
        study.tell(trial, run.val_loss)
        row = {"params": dict(trial.params), "val_loss": run.val_loss, "test_loss": run.test_loss,
               "seconds": run.seconds, "weight_steps": run.weight_steps}
        out.trials.append(row)
        out.weight_steps += run.weight_steps
        if best is None or run.val_loss < best["val_loss"]:
            best = row
    out.wall = time.perf_counter() - start
    if best is not None:
        out.val_loss, out.test_loss, out.params = best["val_loss"], best["test_loss"], dict(best["params"])
    return out


def run_method(task: str, method: str, seed: int, seconds: float, n_trials: int, workdir: Path) -> MethodRun:
    """One (task, method, seed) for ``seconds`` of wall-clock; an exception is recorded in ``error``."""
    try:
        if method != "stn":
            return _black_box(task, method, seed, seconds, n_trials, workdir)
        start = time.perf_counter()
        run = run_stn(task, seed, seconds)
        return MethodRun(task, method, seed, seconds, n_trials, val_loss=run.val_loss, test_loss=run.test_loss,
                         wall=time.perf_counter() - start, weight_steps=run.weight_steps, params=run.params,
                         schedule=run.schedule)
    except Exception:  # noqa: BLE001 - one failed run is reported, the others go on
        return MethodRun(task, method, seed, seconds, n_trials, error=traceback.format_exc()[-4000:])


def load_runs(log: Path | None) -> list[MethodRun]:
    """The runs recorded in a runs log (none when there is no file); a malformed line raises ConfigError."""
    if log is None or not log.exists():
        return []
    runs = []
    fields = {f.name for f in dataclasses.fields(MethodRun)}
    for i, line in enumerate(log.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            runs.append(MethodRun(**{k: v for k, v in row.items() if k in fields}))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bench stn: runs log line {i} is not a run record: {line[:120]!r} ({exc})") from None
    return runs


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def run_stn_benchmark(plan: StnPlan, progress: bool = True, runs_log: Path | None = None) -> StnBenchResult:
    """Run every (task, method, seed) of ``plan`` not already in ``runs_log``, one after another."""
    from hpo.bench.samplers_bench import host_name

    wanted = {(t, m, s, plan.seconds, plan.trials) for t in plan.tasks for m in plan.methods for s in plan.seeds}
    done = {r.key(): r for r in load_runs(runs_log) if r.key() in wanted and r.error is None}
    jobs = [k for k in sorted(wanted, key=lambda k: (plan.tasks.index(k[0]), k[2], plan.methods.index(k[1])))
            if k not in done]
    for task in {k[0] for k in jobs}:
        load_splits(task)  # generated before any run's clock starts
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hpo-bench-stn-") as tmp, _one_thread():
        for i, (task, method, seed, seconds, trials) in enumerate(jobs, 1):
            run = run_method(task, method, seed, seconds, trials, Path(tmp))
            done[run.key()] = run
            if progress:
                status = "failed" if run.error else f"val {run.val_loss:.4f} test {run.test_loss:.4f}"
                print(f"bench stn [{i}/{len(jobs)}] {task} {method} seed {seed}: {status} ({run.wall:.0f} s)",
                      flush=True)
            if runs_log is not None and run.error is None:
                with runs_log.open("a") as f:
                    f.write(json.dumps(dataclasses.asdict(run)) + "\n")
    runs = [done[k] for k in sorted(done, key=lambda k: (plan.tasks.index(k[0]), plan.methods.index(k[1]), k[2]))]
    machine = {"host": host_name(), "cores": os.cpu_count(), "threads": 1}
    return StnBenchResult(plan=plan, runs=runs, machine=machine, run_seconds=time.perf_counter() - start)

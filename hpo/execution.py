"""Executors: how ``study.optimize`` runs trials.

The executor seam is :class:`Executor` with one abstract method, ``run``. An
executor only calls the study's ``ask``/``tell`` and the trial's ``report``; it
never writes the store itself. :func:`run_trial` is the shared rule for turning
an objective's outcome into a trial state:

- a returned value is told (invalid values make the trial FAILED, with the message);
- :class:`hpo.TrialPruned` makes it PRUNED;
- an exception in ``catch`` makes it FAILED with its traceback and the study goes on;
- any other exception (KeyboardInterrupt included) makes it FAILED and propagates.

``LocalExecutor`` runs ``n_workers`` trials at once in threads of this process,
with a heartbeat thread that keeps its RUNNING trials alive in the store and
reclaims trials of workers that died. ``backend="ray"`` is
:class:`hpo.ray_executor.RayExecutor` (Ray is imported only then).
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.errors import (
    ConfigError,
    NothingToRun,
    ObjectiveError,
    SamplerExhausted,
    TrialPruned,
    ValueTypeError,
)
from hpo.records import FrozenTrial, TrialState
from hpo.registry import Registry

if TYPE_CHECKING:
    from hpo.study import Study
    from hpo.trial import Trial

__all__ = ["Executor", "LocalExecutor", "get_executor", "run_trial", "executor_names"]


_WAIT_FOR_RUNNING = 0.05  # seconds between asks while the scheduler has nothing to start


def run_trial(
    study: Study, trial: Trial, objective: Callable[[Trial], Any], catch: tuple[type[BaseException], ...]
) -> FrozenTrial:
    """Run ``objective(trial)`` and tell the outcome (see the module docstring)."""
    try:
        result = objective(trial)
    except TrialPruned:
        return study.tell(trial, None, state=TrialState.PRUNED)
    except catch:
        return study.tell(trial, state=TrialState.FAILED, error=traceback.format_exc())
    except BaseException as exc:
        text = "interrupted (KeyboardInterrupt)" if isinstance(exc, KeyboardInterrupt) else traceback.format_exc()
        study.tell(trial, state=TrialState.FAILED, error=text)
        raise
    try:
        return study.tell(trial, result)
    except (ObjectiveError, ValueTypeError) as exc:
        return study.tell(trial, state=TrialState.FAILED, error=f"the objective returned invalid values: {exc}")


def _check_run_args(n_trials: Any, timeout: Any, n_workers: Any) -> None:
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0):
        raise ConfigError(f"n_trials: must be a non-negative integer or None, but got {n_trials!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
        raise ConfigError(f"timeout: must be a positive number of seconds or None, but got {timeout!r}")
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ConfigError(f"n_workers: must be an integer >= 1, but got {n_workers!r}")


class _Budget:
    """Thread-safe: how many more trials may start (count and deadline)."""

    def __init__(self, n_trials: int | None, timeout: float | None) -> None:
        self._left = n_trials
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._stopped = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._stopped or (self._deadline is not None and time.monotonic() >= self._deadline):
                return False
            if self._left is not None:
                if self._left <= 0:
                    return False
                self._left -= 1
            return True

    def stop(self) -> None:
        with self._lock:
            self._stopped = True

    def give_back(self) -> None:
        """Return a slot taken for a trial that did not start."""
        with self._lock:
            if self._left is not None:
                self._left += 1


class Heartbeat:
    """Background thread: heartbeat this process's RUNNING trials, reclaim dead workers' ones."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.interval = float(study.record.settings.get("heartbeat_interval", 30.0))
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"hpo-heartbeat-{study.name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def add(self, number: int) -> None:
        with self._lock:
            self._running.add(number)

    def discard(self, number: int) -> None:
        with self._lock:
            self._running.discard(number)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                numbers = sorted(self._running)
            try:
                self.study.heartbeat(numbers)
                self.study.reclaim_stale()
            except Exception:  # a transient database error must not kill the study
                traceback.print_exc()


class _Progress:
    """A tqdm bar with the best value so far (single objective) or the trial count."""

    def __init__(self, study: Study, total: int | None, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.study = study
        self.bar = tqdm(total=total, disable=not enabled, desc=study.name, unit="trial", dynamic_ncols=True)
        self.best: float | None = None
        self._lock = threading.Lock()
        if len(study.objectives) == 1:
            try:
                self.best = study.best_value
            except Exception:
                self.best = None

    def update(self, frozen: FrozenTrial) -> None:
        with self._lock:
            obj = self.study.objectives[0]
            if len(self.study.objectives) == 1 and frozen.state is TrialState.COMPLETE and frozen.values:
                if frozen.is_feasible(self.study.constraints):
                    value = frozen.values[obj.name]
                    if self.best is None or obj.sign * value < obj.sign * self.best:
                        self.best = value
            if self.best is not None and math.isfinite(self.best):
                self.bar.set_postfix_str(f"best {obj.name}={self.best:.6g}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class Executor(ABC):
    """Runs trials of a study. Implementations call only ask/tell/report."""

    name: ClassVar[str] = "executor"

    @abstractmethod
    def run(
        self,
        study: Study,
        objective: Callable[[Trial], Any],
        *,
        n_trials: int | None,
        timeout: float | None,
        n_workers: int,
        catch: tuple[type[BaseException], ...],
        callbacks: list[Callable[[Study, FrozenTrial], None]],
        show_progress_bar: bool,
    ) -> None: ...


class LocalExecutor(Executor):
    """Trials in this process: one at a time, or ``n_workers`` threads."""

    name: ClassVar[str] = "local"

    def run(
        self,
        study: Study,
        objective: Callable[[Trial], Any],
        *,
        n_trials: int | None,
        timeout: float | None,
        n_workers: int,
        catch: tuple[type[BaseException], ...],
        callbacks: list[Callable[[Study, FrozenTrial], None]],
        show_progress_bar: bool,
    ) -> None:
        _check_run_args(n_trials, timeout, n_workers)
        study.reclaim_stale()
        budget = _Budget(n_trials, timeout)
        progress = _Progress(study, n_trials, show_progress_bar)
        running: dict[int, Trial] = {}  # trials in worker threads: told to stop when the run stops

        def work(heartbeat: Heartbeat) -> None:
            while budget.take():
                try:
                    trial = study.ask(heartbeat=True)
                except SamplerExhausted:
                    budget.stop()
                    return
                except NothingToRun:  # the scheduler waits for a running trial (here or elsewhere)
                    budget.give_back()
                    time.sleep(_WAIT_FOR_RUNNING)
                    continue
                heartbeat.add(trial.number)
                running[trial.number] = trial
                try:
                    frozen = run_trial(study, trial, objective, catch)
                except BaseException:
                    budget.stop()
                    raise
                finally:
                    heartbeat.discard(trial.number)
                    running.pop(trial.number, None)
                progress.update(frozen)
                for callback in callbacks:
                    callback(study, frozen)

        try:
            with Heartbeat(study) as heartbeat:
                if n_workers == 1:
                    work(heartbeat)
                else:
                    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="hpo-worker") as pool:
                        futures = [pool.submit(work, heartbeat) for _ in range(n_workers)]
                        try:
                            # the first worker to fail stops the run, whichever it is: waiting on the
                            # workers in order could block on one whose trial waits for that stop
                            wait(futures, return_when=FIRST_EXCEPTION)
                            for future in sorted(futures, key=lambda f: not (f.done() and f.exception())):
                                future.result()
                        except BaseException:
                            budget.stop()
                            for trial in list(running.values()):  # Ctrl-C: trial.should_stop() is True now
                                trial.request_stop()
                            raise
        finally:
            progress.close()


def _local(**options: Any) -> Executor:
    if options:
        raise ConfigError(f"backend 'local' takes no {sorted(options)} (got {options!r}); they are for backend='ray'")
    return LocalExecutor()


def _ray(**options: Any) -> Executor:
    from hpo.ray_executor import RayExecutor  # imports Ray only when a study runs on it

    return RayExecutor(**options)


EXECUTORS: Registry[Executor] = Registry("backend", Executor, ConfigError)
EXECUTORS.register("local", _local, check=False)
EXECUTORS.register("ray", _ray, check=False)


def executor_names() -> list[str]:
    return EXECUTORS.names()


def get_executor(name: str | Executor, **options: Any) -> Executor:
    """The executor named ``name`` (``"local"``, ``"ray"``) built with ``options``, or an Executor as is."""
    if isinstance(name, Executor) and options:
        raise ConfigError(f"backend: {sorted(options)} go to the executor's constructor when backend is an "
                          f"Executor instance ({name!r})")
    return EXECUTORS.make(name, **options)

"""The executor seam: :class:`Executor`, the run spec, and the rules every executor shares.

An executor runs trials of a study. It only calls the study's public methods
(``ask``, ``tell``, ``enqueue``, ``heartbeat``, ``reclaim_stale``) and the trial's
``report``/``should_stop``; it never touches the store. What it shares with the
other executors lives here, written once:

- :class:`RunSpec`: what ``study.optimize`` asks for (trials, timeout, workers,
  ``catch``, callbacks, progress bar), validated in one place;
- the **outcome rule** (:func:`evaluate` + :func:`tell_outcome`, or both at once
  :func:`run_trial`), used by the local, simulated and Ray executors (the Ray
  worker evaluates, the driver tells):

  - a returned value is told (invalid values make the trial FAILED, with the message);
  - :class:`hpo.TrialPruned` makes it PRUNED;
  - an exception in ``catch`` makes it FAILED with its traceback and the study goes
    on (with ``max_retries``, its configuration is re-queued: ``attrs["retry_of"]``,
    not counted against ``n_trials``);
  - any other exception (KeyboardInterrupt included: ``"interrupted (KeyboardInterrupt)"``)
    makes it FAILED and propagates;
- :class:`Budget`: how many more trials may start (count, deadline, stop);
- :class:`Heartbeat` and :class:`Progress`: a lease-extending thread and a progress bar (with the
  failures so far and the first one's error);
- :class:`RunWatch`: what ``optimize`` learns from each finished trial of the call (failures, the
  ``fail_fast`` rule, the closing summary); :func:`finish_trial` logs one line per trial on the
  ``hpo.execution`` logger (INFO).

This module imports none of its subclasses.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.errors import ConfigError, ObjectiveError, TrialPruned, ValueTypeError
from hpo.records import FrozenTrial, TrialState, error_line
from hpo.registry import accepted_options, check_options
from hpo.validators import is_number, non_negative_int, positive_int

if TYPE_CHECKING:
    from hpo.study import Study
    from hpo.trial import Trial

__all__ = [
    "Budget", "Executor", "Heartbeat", "Outcome", "Progress", "RunSpec", "RunWatch", "evaluate", "finish_trial",
    "run_trial", "tell_outcome", "trial_line",
]

logger = logging.getLogger("hpo.execution")

#: The error of a trial that a KeyboardInterrupt (Ctrl-C) stopped.
INTERRUPTED = "interrupted (KeyboardInterrupt)"

Callback = Callable[["Study", FrozenTrial], None]


def _check_catch(catch: Any) -> tuple[type[BaseException], ...]:
    items = (catch,) if isinstance(catch, type) else catch
    try:
        items = tuple(items)
    except TypeError:
        raise ConfigError(f"catch: expected an exception type or a sequence of them, but got {catch!r}") from None
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ConfigError(f"catch: every item must be an exception type, but got {item!r}")
    return items


@dataclass(frozen=True)
class RunSpec:
    """What one ``study.optimize`` call asks of an executor (validated on construction).

    Args:
        n_trials: trials to start in this call (None: until ``timeout`` or the sampler is exhausted).
        timeout: seconds after which no new trial starts (None: no limit).
        n_workers: trials run at once.
        catch: exception types that fail a trial and let the study go on.
        callbacks: called as ``callback(study, frozen_trial)`` after each trial, in the calling process.
        show_progress_bar: a progress bar with the best value so far.
        stop: set (by ``study.stop()`` or ``fail_fast``) to start no new trial; the running ones finish.
    """

    n_trials: int | None = None
    timeout: float | None = None
    n_workers: int = 1
    catch: tuple[type[BaseException], ...] = (Exception,)
    callbacks: tuple[Callback, ...] = field(default_factory=tuple)
    show_progress_bar: bool = True
    stop: threading.Event | None = None

    def __post_init__(self) -> None:
        if self.stop is not None and not isinstance(self.stop, threading.Event):
            raise ConfigError(f"stop: must be a threading.Event or None, but got {self.stop!r:.80}")
        if self.n_trials is not None:
            object.__setattr__(self, "n_trials", non_negative_int("n_trials", self.n_trials))
        if self.timeout is not None:
            if not is_number(self.timeout) or not self.timeout > 0:  # math.inf: no limit, as None
                raise ConfigError(f"timeout: must be a positive number of seconds or None, but got {self.timeout!r}")
            object.__setattr__(self, "timeout", float(self.timeout))
        object.__setattr__(self, "n_workers", positive_int("n_workers", self.n_workers))
        object.__setattr__(self, "catch", _check_catch(self.catch))
        callbacks = tuple(self.callbacks or ())
        for callback in callbacks:
            if not callable(callback):
                raise ConfigError(f"callbacks: every item must be callable (study, frozen_trial), but got {callback!r}")
        object.__setattr__(self, "callbacks", callbacks)
        object.__setattr__(self, "show_progress_bar", bool(self.show_progress_bar))


@dataclass(frozen=True)
class Outcome:
    """What an objective did: ``kind`` is ``"complete"`` (``value``), ``"pruned"`` or ``"failed"`` (``error``).

    ``fatal`` is the exception to re-raise once the trial is told (one outside ``catch``).
    """

    kind: str
    value: Any = None
    error: str | None = None
    fatal: BaseException | None = None


def _optuna_pruned() -> tuple[type[BaseException], ...]:
    """``optuna.TrialPruned`` when Optuna is loaded: an unchanged Optuna objective's prune is PRUNED too."""
    optuna = sys.modules.get("optuna")
    return (optuna.TrialPruned,) if optuna is not None else ()


def evaluate(call: Callable[[], Any], catch: tuple[type[BaseException], ...]) -> Outcome:
    """Run ``call()`` and classify what happened (see the module docstring); never raises."""
    try:
        return Outcome("complete", call())
    except (TrialPruned, *_optuna_pruned()):
        return Outcome("pruned")
    except catch:
        return Outcome("failed", error=traceback.format_exc())
    except BaseException as exc:
        text = INTERRUPTED if isinstance(exc, KeyboardInterrupt) else traceback.format_exc()
        return Outcome("failed", error=text, fatal=exc)


def tell_outcome(study: Study, trial: Trial, outcome: Outcome, *, max_retries: int = 0,
                 budget: Budget | None = None) -> FrozenTrial:
    """Tell ``outcome`` to the study; a caught failure's configuration is re-queued while retries are left
    (and the run is not stopping), giving its ``budget`` slot back. The caller re-raises ``outcome.fatal``."""
    if outcome.kind == "complete":
        try:
            return study.tell(trial, outcome.value)
        except (ObjectiveError, ValueTypeError) as exc:
            return study.tell(trial, state=TrialState.FAILED, error=f"the objective returned invalid values: {exc}")
    if outcome.kind == "pruned":
        return study.tell(trial, outcome.value, state=TrialState.PRUNED)
    error = str(outcome.error or "failed")
    retries = int(trial.attrs.get("retries", 0))
    stopping = budget is not None and budget.stopped
    if outcome.fatal is None and retries < max_retries and not stopping:
        attrs = {k: v for k, v in trial.attrs.items() if k not in ("enqueued", "requeued_as")}
        number = study.enqueue(trial.params, attrs={**attrs, "retry_of": trial.number, "retries": retries + 1})
        error = f"{error.rstrip()}\nre-queued as trial {number} (retry {retries + 1} of {max_retries})"
        if budget is not None:
            budget.give_back()
    return study.tell(trial, state=TrialState.FAILED, error=error)


def run_trial(study: Study, trial: Trial, objective: Callable[[Trial], Any], catch: tuple[type[BaseException], ...],
              *, max_retries: int = 0, budget: Budget | None = None) -> FrozenTrial:
    """Run ``objective(trial)`` in this process and tell the outcome; re-raise an exception outside ``catch``."""
    outcome = evaluate(lambda: objective(trial), catch)
    frozen = tell_outcome(study, trial, outcome, max_retries=max_retries, budget=budget)
    if outcome.fatal is not None:
        raise outcome.fatal
    return frozen


def trial_line(frozen: FrozenTrial) -> str:
    """One line about a finished trial: number, state, value(s) or the error's last line, duration."""
    text = f"trial {frozen.number} {frozen.state.value}"
    if frozen.state is TrialState.FAILED:
        text += f": {error_line(frozen.error) or 'failed'}"
    elif frozen.values:
        text += " " + ", ".join(f"{k}={v:.6g}" for k, v in frozen.values.items())
    if frozen.duration is not None:
        text += f" ({frozen.duration.total_seconds():.3g} s)"
    return text


def finish_trial(study: Study, frozen: FrozenTrial, progress: Progress, callbacks: Iterable[Callback]) -> None:
    """After a trial is told: log it (``hpo.execution``, INFO), advance the progress bar, call the callbacks."""
    logger.info("%s: %s", study.name, trial_line(frozen))
    progress.update(frozen)
    for callback in callbacks:
        callback(study, frozen)


class Budget:
    """Thread-safe: how many more trials may start in one run (count and deadline); retries give slots back."""

    def __init__(self, n_trials: int | None, timeout: float | None, stop: threading.Event | None = None) -> None:
        self._left = n_trials
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._stopped = False
        self._stop_event = stop
        self._lock = threading.Lock()

    @property
    def stopped(self) -> bool:
        return self._stopped or (self._stop_event is not None and self._stop_event.is_set())

    def take(self) -> bool:
        """Take a slot for a trial about to start; False when none is left (or the run stops: :meth:`stop`,
        or the run's ``stop`` event is set by ``study.stop()``)."""
        with self._lock:
            if self.stopped or (self._deadline is not None and time.monotonic() >= self._deadline):
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
        """Return a slot taken for a trial that did not start (or whose configuration is re-queued)."""
        with self._lock:
            if self._left is not None:
                self._left += 1


class Heartbeat:
    """Background thread: extend the lease of this process's RUNNING trials (``study.heartbeat``) and reclaim
    dead workers' ones (``study.reclaim_stale``) every ``heartbeat_interval`` seconds."""

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


class Progress:
    """A tqdm bar counting finished trials, with the best value so far (single objective)."""

    def __init__(self, study: Study, total: int | None, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.study = study
        self.bar = tqdm(total=total, disable=not enabled, desc=study.name, unit="trial", dynamic_ncols=True)
        self.best: float | None = None
        self.failed = 0
        self.first_error = ""
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
            if frozen.state is TrialState.FAILED:
                self.failed += 1
                self.first_error = self.first_error or error_line(frozen.error, 60) or "failed"
            parts = []
            if self.best is not None and math.isfinite(self.best):
                parts.append(f"best {obj.name}={self.best:.6g}")
            if self.failed:
                parts.append(f"{self.failed} failed (first: {self.first_error})")
            if parts:
                self.bar.set_postfix_str(", ".join(parts), refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class RunWatch:
    """What one ``optimize`` call learns from its finished trials (a callback, run in the calling process).

    ``fail_fast=k``: when the first ``k`` trials of the call all FAILED with the same error (the last line
    of their tracebacks), :attr:`tripped` becomes True and ``stop`` is set, so no new trial starts.
    """

    def __init__(self, stop: threading.Event, fail_fast: int | None) -> None:
        self.stop = stop
        self.fail_fast = fail_fast
        self.finished = 0
        self.failed: list[FrozenTrial] = []
        self.tripped = False
        self._lock = threading.Lock()

    def __call__(self, study: Study, frozen: FrozenTrial) -> None:
        with self._lock:
            self.finished += 1
            if frozen.state is TrialState.FAILED:
                self.failed.append(frozen)
            k = self.fail_fast
            if (k and not self.tripped and self.finished == k and len(self.failed) == k
                    and len({error_line(t.error) for t in self.failed}) == 1):
                self.tripped = True
                self.stop.set()

    def summary(self, study: Study) -> str:
        """``"k of n trials failed; first error: ...; see ..."`` ("" when none failed)."""
        if not self.failed:
            return ""
        first = self.failed[0]
        numbers = [t.number for t in self.failed]
        shown = ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")
        return (f"study {study.name!r}: {len(self.failed)} of {self.finished} trials failed (trial(s) {shown}); "
                f"first error: {error_line(first.error) or 'failed'}; see study.trials[{first.number}].error "
                f"or `hpo trial {study.name} {first.number}`")


class Executor(ABC):
    """Runs trials of a study; calls only the study's and the trial's public methods.

    An executor's options are its constructor's keyword arguments; :meth:`check_options`
    validates a mapping of them (names and values) without running anything, which is
    what ``create_study``/config files/``optimize`` ask of it.
    """

    name: ClassVar[str] = "executor"

    @abstractmethod
    def run(self, study: Study, objective: Callable[[Trial], Any], spec: RunSpec) -> None:
        """Run trials of ``study`` as ``spec`` asks; raise what the outcome rule propagates."""

    @classmethod
    def option_names(cls) -> set[str]:
        """The options (constructor keywords) this executor takes."""
        return accepted_options(cls) or set()

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` for an option this executor does not take or a bad value."""
        check_options(f"backend {cls.name!r}", cls, options, ConfigError)
        cls(**options)

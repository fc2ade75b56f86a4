"""The Study's metadata and run control, as Optuna users know them: user attributes, ``best_trials``,
``stop()``, and what ``optimize`` says about failed trials (a :class:`hpo.errors.TrialFailuresWarning`,
the ``fail_fast`` rule). :class:`StudyMeta` is a base of :class:`hpo.study.Study`."""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpo.errors import AllTrialsFailedError, TrialFailuresWarning, TrialStateError
from hpo.records import USER_ATTRS, FrozenTrial, error_line
from hpo.trial import check_user_attr

if TYPE_CHECKING:
    from hpo.execution.base import Executor, RunSpec
    from hpo.study import Study

__all__ = ["StudyMeta", "DEFAULT_FAIL_FAST", "check_fail_fast"]

#: ``optimize(fail_fast=...)`` default: stop when the first 5 trials of a call all fail alike.
DEFAULT_FAIL_FAST = 5


def check_fail_fast(value: Any) -> int | None:
    """``fail_fast``: None (or 0) disables it, else an integer >= 1."""
    from hpo.errors import ConfigError
    from hpo.validators import is_int

    if value is None or (is_int(value) and value == 0):
        return None
    if not is_int(value) or value < 1:
        raise ConfigError(f"fail_fast: must be an integer >= 1 (stop when that many first trials all fail with "
                          f"the same error) or None to disable it, but got {value!r:.80}")
    return int(value)


class StudyMeta:
    """User attributes, ``best_trials``, ``stop()`` and the failure report of ``optimize``."""

    def _run_events(self) -> set[threading.Event]:
        events = self.__dict__.get("_hpo_run_events")
        if events is None:
            events = self.__dict__.setdefault("_hpo_run_events", set())
        return events

    # -- user attributes -------------------------------------------------------------
    @property
    def user_attrs(self: Study) -> dict[str, Any]:
        """The study's attributes set with :meth:`set_user_attr` (read from the store)."""
        found = self.store.get_study(self.name).settings.get(USER_ATTRS)
        return dict(found) if isinstance(found, dict) else {}

    def set_user_attr(self: Study, key: str, value: Any) -> None:
        """Store ``value`` (JSON data) under ``key`` with the study (in its settings, ``"user_attrs"``).

        Raises:
            ValidationError: ``key`` is not a non-empty string or ``value`` is not JSON data.
        """
        stored = check_user_attr("study.set_user_attr", key, value)
        settings = self.store.set_study_user_attr(self.study_id, key, stored)
        self.record = dataclasses.replace(self.record, settings=settings)

    # -- results ---------------------------------------------------------------------
    @property
    def best_trials(self: Study) -> list[FrozenTrial]:
        """Optuna's name for the best trials: the Pareto front (:meth:`pareto_front`) with several
        objectives; with one, ``[best_trial]`` (empty before the first feasible COMPLETE trial)."""
        if len(self.objectives) > 1:
            return self.pareto_front()
        from hpo.errors import NoCompletedTrialsError

        try:
            return [self.best_trial]
        except NoCompletedTrialsError:
            return []

    # -- run control -----------------------------------------------------------------
    def stop(self) -> None:
        """Make the running ``optimize`` call(s) of this Study object start no new trial; the running
        trials finish and are told, then ``optimize`` returns. Call it from the objective (local and
        simulated backends) or from a callback (any backend), as in Optuna.

        Raises:
            TrialStateError: no ``optimize`` call of this object is running.
        """
        events = self._run_events()
        if not events:
            raise TrialStateError("study.stop(): no optimize() call of this Study object is running; call it from "
                                  "an objective or a callback while optimize() runs")
        for event in list(events):
            event.set()

    def _run_watched(self: Study, executor: Executor, objective: Callable[..., Any], spec: RunSpec,
                     fail_fast: int | None) -> None:
        """Run ``spec`` on ``executor`` with a :class:`hpo.execution.base.RunWatch`; then warn about the
        failed trials, or raise :class:`AllTrialsFailedError` when ``fail_fast`` tripped."""
        from hpo.execution.base import RunWatch

        stop = threading.Event()
        watch = RunWatch(stop, fail_fast)
        spec = dataclasses.replace(spec, stop=stop, callbacks=(watch, *spec.callbacks))
        events = self._run_events()
        events.add(stop)
        try:
            executor.run(self, objective, spec)
        finally:
            events.discard(stop)
        if watch.tripped:
            first = watch.failed[0]
            error = error_line(first.error) or "failed"
            numbers = tuple(t.number for t in watch.failed)
            raise AllTrialsFailedError(
                f"study {self.name!r}: the first {fail_fast} trials of this optimize() call all failed with the same "
                f"error, so it stopped instead of spending the rest of its budget: {error} (trials "
                f"{', '.join(map(str, numbers[:10]))}{', ...' if len(numbers) > 10 else ''}). See the traceback "
                f"with `hpo trial {self.name} {first.number}` or study.trials[{first.number}].error; "
                "optimize(fail_fast=None) turns this check off", error=error, numbers=numbers)
        summary = watch.summary(self)
        if summary:
            warnings.warn(TrialFailuresWarning(summary), stacklevel=3)

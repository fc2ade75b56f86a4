"""Keeps a :class:`~hpo.schedulers.base.SchedulerState` in step with the store.

Each :meth:`StateTracker.sync` reads only what changed since the last one:
trials finished since the last change number, the trials now running or
waiting, and reports written since the last report id. Several drivers on one
stored study (threads, processes, machines) therefore see each other's trials
and reports, and a restarted driver rebuilds the same state from scratch.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

from hpo.fidelity import Fidelity
from hpo.records import FrozenTrial, Objective, TrialState
from hpo.schedulers.base import SchedulerState, TrialView

if TYPE_CHECKING:
    from hpo.store import StudyStore

__all__ = ["StateTracker"]


class StateTracker:
    """The scheduler's view of one study, fed by the store.

    Args:
        store: the study's store.
        study_id: the study.
        fidelity: the study's fidelity.
        objective: the metric the scheduler reads. Its sign turns values into the state's losses
            (``loss = objective.sign * value``: the schedulers' own orientation, for their decisions);
            the state keeps the objective so that :meth:`Scheduler.sampler_data` can hand the sampler
            values in objective units again.
    """

    def __init__(self, store: StudyStore, study_id: int, fidelity: Fidelity, objective: Objective) -> None:
        self.store, self.study_id, self.objective = store, study_id, objective
        self.state = SchedulerState(fidelity, objective=objective)
        self._seq = 0
        self._report_cursor = 0
        self._lock = threading.Lock()

    def _view(self, trial: FrozenTrial) -> TrialView:
        view = self.state.trials.get(trial.number)
        loss = None
        if trial.state is TrialState.COMPLETE and trial.values and trial.values.get(self.objective.name) is not None:
            loss = self.objective.sign * float(trial.values[self.objective.name])
        if view is None:
            view = TrialView(trial.number, trial.state, dict(trial.params), dict(trial.attrs), loss)
            self.state.trials[trial.number] = view
        else:
            view.state, view.attrs, view.loss = trial.state, dict(trial.attrs), loss
        return view

    def sync(self) -> SchedulerState:
        """Bring the state up to date with the store and return it."""
        with self._lock:
            finished, self._seq = self.store.finished_since(self.study_id, self._seq)
            active = self.store.get_trials(self.study_id, [TrialState.RUNNING, TrialState.WAITING])
            for trial in active:
                if trial.number not in self.state.trials or not self.state.trials[trial.number].state.is_finished:
                    self._view(trial)
            for trial in finished:
                self._view(trial)
            reports, self._report_cursor = self.store.reports_since(self.study_id, self._report_cursor)
            name, sign = self.objective.name, self.objective.sign
            for report in reports:
                value = report.values.get(name)
                if value is None or not math.isfinite(value):
                    continue
                view = self.state.trials.get(report.trial_number)
                if view is None:  # a report of a trial that started after our trial read
                    view = self._view(self.store.get_trial(self.study_id, report.trial_number))
                view.curve.append((float(report.step), sign * float(value)))
            return self.state

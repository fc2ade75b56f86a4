"""Simulated time: run schedulers and samplers on learning-curve problems in seconds.

:class:`SimulatedExecutor` plays a study on a
:class:`~hpo.bench.fidelity_problems.CurveProblem` with ``n_workers`` simulated
workers on a simulated clock (an event queue, as Syne Tune's simulator backend):
each trial is asked from the study as in any backend, its reports are written at
the simulated times they would happen, the scheduler's stop decisions free the
worker at that moment, and the next trial starts there. Hours of simulated
training take seconds of real time, and because the executor only uses ``ask``,
``tell``, ``report`` and ``should_stop`` (and the outcome rule of
:mod:`hpo.execution.base` for what ``problem.loss`` raises), what it measures is
what a real run does.

    from hpo.bench.fidelity_problems import SyntheticCurves
    from hpo.execution import SimulatedExecutor

    problem = SyntheticCurves(seed=0)
    study = hpo.create_study(space=problem.space, fidelity=problem.fidelity, scheduler="asha", ...)
    executor = SimulatedExecutor(problem, max_time=3600)
    study.optimize(problem, n_trials=None, n_workers=4, backend=executor)
    executor.trace  # [(simulated seconds, resource used, trial number, step, loss), ...]

A resumed trial (a promotion or a PBT exploit) continues from its parent's
step: the steps before ``trial.start_step`` cost nothing. The simulated
curve is a function of (params, step): after a PBT explore step the loss
follows the new params' curve from there, the usual simplification of
tabulated simulators. ``optimize``'s ``timeout`` (wall-clock seconds) is not
used: ``max_time`` bounds the simulated clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.bench.fidelity_problems import CurveProblem, report_steps
from hpo.errors import ConfigError, NothingToRun, SamplerExhausted
from hpo.execution.base import Budget, Executor, Outcome, Progress, RunSpec, evaluate, finish_trial, tell_outcome
from hpo.records import FrozenTrial, TrialState
from hpo.validators import non_negative_int, optional, positive_number

if TYPE_CHECKING:
    from hpo.study import Study
    from hpo.trial import Trial

__all__ = ["SimulatedExecutor", "TraceEvent", "BUDGET_SPENT"]

#: The note of trials the simulated backend stopped because the run's training budget was spent.
BUDGET_SPENT = "stopped by the simulated backend: the run's training budget (max_resource) is spent"


@dataclass(frozen=True)
class TraceEvent:
    """One simulated report: when it happened, the resource used so far, what was reported."""

    time: float
    resource: float
    number: int
    step: float
    loss: float


@dataclass(order=True)
class _Event:
    time: float
    order: int
    number: int
    index: int


class SimulatedExecutor(Executor):
    """Plays a study on a :class:`CurveProblem` with simulated workers and a simulated clock.

    Args:
        problem: the curves (also the ``objective`` given to ``study.optimize``).
        max_time: simulated seconds after which no trial starts (None: no limit).
        max_resource: fidelity units of training after which the run ends: no trial starts,
            and the trials still running are stopped (PRUNED) where they are.
        on_trial: called as ``on_trial(study, frozen_trial, executor)`` after each trial
            (e.g. to record a recommendation against the resource used).
        max_retries: how many times a failed trial's configuration (``problem.loss`` raised an
            exception in ``catch``) is re-queued; retries do not count against ``n_trials``.
    """

    name: ClassVar[str] = "simulated"

    def __init__(self, problem: CurveProblem, max_time: float | None = None, max_resource: float | None = None,
                 on_trial: Callable[[Study, FrozenTrial, SimulatedExecutor], None] | None = None,
                 max_retries: int = 0) -> None:
        if not isinstance(problem, CurveProblem):
            raise ConfigError(f"simulated backend: expected a CurveProblem, but got {problem!r}")
        max_time = optional(positive_number, "simulated backend: max_time", max_time)
        max_resource = optional(positive_number, "simulated backend: max_resource", max_resource)
        self.problem, self.max_time, self.max_resource, self.on_trial = problem, max_time, max_resource, on_trial
        self.max_retries = non_negative_int("simulated backend: max_retries", max_retries)
        self.clock = 0.0
        self.resource = 0.0
        self.trace: list[TraceEvent] = []

    def _may_start(self) -> bool:
        return ((self.max_time is None or self.clock < self.max_time)
                and (self.max_resource is None or self.resource < self.max_resource))

    def run(self, study: Study, objective: Any, spec: RunSpec) -> None:
        if objective is not self.problem:
            raise ConfigError("simulated backend: study.optimize's objective must be the executor's problem")
        if spec.n_trials is None and self.max_time is None and self.max_resource is None:
            raise ConfigError("simulated backend: give n_trials, max_time or max_resource, or the run never ends")
        problem = self.problem
        budget = Budget(spec.n_trials, None, spec.stop)  # no wall-clock timeout: max_time bounds the simulated clock
        queue: list[_Event] = []  # the running trials' next reports, by simulated time
        plans: dict[int, tuple[Trial, list[float]]] = {}
        free = [self.clock] * spec.n_workers  # idle workers: since when (a heap)
        order = 0
        progress = Progress(study, spec.n_trials, spec.show_progress_bar)
        metric = study.objectives[0].name

        def start(worker_time: float) -> bool:
            """Start a trial on a worker idle since ``worker_time``; False when none can start now."""
            nonlocal order
            if not budget.take():
                return False
            self.clock = max(self.clock, worker_time)
            if not self._may_start():
                budget.give_back()
                return False
            try:
                trial = study.ask()
            except SamplerExhausted:
                budget.stop()
                return False
            except NothingToRun:  # retried when a running trial finishes
                budget.give_back()
                return False
            steps = report_steps(problem.fidelity, trial.start_step, trial.budget) or [trial.budget]
            plans[trial.number] = (trial, steps)
            duration = problem.step_time(trial.params, steps[0]) * (steps[0] - trial.start_step)
            heapq.heappush(queue, _Event(self.clock + duration, order, trial.number, 0))
            order += 1
            return True

        def finish(trial: Trial, outcome: Outcome, note: str | None = None) -> None:
            del plans[trial.number]
            if note is None:
                frozen = tell_outcome(study, trial, outcome, max_retries=self.max_retries, budget=budget)
            else:
                frozen = study.tell(trial, None, state=TrialState.PRUNED, error=note)
            if self.on_trial is not None:
                self.on_trial(study, frozen, self)
            finish_trial(study, frozen, progress, spec.callbacks)

        try:
            while True:
                while free and start(free[0]):
                    heapq.heappop(free)
                if not queue:
                    return
                if self.max_resource is not None and self.resource >= self.max_resource:
                    for number in sorted(plans):  # the training budget is spent: stop what still runs
                        finish(plans[number][0], Outcome("pruned"), BUDGET_SPENT)
                    return
                event = heapq.heappop(queue)
                self.clock = event.time
                trial, steps = plans[event.number]
                step = steps[event.index]
                previous = steps[event.index - 1] if event.index else trial.start_step
                self.resource += max(step - previous, 0.0)
                outcome = evaluate(lambda: problem.loss(trial.params, step), spec.catch)
                if outcome.kind != "complete":  # the problem raised: the outcome rule tells it
                    finish(trial, outcome)
                    heapq.heappush(free, self.clock)
                    if outcome.fatal is not None:
                        raise outcome.fatal
                    continue
                loss = outcome.value
                trial.report(step, {metric: loss, "sim_time": self.clock})
                self.trace.append(TraceEvent(self.clock, self.resource, trial.number, step, loss))
                last = event.index == len(steps) - 1
                if last or trial.should_stop():
                    finish(trial, Outcome("complete", loss) if last else Outcome("pruned"))
                    heapq.heappush(free, self.clock)
                    continue
                nxt = steps[event.index + 1]
                duration = problem.step_time(trial.params, nxt) * (nxt - step)
                heapq.heappush(queue, _Event(self.clock + duration, order, event.number, event.index + 1))
                order += 1
        finally:
            progress.close()

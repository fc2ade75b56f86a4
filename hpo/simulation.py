"""Simulated time: run schedulers and samplers on learning-curve problems in seconds.

A :class:`CurveProblem` knows, for any configuration, the loss after every
step of training and how many (simulated) seconds each step takes; it may be
synthetic or a table of measured curves. :class:`SimulatedExecutor` plays a
study on it with ``n_workers`` simulated workers on a simulated clock (an
event queue, as Syne Tune's simulator backend): each trial is asked from the
study as in any backend, its reports are written at the simulated times
they would happen, the scheduler's stop decisions free the worker at that
moment, and the next trial starts there. Hours of simulated training take
seconds of real time, and because the executor only uses ``ask``, ``tell``,
``report`` and ``should_stop``, what it measures is what a real run does.

    problem = hpo.simulation.SyntheticCurves(seed=0)
    study = hpo.create_study(space=problem.space, fidelity=problem.fidelity, scheduler="asha", ...)
    executor = hpo.simulation.SimulatedExecutor(problem, max_time=3600)
    study.optimize(problem, n_trials=None, n_workers=4, backend=executor)
    executor.trace  # [(simulated seconds, resource used, trial number, step, loss), ...]

A resumed trial (a promotion or a PBT exploit) continues from its parent's
step: the steps before ``trial.start_step`` cost nothing. The simulated
curve is a function of (params, step): after a PBT explore step the loss
follows the new params' curve from there, the usual simplification of
tabulated simulators.
"""

from __future__ import annotations

import heapq
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hpo.errors import ConfigError, NothingToRun, SamplerExhausted
from hpo.execution import Executor, _check_run_args, _Progress
from hpo.fidelity import Fidelity
from hpo.records import FrozenTrial, TrialState
from hpo.space import SearchSpace

if TYPE_CHECKING:
    from hpo.study import Study
    from hpo.trial import Trial

__all__ = ["CurveProblem", "SyntheticCurves", "SimulatedExecutor", "TraceEvent", "report_steps", "BUDGET_SPENT"]

#: The note of trials the simulated backend stopped because the run's training budget was spent.
BUDGET_SPENT = "stopped by the simulated backend: the run's training budget (max_resource) is spent"


def report_steps(fidelity: Fidelity, start: float, budget: float, n_grid: int = 32) -> list[float]:
    """The steps at which a trial trained from ``start`` to ``budget`` reports: every whole
    step for an integer fidelity, else a grid of ``n_grid`` levels over the fidelity's range
    (plus ``budget``)."""
    if fidelity.integer:
        first = max(int(math.floor(start)) + 1, int(fidelity.min))
        return [float(s) for s in range(first, int(budget) + 1)]
    grid = [fidelity.from_unit(u) for u in np.linspace(0.0, 1.0, n_grid)]
    steps = sorted({g for g in grid if start < g < budget} | {float(budget)})
    return steps


class CurveProblem(ABC):
    """A problem with learning curves: the loss after each step, and each step's time.

    Subclasses set ``space`` and ``fidelity`` and implement :meth:`loss`; the
    study minimises the loss (reported under the study's first objective's name).
    """

    name: ClassVar[str] = "curves"
    space: SearchSpace
    fidelity: Fidelity

    @abstractmethod
    def loss(self, params: dict[str, Any], step: float) -> float:
        """The loss of ``params`` after training to ``step`` (the value that would be reported)."""

    def step_time(self, params: dict[str, Any], step: float) -> float:
        """Simulated seconds per fidelity unit of training around ``step`` (default 1)."""
        return 1.0

    def optimum(self) -> float | None:
        """The best loss at the target fidelity, when known (for regret)."""
        return None

    def __call__(self, trial: Trial) -> float:
        """Run the problem for real (without simulated time): report each step, honour stops."""
        from hpo.errors import TrialPruned

        loss = math.nan
        for step in report_steps(self.fidelity, trial.start_step, trial.budget):
            loss = self.loss(trial.params, step)
            trial.report(step, loss)
            if trial.should_stop():
                raise TrialPruned()
        return loss


class SyntheticCurves(CurveProblem):
    """Exponentially saturating curves whose final loss is a 4-dimensional function.

    ``loss(x, t) = final(x) + (start - final(x)) * exp(-t / tau(x))`` with ``final``
    a shifted Hartmann-4-like bowl mixture and ``tau`` depending on the learning rate
    parameter, so that fast starters are not always the best finishers (curves
    cross). Steps are epochs 1..81; an epoch takes ``0.5 + width`` simulated seconds.
    """

    name: ClassVar[str] = "synthetic-curves"

    def __init__(self, seed: int = 0) -> None:
        from hpo.space import Float

        self.space = SearchSpace({
            "lr": Float(1e-4, 1e-1, log=True),
            "width": Float(0.0, 1.0),
            "dropout": Float(0.0, 0.8),
            "decay": Float(1e-6, 1e-2, log=True),
        })
        self.fidelity = Fidelity("epochs", 1, 81)
        rng = np.random.default_rng(seed)
        self._centres = rng.uniform(0.15, 0.85, size=(4, 4))
        self._depths = np.array([1.0, 0.8, 0.6, 0.4])
        self._widths = rng.uniform(0.15, 0.35, size=4)

    def _unit(self, params: dict[str, Any]) -> np.ndarray:
        encoder = self.space.encoder(onehot=False)
        return encoder.encode([params])[0]

    def final(self, params: dict[str, Any]) -> float:
        u = self._unit(params)
        d2 = ((u[None, :] - self._centres) ** 2).sum(axis=1) / self._widths**2
        return float(1.0 - (self._depths * np.exp(-d2)).sum())

    def loss(self, params: dict[str, Any], step: float) -> float:
        u = self._unit(params)
        tau = 2.0 + 40.0 * (1.0 - u[0]) ** 2  # small learning rates learn slowly
        start = 2.0
        return self.final(params) + (start - self.final(params)) * math.exp(-step / tau)

    def step_time(self, params: dict[str, Any], step: float) -> float:
        return 0.5 + float(params["width"])

    def optimum(self) -> float:
        from scipy.optimize import minimize

        encoder = self.space.encoder(onehot=False)
        best = math.inf
        for centre in self._centres:
            res = minimize(lambda u: self.final(encoder.decode(np.clip(u, 0, 1)[None, :])[0]), centre,
                           method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9})
            best = min(best, float(res.fun))
        return best


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
    """

    name: ClassVar[str] = "simulated"

    def __init__(self, problem: CurveProblem, max_time: float | None = None, max_resource: float | None = None,
                 on_trial: Callable[[Study, FrozenTrial, SimulatedExecutor], None] | None = None) -> None:
        if not isinstance(problem, CurveProblem):
            raise ConfigError(f"simulated backend: expected a CurveProblem, but got {problem!r}")
        for field, value in (("max_time", max_time), ("max_resource", max_resource)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"simulated backend: {field} must be a positive number or None, but got {value!r}")
        self.problem, self.max_time, self.max_resource, self.on_trial = problem, max_time, max_resource, on_trial
        self.clock = 0.0
        self.resource = 0.0
        self.trace: list[TraceEvent] = []

    def _may_start(self) -> bool:
        return ((self.max_time is None or self.clock < self.max_time)
                and (self.max_resource is None or self.resource < self.max_resource))

    def run(
        self,
        study: Study,
        objective: Any,
        *,
        n_trials: int | None,
        timeout: float | None,
        n_workers: int,
        catch: tuple[type[BaseException], ...],
        callbacks: list[Callable[[Study, FrozenTrial], None]],
        show_progress_bar: bool,
    ) -> None:
        _check_run_args(n_trials, timeout, n_workers)
        if objective is not self.problem:
            raise ConfigError("simulated backend: study.optimize's objective must be the executor's problem")
        if n_trials is None and self.max_time is None and self.max_resource is None:
            raise ConfigError("simulated backend: give n_trials, max_time or max_resource, or the run never ends")
        problem = self.problem
        left = n_trials
        queue: list[_Event] = []  # the running trials' next reports, by simulated time
        plans: dict[int, tuple[Trial, list[float]]] = {}
        free = [self.clock] * n_workers  # idle workers: since when (a heap)
        order = 0
        progress = _Progress(study, n_trials, show_progress_bar)
        exhausted = False
        metric = study.objectives[0].name

        def start(worker_time: float) -> bool:
            """Start a trial on a worker idle since ``worker_time``; False when none can start now."""
            nonlocal left, order, exhausted
            if exhausted or (left is not None and left <= 0):
                return False
            self.clock = max(self.clock, worker_time)
            if not self._may_start():
                return False
            try:
                trial = study.ask()
            except SamplerExhausted:
                exhausted = True
                return False
            except NothingToRun:  # retried when a running trial finishes
                return False
            if left is not None:
                left -= 1
            steps = report_steps(problem.fidelity, trial.start_step, trial.budget) or [trial.budget]
            plans[trial.number] = (trial, steps)
            duration = problem.step_time(trial.params, steps[0]) * (steps[0] - trial.start_step)
            heapq.heappush(queue, _Event(self.clock + duration, order, trial.number, 0))
            order += 1
            return True

        def finish(trial: Trial, state: TrialState, value: float, note: str | None = None) -> None:
            frozen = study.tell(trial, value if state is TrialState.COMPLETE else None, state=state, error=note)
            progress.update(frozen)
            if self.on_trial is not None:
                self.on_trial(study, frozen, self)
            for callback in callbacks:
                callback(study, frozen)

        try:
            while True:
                while free and start(free[0]):
                    heapq.heappop(free)
                if not queue:
                    return
                if self.max_resource is not None and self.resource >= self.max_resource:
                    for number in sorted(plans):  # the training budget is spent: stop what still runs
                        finish(plans.pop(number)[0], TrialState.PRUNED, math.nan, BUDGET_SPENT)
                    return
                event = heapq.heappop(queue)
                self.clock = event.time
                trial, steps = plans[event.number]
                step = steps[event.index]
                previous = steps[event.index - 1] if event.index else trial.start_step
                self.resource += max(step - previous, 0.0)
                loss = problem.loss(trial.params, step)
                trial.report(step, {metric: loss, "sim_time": self.clock})
                self.trace.append(TraceEvent(self.clock, self.resource, trial.number, step, loss))
                last = event.index == len(steps) - 1
                if last or trial.should_stop():
                    finish(trial, TrialState.COMPLETE if last else TrialState.PRUNED, loss)
                    del plans[event.number]
                    heapq.heappush(free, self.clock)
                    continue
                nxt = steps[event.index + 1]
                duration = problem.step_time(trial.params, nxt) * (nxt - step)
                heapq.heappush(queue, _Event(self.clock + duration, order, event.number, event.index + 1))
                order += 1
        finally:
            progress.close()

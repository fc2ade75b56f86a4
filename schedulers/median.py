"""Median stopping (Golovin et al. 2017, "Google Vizier", section 3.2.2).

A trial is stopped at step ``s`` when its best loss so far is worse than the
median, over the other trials that reached ``s``, of their running-average
loss up to ``s``. Nothing is stopped before ``grace_period`` or while fewer than
``min_samples`` other trials reached the step. Every trial gets the full
budget (``trial.budget == fidelity.max``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hpo.errors import ConfigError
from hpo.schedulers.base import Decision, Plan, Scheduler, SchedulerState, _check_positive_int
from hpo.validators import is_number

__all__ = ["MedianStopping"]


class MedianStopping(Scheduler):
    """Stop a trial whose best loss is worse than the median of the others' running averages.

    Args:
        grace_period: no stop before this step (default: the fidelity's min).
        min_samples: other trials that must have reached the step.
        metric: the objective whose reports decide (default: the study's first objective).
    """

    name: ClassVar[str] = "median"

    def __init__(self, grace_period: float | None = None, min_samples: int = 3, metric: str | None = None) -> None:
        if grace_period is not None and (
            not is_number(grace_period) or grace_period < 0
        ):
            raise ConfigError(f"median: grace_period must be a non-negative number or None, but got {grace_period!r}")
        self.grace_period = None if grace_period is None else float(grace_period)
        self.min_samples = _check_positive_int("median", "min_samples", min_samples)
        self.metric = metric

    def options(self) -> dict[str, Any]:
        return {"grace_period": self.grace_period, "min_samples": self.min_samples, "metric": self.metric}

    def plan(self, state: SchedulerState, number: int, rng: np.random.Generator) -> Plan:
        return Plan(budget=state.fidelity.max)

    def decide(self, state: SchedulerState, number: int) -> Decision:
        view = state.trials.get(number)
        if view is None or not view.curve:
            return Decision.CONTINUE
        step = view.curve[-1][0]
        grace = state.fidelity.min if self.grace_period is None else self.grace_period
        if step < grace:
            return Decision.CONTINUE
        averages = []
        for other in state.trials.values():
            if other.number == number or not other.curve or other.curve[-1][0] < step - 1e-9:
                continue
            upto = [loss for s, loss in other.curve if s <= step + 1e-9]
            if upto:
                averages.append(float(np.mean(upto)))
        if len(averages) < self.min_samples:
            return Decision.CONTINUE
        best = min(loss for _, loss in view.curve)
        return Decision.STOP if best > float(np.median(averages)) else Decision.CONTINUE

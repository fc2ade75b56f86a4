"""Asynchronous successive halving (ASHA) and asynchronous Hyperband.

Rungs: bracket ``b`` has the budgets ``min * eta**(k + b)`` below ``max``, then
``max`` (``Fidelity.levels``). A trial of bracket ``b`` starts at the bracket's
first rung. ASHA is one bracket (``brackets=1``); Hyperband runs every bracket,
each new trial drawing its bracket with the probabilities of synchronous
Hyperband's bracket sizes (Li et al. 2018), so aggressive and conservative
early stopping are hedged.

Two ways to run a rung (Li et al. 2020, "A System for Massively Parallel
Hyperparameter Tuning"; Syne Tune's ``type``):

- ``type="stopping"`` (default): every trial gets ``budget = max`` and reports as
  it trains; when its report first reaches a rung it continues only if its loss
  is within the best ``1/eta`` of the losses recorded at that rung so far
  (percentile cut-off, as Ray Tune's ASHA); otherwise it is stopped
  (``trial.should_stop()`` is True). No checkpoints needed.
- ``type="promotion"``: a trial runs to its rung's budget and finishes; when a
  worker is free, the best ``floor(n/eta)`` of the ``n`` trials finished at a rung
  that were not promoted yet are promoted (Algorithm 2 of ASHA): a new trial with
  the same params and the next rung's budget, resuming from the promoted
  trial's checkpoint (``trial.load_checkpoint()``, ``trial.start_step``). If no
  trial is promotable, a new configuration starts at the bracket's first rung.

Decisions are functions of the stored trials and reports only, so a driver
that restarts promotes and stops exactly as the one before would have.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from hpo.errors import ConfigError
from hpo.fidelity import Fidelity
from hpo.records import TrialState
from hpo.space import SearchSpace
from hpo.schedulers.base import (
    Decision,
    Plan,
    Scheduler,
    SchedulerState,
    TrialView,
    _check_positive_int,
)
from hpo.validators import is_number

__all__ = ["SuccessiveHalving", "ASHA", "Hyperband"]

_TYPES = ("stopping", "promotion")


class SuccessiveHalving(Scheduler):
    """Asynchronous successive halving with ``brackets`` brackets (see the module docstring).

    Args:
        reduction_factor: ``eta`` > 1: a rung keeps the best ``1/eta`` of its trials.
        min_budget: the first rung (default: the fidelity's ``min``).
        brackets: number of brackets (1: ASHA; None: every bracket, i.e. Hyperband).
        type: ``"stopping"`` or ``"promotion"``.
        metric: the objective whose reports decide (default: the study's first objective).
    """

    name: ClassVar[str] = "successive-halving"

    def __init__(
        self,
        reduction_factor: float = 3.0,
        min_budget: float | None = None,
        brackets: int | None = 1,
        type: str = "stopping",
        metric: str | None = None,
    ) -> None:
        if not is_number(reduction_factor) or not reduction_factor > 1:
            raise ConfigError(f"{self.name}: `reduction_factor > 1` must hold, but got {reduction_factor!r}")
        if type not in _TYPES:
            raise ConfigError(f"{self.name}: unknown type {type!r}; valid types: {list(_TYPES)}")
        if min_budget is not None and (
            not is_number(min_budget) or not min_budget > 0
        ):
            raise ConfigError(f"{self.name}: min_budget must be a positive number or None, but got {min_budget!r}")
        self.reduction_factor = float(reduction_factor)
        self.min_budget = None if min_budget is None else float(min_budget)
        self.brackets = None if brackets is None else _check_positive_int(self.name, "brackets", brackets)
        self.type = type
        self.metric = metric
        self._rungs: list[list[float]] = []
        self._decided: dict[tuple[int, int], Decision] = {}

    @property
    def stops_trials(self) -> bool:  # type: ignore[override]
        return self.type == "stopping"

    @property
    def resumes_trials(self) -> bool:  # type: ignore[override]
        return self.type == "promotion"

    def options(self) -> dict[str, Any]:
        return {"reduction_factor": self.reduction_factor, "min_budget": self.min_budget, "brackets": self.brackets,
                "type": self.type, "metric": self.metric}

    # -- rungs ------------------------------------------------------------------------
    def bind(self, fidelity: Fidelity, space: SearchSpace | None = None) -> None:
        start = fidelity.min if self.min_budget is None else self.min_budget
        if not fidelity.min <= start < fidelity.max:
            raise ConfigError(f"{self.name}: `fidelity.min <= min_budget < fidelity.max` must hold, but got "
                              f"min_budget={start} for fidelity {fidelity.name} in [{fidelity.min}, {fidelity.max}]")
        base = fidelity.levels(self.reduction_factor, start)
        n_brackets = len(base) - 1 if self.brackets is None else min(self.brackets, len(base) - 1)
        self._rungs = [base[b:] for b in range(max(n_brackets, 1))]

    def rungs(self, bracket: int = 0) -> list[float]:
        """The budgets of ``bracket``'s rungs (the last one is the fidelity's max)."""
        return list(self._rungs[bracket])

    def levels(self, fidelity: Fidelity) -> list[float]:
        if not self._rungs:
            self.bind(fidelity)
        return self.rungs(0)

    def _bracket_weights(self) -> np.ndarray:
        """Synchronous Hyperband's bracket sizes: bracket b (s = s_max - b halvings) starts
        ``ceil((s_max + 1) / (s + 1) * eta**s)`` configurations."""
        s_max = len(self._rungs[0]) - 1
        sizes = [math.ceil((s_max + 1) / (s_max - b + 1) * self.reduction_factor ** (s_max - b))
                 for b in range(len(self._rungs))]
        weights = np.array(sizes, dtype=float)
        return weights / weights.sum()

    # -- plans ------------------------------------------------------------------------
    def plan(self, state: SchedulerState, number: int, rng: np.random.Generator) -> Plan:
        if not self._rungs:
            self.bind(state.fidelity)
        if self.type == "promotion":
            promotion = self._promotion(state)
            if promotion is not None:
                return promotion
        bracket = 0 if len(self._rungs) == 1 else int(rng.choice(len(self._rungs), p=self._bracket_weights()))
        rungs = self._rungs[bracket]
        budget = rungs[-1] if self.type == "stopping" else rungs[0]
        return Plan(budget=budget, attrs={"bracket": bracket, "rung": 0 if self.type == "promotion" else None})

    def _promotion(self, state: SchedulerState) -> Plan | None:
        promoted = {int(t.attrs["resume_from"]) for t in state.trials.values() if t.attrs.get("resume_from") is not None}
        for bracket, rungs in enumerate(self._rungs):
            for k in range(len(rungs) - 2, -1, -1):  # from the top rung down (ASHA's get_job)
                finished = [
                    t for t in state.in_states(TrialState.COMPLETE)
                    if t.attrs.get("bracket", 0) == bracket and t.attrs.get("rung") == k and t.loss is not None
                ]
                n_top = int(len(finished) // self.reduction_factor)
                if n_top < 1:
                    continue
                top = sorted(finished, key=lambda t: (t.loss, t.number))[:n_top]
                for candidate in top:
                    if candidate.number not in promoted:
                        return Plan(budget=rungs[k + 1], params=dict(candidate.params), resume_from=candidate.number,
                                    attrs={"bracket": bracket, "rung": k + 1})
        return None

    # -- decisions --------------------------------------------------------------------
    def decide(self, state: SchedulerState, number: int) -> Decision:
        if self.type == "promotion" or not self._rungs:
            return Decision.CONTINUE
        view = state.trials.get(number)
        if view is None or not view.curve:
            return Decision.CONTINUE
        bracket = int(view.attrs.get("bracket", 0))
        rungs = self._rungs[min(bracket, len(self._rungs) - 1)]
        last = view.curve[-1][0]
        reached = [k for k, level in enumerate(rungs[:-1]) if last >= level - 1e-9]
        if not reached:
            return Decision.CONTINUE
        k = reached[-1]
        key = (number, k)
        if key not in self._decided:
            self._decided[key] = self._cut(state, view, bracket, rungs[k])
        return self._decided[key]

    def _cut(self, state: SchedulerState, view: TrialView, bracket: int, level: float) -> Decision:
        """Continue iff the trial's loss at ``level`` is within the best ``1/eta`` recorded there."""
        own = view.loss_at(level)
        if own is None:
            return Decision.CONTINUE
        recorded = [
            loss for t in state.trials.values()
            if int(t.attrs.get("bracket", 0)) == bracket and (loss := t.loss_at(level)) is not None
        ]
        cutoff = float(np.quantile(np.asarray(recorded), 1.0 / self.reduction_factor))
        return Decision.CONTINUE if own <= cutoff else Decision.STOP


class ASHA(SuccessiveHalving):
    """Asynchronous successive halving: one bracket (``brackets=1``)."""

    name: ClassVar[str] = "asha"


class Hyperband(SuccessiveHalving):
    """Asynchronous Hyperband: every bracket, drawn per trial (``brackets=None``)."""

    name: ClassVar[str] = "hyperband"

    def __init__(self, reduction_factor: float = 3.0, min_budget: float | None = None, brackets: int | None = None,
                 type: str = "stopping", metric: str | None = None) -> None:
        super().__init__(reduction_factor, min_budget, brackets, type, metric)

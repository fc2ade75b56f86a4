"""The scheduler seam: when a trial continues, stops, or is resumed at a larger budget.

A sampler decides *what* configuration to try; a scheduler decides *how much*
of the study's fidelity (epochs, steps, data) each trial gets. A scheduler
implements two methods:

- :meth:`Scheduler.plan`: what trial ``number`` runs when a worker is free: a new
  configuration (the sampler's, ``Plan.params is None``) at some budget, or an
  existing configuration resumed from a finished trial's checkpoint at a larger
  budget (a promotion in successive halving, an exploit step in PBT).
- :meth:`Scheduler.decide`: after a running trial reported, whether it continues.

Both read a :class:`SchedulerState` that the study rebuilds incrementally from
the store (trials with their budgets and attrs, and every report of the
scheduler's metric). Schedulers keep no state of their own that is not in the
store, so after a driver restart the same decisions follow: a trial that
finished at a rung is promoted later, a PBT population resumes from its
members' checkpoints.

Budgets are in the fidelity's unit. Losses in the state are signed for
minimisation (``loss = objective.sign * value``, by the tracker that builds the
state), so schedulers never branch on minimise/maximise.

What the sampler learns from under a scheduler comes from :meth:`Scheduler.sampler_data`:
each configuration's value at one rung level, in *objective units* (the study's
objective name and direction; the state's losses are turned back by
:meth:`SchedulerState.objective_value`, an exact inverse since the sign is
``+1`` or ``-1``). The study hands it to the sampler as
``SamplingContext.scheduler_data``; ``SamplingContext.losses()`` is the one place
where the sampler's values are signed for minimisation.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hpo.errors import ConfigError
from hpo.fidelity import Fidelity
from hpo.records import FrozenTrial, Objective, TrialState
from hpo.space import SearchSpace
from hpo.validators import is_int, is_number

__all__ = ["Scheduler", "Plan", "Decision", "TrialView", "SchedulerState"]


class Decision(str, enum.Enum):
    """What a running trial does after a report."""

    CONTINUE = "CONTINUE"
    STOP = "STOP"


@dataclass(frozen=True)
class Plan:
    """What the next trial runs.

    Attributes:
        budget: the fidelity value the trial trains up to (``trial.budget``).
        params: the configuration, or None for the sampler's suggestion.
        resume_from: number of a finished trial whose checkpoint this trial starts
            from (``trial.load_checkpoint()``); its budget is ``trial.start_step``.
        attrs: bookkeeping stored with the trial (rung, bracket, lineage, ...).
    """

    budget: float
    params: dict[str, Any] | None = None
    resume_from: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrialView:
    """One trial as a scheduler sees it.

    ``curve`` holds ``(step, loss)`` pairs of the scheduler's metric in report
    order (loss: signed for minimisation; reports without the metric are
    skipped). ``loss`` is the final value of a COMPLETE trial.
    """

    number: int
    state: TrialState
    params: dict[str, Any]
    attrs: dict[str, Any]
    loss: float | None = None
    curve: list[tuple[float, float]] = field(default_factory=list)

    @property
    def budget(self) -> float | None:
        budget = self.attrs.get("budget")
        return None if budget is None else float(budget)

    @property
    def start_step(self) -> float:
        return float(self.attrs.get("start_step", 0.0))

    def loss_at(self, level: float) -> float | None:
        """The loss reported at the first step >= ``level`` (or the final value at that budget)."""
        for step, loss in self.curve:
            if step >= level - 1e-9:
                return loss
        if self.state is TrialState.COMPLETE and self.loss is not None and self.budget is not None:
            if self.budget >= level - 1e-9:
                return self.loss
        return None


@dataclass
class SchedulerState:
    """Every trial of the study, by number, with its reports (see :class:`TrialView`).

    ``objective`` is the objective the losses were read from (its sign made them losses); None only in
    a state built by hand, where the losses are taken to be the values of a minimised objective.
    """

    fidelity: Fidelity
    trials: dict[int, TrialView] = field(default_factory=dict)
    objective: Objective | None = None

    def objective_value(self, loss: float) -> float:
        """A loss of this state back in objective units: ``objective.sign * loss`` (exact: the sign is ±1)."""
        return loss if self.objective is None else self.objective.sign * loss

    def objective_name(self) -> str:
        """The name the sampler's values are keyed by (``"value"`` for a hand-built state)."""
        return "value" if self.objective is None else self.objective.name

    def in_states(self, *states: TrialState) -> list[TrialView]:
        return [t for t in self.trials.values() if t.state in states]

    def started(self) -> list[TrialView]:
        """Trials that started (running, waiting, or finished), in number order."""
        return [self.trials[n] for n in sorted(self.trials)]


def _check_positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    if not is_int(value) or value < minimum:
        raise ConfigError(f"{owner}: `{name} >= {minimum}` must hold (an integer), but got {name}={value!r}")
    return int(value)


def _check_fraction(owner: str, name: str, value: Any, low: float = 0.0, high: float = 1.0) -> float:
    if not is_number(value) or not low <= value <= high:
        raise ConfigError(f"{owner}: `{low} <= {name} <= {high}` must hold, but got {name}={value!r}")
    return float(value)


class Scheduler(ABC):
    """Decides budgets, stops and promotions. Implement :meth:`plan` and :meth:`decide`.

    Class attributes:

    - ``stops_trials``: :meth:`decide` may return STOP (the study checks it on
      ``trial.should_stop()``);
    - ``resumes_trials``: plans may resume a checkpoint (the objective should
      save one in ``trial.checkpoint_dir`` and load ``trial.load_checkpoint()``).
    """

    name: ClassVar[str] = "scheduler"
    stops_trials: ClassVar[bool] = True
    resumes_trials: ClassVar[bool] = False

    #: the objective whose reports the scheduler reads (None: the study's first objective)
    metric: str | None = None

    def bind(self, fidelity: Fidelity, space: SearchSpace) -> None:
        """Called with the study's fidelity and space before any plan; checks options against them."""

    @abstractmethod
    def plan(self, state: SchedulerState, number: int, rng: np.random.Generator) -> Plan:
        """The plan of trial ``number`` (``rng`` depends only on the study seed and ``number``).

        Raises:
            hpo.errors.NothingToRun: nothing can start until a running trial finishes.
            hpo.errors.SamplerExhausted: the schedule is complete.
        """

    @abstractmethod
    def decide(self, state: SchedulerState, number: int) -> Decision:
        """Whether RUNNING trial ``number`` continues after its latest report."""

    def levels(self, fidelity: Fidelity) -> list[float]:
        """Budgets at which the sampler may be fitted (default: rungs of factor 3 up to max)."""
        return fidelity.levels(3.0)

    def sampler_data(self, state: SchedulerState, min_points: int) -> tuple[float, list[FrozenTrial]]:
        """What the sampler learns from: each configuration's value at the highest level that at
        least ``min_points`` configurations reached (the lowest level if none did).

        This is how BO and TPE propose the configurations a scheduler runs (as in BOHB: the model is
        fitted on the largest budget with enough data). A configuration resumed by several trials
        (promotions, PBT exploits) appears once, under its latest trial's number; its value at the
        level is read from the trial that trained through the level (following ``resume_from``).

        Returns:
            ``(level, trials)``: ``trials`` are COMPLETE records in the order the configurations
            first started, ``values`` ``{objective name: value}`` in objective units (not signed for
            minimisation), ``attrs["level"] == level``. While ``level`` stays the same the set only
            grows and a configuration's value does not change. The study wraps them in
            :class:`hpo.samplers.base.SchedulerData` (schedulers do not import samplers).
        """
        levels = self.levels(state.fidelity)
        seen: dict[str, TrialView] = {}
        for view in state.started():  # a resumed configuration appears once: its latest trial
            seen[repr(sorted(view.params.items()))] = view
        chosen_level, chosen = levels[0], []
        for level in reversed(levels):
            rows = []
            for view in seen.values():
                loss = _best_loss_at(state, view, level)
                if loss is not None and math.isfinite(loss):
                    rows.append((view, loss))
            if len(rows) >= min_points or level == levels[0]:
                chosen_level, chosen = level, rows
                break
        name = state.objective_name()
        return chosen_level, [
            FrozenTrial(number=v.number, state=TrialState.COMPLETE, params=dict(v.params),
                        values={name: state.objective_value(loss)}, attrs={**v.attrs, "level": chosen_level})
            for v, loss in chosen
        ]

    def options(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


def _best_loss_at(state: SchedulerState, view: TrialView, level: float) -> float | None:
    """The loss of ``view``'s configuration at ``level``, following resumed trials back to their parents.

    A resumed trial that started at or past ``level`` (``start_step >= level``) trained only beyond it,
    so the configuration's value there is its parent's (not the resumed trial's first report, which
    would change the value of a configuration at a level once it is promoted)."""
    loss = None if _resumed_past(view, level) else view.loss_at(level)
    parent = view.attrs.get("resume_from")
    hops = 0
    while loss is None and parent is not None and hops < 1000:
        parent_view = state.trials.get(int(parent))
        if parent_view is None or parent_view.params != view.params:
            return None
        loss = None if _resumed_past(parent_view, level) else parent_view.loss_at(level)
        parent = parent_view.attrs.get("resume_from")
        hops += 1
    return loss


def _resumed_past(view: TrialView, level: float) -> bool:
    return view.attrs.get("resume_from") is not None and view.start_step >= level - 1e-9

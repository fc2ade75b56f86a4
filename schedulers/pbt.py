"""Population-based training (Jaderberg et al. 2017), asynchronous.

A population of ``population_size`` members trains in segments of
``interval`` budget units. Each segment is one trial of the study: it resumes
its member's previous checkpoint (``trial.load_checkpoint()``), trains from
``trial.start_step`` to ``trial.budget``, saves a checkpoint in
``trial.checkpoint_dir`` and returns the loss at ``trial.budget``.

When a member finished a segment at budget ``t`` and a worker is free, the
member is compared with the members that reached ``t``: if it is in the
bottom ``quantile`` it *exploits* a member of the top ``quantile`` (copies its
checkpoint at ``t`` and its params) and *explores* (each numeric parameter
multiplied by one of ``perturbation_factors``, clipped to its range; each
parameter resampled from the space with ``resample_probability``); otherwise
it continues with its own params and checkpoint. The member furthest behind
goes first. The study is done (``SamplerExhausted``) when every member reached
the fidelity's max; while every member is training, new asks wait
(``NothingToRun``).

Trial attrs: ``lineage`` (the member: the number of its first trial),
``exploited`` (the trial whose checkpoint and params were copied, if any).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from hpo.errors import ConfigError, NothingToRun, SamplerExhausted, SpaceError
from hpo.fidelity import Fidelity
from hpo.records import TrialState
from hpo.schedulers.base import (
    Decision,
    Plan,
    Scheduler,
    SchedulerState,
    TrialView,
    _check_fraction,
    _check_positive_int,
)
from hpo.space import Categorical, Fixed, SearchSpace
from hpo.validators import is_number

__all__ = ["PBT", "explore"]


def explore(space: SearchSpace, params: dict[str, Any], rng: np.random.Generator,
            factors: tuple[float, ...], resample_probability: float) -> dict[str, Any]:
    """PBT's explore step: perturb or resample each active parameter, staying in the space."""
    out = dict(params)
    for name, value in params.items():
        param = space[name]
        if isinstance(param, Fixed):
            continue
        if rng.uniform() < resample_probability:
            out[name] = param.sample(rng)
            continue
        if isinstance(param, Categorical):
            continue  # kept (resampled above with resample_probability)
        factor = float(factors[int(rng.integers(len(factors)))])
        moved = min(max(value * factor, param.low), param.high)
        out[name] = param.decode(param.encode(moved))  # back on the grid / integers
    try:
        return space.validate(out)
    except SpaceError:  # a conditional parameter changed what is active: keep the parent's config
        return dict(params)


class PBT(Scheduler):
    """Asynchronous population-based training (see the module docstring).

    Args:
        population_size: members trained at once.
        interval: budget units per segment (default: the fidelity's min).
        quantile: fraction of the population that exploits (bottom) / is exploited (top).
        perturbation_factors: multipliers of numeric parameters in explore.
        resample_probability: chance of resampling a parameter from the space in explore.
        metric: the objective that ranks members (default: the study's first objective).
    """

    name: ClassVar[str] = "pbt"
    stops_trials: ClassVar[bool] = False
    resumes_trials: ClassVar[bool] = True

    def __init__(
        self,
        population_size: int = 8,
        interval: float | None = None,
        quantile: float = 0.25,
        perturbation_factors: tuple[float, ...] | list[float] = (0.8, 1.2),
        resample_probability: float = 0.25,
        metric: str | None = None,
    ) -> None:
        self.population_size = _check_positive_int("pbt", "population_size", population_size, minimum=2)
        if interval is not None and (not is_number(interval)
                                     or not interval > 0):
            raise ConfigError(f"pbt: interval must be a positive number or None, but got {interval!r}")
        self.interval = None if interval is None else float(interval)
        self.quantile = _check_fraction("pbt", "quantile", quantile, 0.0, 0.5)
        factors = tuple(perturbation_factors) if isinstance(perturbation_factors, (list, tuple)) else ()
        if not factors or any(not is_number(f) or not f > 0 for f in factors):
            raise ConfigError(f"pbt: perturbation_factors must be a non-empty list of positive numbers, "
                              f"but got {perturbation_factors!r}")
        self.perturbation_factors = tuple(float(f) for f in factors)
        self.resample_probability = _check_fraction("pbt", "resample_probability", resample_probability)
        self.metric = metric
        self.space: SearchSpace | None = None

    def options(self) -> dict[str, Any]:
        return {"population_size": self.population_size, "interval": self.interval, "quantile": self.quantile,
                "perturbation_factors": list(self.perturbation_factors),
                "resample_probability": self.resample_probability, "metric": self.metric}

    def bind(self, fidelity: Fidelity, space: SearchSpace) -> None:
        self.space = space

    def decide(self, state: SchedulerState, number: int) -> Decision:
        return Decision.CONTINUE  # PBT acts between segments, in plan()

    # -- population -------------------------------------------------------------------
    def _members(self, state: SchedulerState) -> dict[int, list[TrialView]]:
        members: dict[int, list[TrialView]] = {}
        for view in state.started():
            lineage = view.attrs.get("lineage")
            if lineage is not None:
                members.setdefault(int(lineage), []).append(view)
        return members

    def plan(self, state: SchedulerState, number: int, rng: np.random.Generator) -> Plan:
        fidelity = state.fidelity
        interval = fidelity.min if self.interval is None else self.interval
        members = self._members(state)
        alive = {m: segs for m, segs in members.items() if segs[-1].state is not TrialState.FAILED
                 and segs[-1].state is not TrialState.PRUNED}
        if len(alive) < self.population_size:
            return Plan(budget=fidelity.round(min(interval, fidelity.max)), attrs={"lineage": number})
        ready = [(segs[-1].budget, m) for m, segs in alive.items()
                 if segs[-1].state is TrialState.COMPLETE and segs[-1].budget is not None
                 and segs[-1].budget < fidelity.max and segs[-1].loss is not None]
        if not ready:
            if all(segs[-1].state is TrialState.COMPLETE and (segs[-1].budget or 0) >= fidelity.max
                   for segs in alive.values()):
                raise SamplerExhausted(f"pbt: every one of the {len(alive)} members reached "
                                       f"{fidelity.name}={fidelity.max:g}")
            raise NothingToRun("pbt: every member is training; the next segment starts when one finishes")
        t, lineage = min(ready)
        head = alive[lineage][-1]
        budget = fidelity.round(min(t + interval, fidelity.max))
        at_t = self._losses_at(alive, t)
        source = head
        exploited = None
        k = max(1, math.floor(self.quantile * len(at_t))) if self.quantile > 0 else 0
        if k and len(at_t) >= 2:
            ranked = sorted(at_t, key=lambda item: (item[1], item[0].number))
            bottom = {v.number for v, _ in ranked[-k:]}
            if head.number in bottom:
                top = [v for v, _ in ranked[:k]]
                source = top[int(rng.integers(len(top)))]
                exploited = source.number
        params = dict(source.params)
        if exploited is not None and self.space is not None:
            params = explore(self.space, params, rng, self.perturbation_factors, self.resample_probability)
        attrs: dict[str, Any] = {"lineage": lineage}
        if exploited is not None:
            attrs["exploited"] = exploited
        return Plan(budget=budget, params=params, resume_from=source.number, attrs=attrs)

    @staticmethod
    def _losses_at(alive: dict[int, list[TrialView]], t: float) -> list[tuple[TrialView, float]]:
        """Each member's segment that ended at budget ``t`` (COMPLETE), with its loss."""
        out = []
        for segs in alive.values():
            for seg in segs:
                if seg.state is TrialState.COMPLETE and seg.budget is not None and abs(seg.budget - t) < 1e-9 \
                        and seg.loss is not None:
                    out.append((seg, seg.loss))
        return out

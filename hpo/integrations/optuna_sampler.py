"""hpo's samplers inside Optuna: :class:`HpoSampler`, an ``optuna.samplers.BaseSampler``.

::

    import optuna
    from hpo.integrations.optuna_sampler import HpoSampler

    study = optuna.create_study(sampler=HpoSampler("gp", seed=0))
    study.optimize(objective, n_trials=50)

How it maps Optuna onto an hpo sampler (the converse of :mod:`hpo.samplers.optuna_adapter`):

- **relative sampling** over Optuna's intersection search space
  (``optuna.search_space.IntersectionSearchSpace``: the parameters every COMPLETE trial has, with the
  same distribution), single-valued distributions left out as Optuna's GP sampler does. The
  distributions become an hpo :class:`~hpo.space.SearchSpace` (:func:`param_from_distribution`);
- **observations**: Optuna's COMPLETE trials (finite values) and PRUNED trials that hold every
  parameter of that space become hpo :class:`~hpo.records.FrozenTrial` records, objectives named
  ``value_0``, ``value_1``, ... with Optuna's directions; RUNNING trials holding them are the pending
  configurations (so batch-aware samplers such as ``gp`` do not suggest them again);
- **independent fallback**: a parameter outside that space (the first trials, conditional parameters,
  ranges that changed) is drawn by Optuna's ``RandomSampler`` seeded with ``seed``;
- **constraints**: with ``constraints_func`` (Optuna's convention, a value ``<= 0`` is satisfied), the
  values are stored in the trial's system attrs in :meth:`HpoSampler.after_trial`, as Optuna's own
  samplers do, and given to the hpo sampler as constraints ``constraint_i <= 0``;
- **seeding**: every suggestion of trial ``number`` is a function of ``(seed, number)`` (hpo's
  :func:`~hpo.samplers.base.trial_rng`), so a seeded study replays its suggestions;
  :meth:`HpoSampler.reseed_rng` draws a fresh seed.
- A sampler that handles one objective only (``cmaes``) raises ``ValueError`` (a
  :class:`~hpo.errors.SamplerError`) in a study with several, as Optuna's single-objective samplers do.


The module imports Optuna (``import hpo`` does not import this module).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.search_space import IntersectionSearchSpace

from hpo.define_by_run import categorical_param, float_param, int_param
from hpo.errors import SamplerError, short_repr
from hpo.params import Fixed, Float, Param
from hpo.records import Constraint, Direction, FrozenTrial, Objective, TrialState
from hpo.samplers.base import Sampler, SamplingContext, Suggestion, trial_rng
from hpo.samplers.registry import make_sampler
from hpo.space import SearchSpace
from hpo.validators import is_int

__all__ = ["HpoSampler", "param_from_distribution"]

#: Optuna's system-attr key of constraint values (``optuna.samplers._base._CONSTRAINTS_KEY``).
_CONSTRAINTS_KEY = "constraints"
_SEED_LIMIT = 2**63


def param_from_distribution(dist: Any) -> Param:
    """The hpo :class:`~hpo.params.Param` of an Optuna distribution (a single-valued one is ``Fixed``)."""
    import optuna.distributions as od

    if isinstance(dist, od.FloatDistribution):
        return float_param(dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, od.IntDistribution):
        return int_param(dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, od.CategoricalDistribution):
        return categorical_param(dist.choices)
    raise SamplerError(f"HpoSampler: unsupported Optuna distribution {short_repr(dist)}")


def _to_optuna_value(param: Param, dist: Any, value: Any) -> Any:
    """``value`` as Optuna expects it for ``dist``: a Python float or int, or the choice object itself."""
    import optuna.distributions as od

    if isinstance(dist, od.CategoricalDistribution):
        return dist.choices[int(dist.to_internal_repr(value))]
    if isinstance(param, Fixed):
        value = param.value
    return float(value) if isinstance(dist, od.FloatDistribution) else int(value)


class HpoSampler(optuna.samplers.BaseSampler):
    """An Optuna sampler that asks an hpo sampler (see the module docstring).

    Args:
        sampler: an hpo sampler name (``hpo.samplers.sampler_names()``: ``"gp"``, ``"ensemble"``,
            ``"pfn-ei"``, ``"tpe"``, ...) or an :class:`hpo.samplers.Sampler` instance.
        seed: makes the suggestions reproducible (``0 <= seed < 2**63``; None: not reproducible).
        constraints_func: Optuna's ``constraints_func(frozen_trial) -> sequence of floats``; a value
            ``<= 0`` means satisfied.
        **options: options of the named hpo sampler (``HpoSampler("gp", n_initial=5, num_restarts=4)``).

    Raises:
        SamplerError: an unknown sampler name or option, options given with an instance, a bad seed.
    """

    def __init__(self, sampler: str | Sampler = "gp", seed: int | None = None, *,
                 constraints_func: Callable[[Any], Sequence[float]] | None = None, **options: Any) -> None:
        if isinstance(sampler, Sampler):
            if options:
                raise SamplerError(f"HpoSampler: options {sorted(options)} are for a sampler given by name; the "
                                   f"instance {sampler!r} is used as is")
            self._sampler = sampler
        else:
            self._sampler = make_sampler(sampler, **options)
        if seed is not None and (not is_int(seed) or not 0 <= seed < _SEED_LIMIT):
            raise SamplerError(f"HpoSampler: `0 <= seed < 2**63` must hold for an integer seed, or pass None, "
                               f"but got seed={short_repr(seed, 80)}")
        if constraints_func is not None and not callable(constraints_func):
            raise SamplerError(f"HpoSampler: constraints_func must be callable, but got {short_repr(constraints_func)}")
        self._seed = None if seed is None else int(seed)
        self._constraints_func = constraints_func
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._search_space = IntersectionSearchSpace()
        self._lock = threading.RLock()
        self._checked: set[Any] = set()  # (space, objectives) the hpo sampler accepted

    # -- description ----------------------------------------------------------------
    @property
    def hpo_sampler(self) -> Sampler:
        """The wrapped hpo sampler."""
        return self._sampler

    def __repr__(self) -> str:
        return f"HpoSampler({self._sampler!r}, seed={self._seed!r})"

    def reseed_rng(self) -> None:
        """Draw a fresh seed (Optuna calls this in each worker of ``n_jobs > 1``)."""
        with self._lock:
            self._random.reseed_rng()
            self._seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] % _SEED_LIMIT)

    # -- conversions ----------------------------------------------------------------------
    @staticmethod
    def _objectives(study: optuna.Study) -> tuple[Objective, ...]:
        return tuple(Objective(f"value_{i}", Direction(d.name.lower())) for i, d in enumerate(study.directions))

    def _check(self, space: SearchSpace, objectives: tuple[Objective, ...]) -> None:
        """The hpo sampler's ``check_space`` once per (space, objectives): ``cmaes`` refuses several objectives."""
        key = (space, objectives)
        if key not in self._checked:
            self._sampler.check_space(space, objectives)
            self._checked.add(key)

    def _observations(self, study: optuna.Study, trial: Any, names: Sequence[str], space: SearchSpace,
                      search_space: Mapping[str, Any], objectives: tuple[Objective, ...]
                      ) -> tuple[list[FrozenTrial], list[dict[str, Any]], tuple[Constraint, ...]]:
        """hpo's history (COMPLETE with finite values, PRUNED), pending configurations and constraints."""
        from optuna.trial import TrialState as OTS

        history: list[FrozenTrial] = []
        pending: list[dict[str, Any]] = []
        constraints: tuple[Constraint, ...] = ()
        for t in study.get_trials(deepcopy=False, states=(OTS.COMPLETE, OTS.PRUNED, OTS.RUNNING)):
            if t.number == trial.number or any(n not in t.params or t.distributions[n] != search_space[n]
                                               for n in names):
                continue
            try:
                params = space.validate({n: t.params[n] for n in names})
            except ValueError:  # a value outside the hpo definition (SpaceError): not this space's trial
                continue
            if t.state is OTS.RUNNING:
                pending.append(params)
                continue
            values = cvals = None
            state = TrialState.PRUNED
            if t.state is OTS.COMPLETE:
                if t.values is None or not all(math.isfinite(v) for v in t.values):
                    continue
                values, state = {o.name: float(v) for o, v in zip(objectives, t.values)}, TrialState.COMPLETE
            found = t.system_attrs.get(_CONSTRAINTS_KEY) if self._constraints_func is not None else None
            if found is not None:
                if not constraints:
                    constraints = tuple(Constraint(f"constraint_{i}", "<=", 0.0) for i in range(len(found)))
                cvals = {c.name: float(v) for c, v in zip(constraints, found)}
            history.append(FrozenTrial(number=t.number, state=state, params=params, values=values,
                                       constraint_values=cvals))
        return history, pending, constraints

    # -- Optuna's sampler interface ------------------------------------------------------------
    def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> dict[str, Any]:
        """Optuna's intersection search space without its single-valued distributions."""
        with self._lock:
            return {n: d for n, d in self._search_space.calculate(study).items() if not d.single()}

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        """The hpo sampler's suggestion over ``search_space`` for ``trial`` (see the module docstring)."""
        objectives = self._objectives(study)
        with self._lock:
            if not search_space:
                self._check(SearchSpace({"x": Float(0.0, 1.0)}), objectives)
                return {}
            names = list(search_space)
            params = {n: param_from_distribution(d) for n, d in search_space.items()}
            space = SearchSpace(params)
            self._check(space, objectives)
            if all(isinstance(p, Fixed) for p in params.values()):
                return {n: _to_optuna_value(params[n], search_space[n], None) for n in names}
            history, pending, constraints = self._observations(study, trial, names, space, search_space, objectives)
            context = SamplingContext(space=space, objectives=objectives, constraints=constraints, history=history,
                                      pending=pending, number=trial.number, seed=self._seed,
                                      rng=trial_rng(self._seed, trial.number))
            suggestion = dict(Suggestion.of(self._sampler.suggest(context)))
        return {n: _to_optuna_value(params[n], search_space[n], suggestion[n]) for n in names}

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str, param_distribution: Any) -> Any:
        """Optuna's ``RandomSampler`` (seeded with ``seed``) for a parameter outside the relative space."""
        objectives = self._objectives(study)
        if len(objectives) > 1:
            with self._lock:
                self._check(SearchSpace({param_name: param_from_distribution(param_distribution)}), objectives)
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: Any) -> None:
        self._random.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: Any, state: Any, values: Sequence[float] | None) -> None:
        """Store ``constraints_func``'s values in the trial's system attrs (as Optuna's samplers do)."""
        if self._constraints_func is not None:
            from optuna.samplers._base import _process_constraints_after_trial

            _process_constraints_after_trial(self._constraints_func, study, trial, state)
        self._random.after_trial(study, trial, state, values)

"""Define-by-run trials: ``trial.suggest_float / suggest_int / suggest_categorical`` (Optuna's signatures).

An objective written for Optuna runs unchanged in an hpo study::

    def objective(trial):
        x = trial.suggest_float("x", 1e-5, 1e-1, log=True)
        if trial.suggest_categorical("kind", ["a", "b"]) == "a":
            return x + trial.suggest_int("n", 1, 8)
        return x

    study = hpo.create_study(sampler="gp", seed=0)   # no space=: the space grows
    study.optimize(objective, n_trials=30)

Two kinds of study:

- **A declared space** (``create_study(space=...)``): the sampler suggests the whole configuration when
  the trial starts, as always; each ``suggest_*`` call returns the trial's value after checking the call
  against the declared parameter. A parameter the space does not have, a definition that differs
  (bounds, ``log``, ``step``, choices) or a parameter that is inactive in this trial under the space's
  conditions raises :class:`~hpo.errors.DefinitionMismatchError`, naming the parameter and both
  definitions.
- **No space** (a define-by-run study, ``settings["define_by_run"]``): the study's space grows as
  parameters are first suggested; each new definition is written to the study's stored space (so
  ``load_study``, the CLI and the dashboard see it) in one transaction (:func:`grow_stored_space`), and
  a parameter suggested again with another definition raises :class:`~hpo.errors.DefinitionMismatchError`
  (the stored space holds one definition per name). Conditional parameters come from the objective's
  control flow: a trial's ``params`` hold the parameters it suggested, the others are inactive in it
  (absent, as an inactive parameter of a declared space is).

Sampling in a define-by-run study: when a trial starts, the study's sampler suggests a configuration
of the **intersection space**, the parameters every COMPLETE trial so far suggested (as Optuna's
``IntersectionSearchSpace``), learning from the finished trials that have all of them (projected onto
it) and treating the RUNNING ones that have them as pending. A suggested parameter inside that space
gets the sampler's value; one outside it (the first trials, conditional parameters) gets a **random**
value from its definition, drawn from ``trial_rng(seed, number, salt)`` with a salt derived from the
parameter's name, so a seeded study replays its trials. Each value is written to the trial's stored
params when it is suggested.
"""

from __future__ import annotations

import dataclasses
import threading
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpo.errors import DefinitionMismatchError, SpaceError
from hpo.params import Categorical, Fixed, Float, Int, Param, param_from_dict
from hpo.records import FrozenTrial, TrialState
from hpo.samplers.base import SamplingContext, Suggestion, trial_rng
from hpo.space import SearchSpace
from hpo.validators import is_number

if TYPE_CHECKING:
    from hpo.study import Study
    from hpo.trial import Trial

__all__ = ["DefineByRun", "RELATIVE_ATTR", "categorical_param", "float_param", "int_param", "suggest_value"]

#: The trial attr holding the sampler's values of the intersection space (set when the trial starts).
RELATIVE_ATTR = "relative_params"


def float_param(low: Any, high: Any, *, step: Any = None, log: bool = False) -> Param:
    """The Param of ``suggest_float(name, low, high, step=step, log=log)``; a single value
    (``low == high``, or a ``step`` wider than the range, as Optuna) is :class:`~hpo.params.Fixed`."""
    if is_number(low) and is_number(high) and (low == high or (is_number(step) and 0 < high - low < step)):
        return Fixed(float(low))
    return Float(low, high, log=log, step=step)


def int_param(low: Any, high: Any, *, step: Any = 1, log: bool = False) -> Param:
    """The Param of ``suggest_int(name, low, high, step=step, log=log)`` (a single value is Fixed)."""
    if is_number(low) and is_number(high) and (low == high or (is_number(step) and 0 < high - low < step)):
        return Fixed(int(low))
    return Int(low, high, log=log, step=step)


def categorical_param(choices: Sequence[Any]) -> Param:
    """The Param of ``suggest_categorical(name, choices)``."""
    return Categorical(tuple(choices) if isinstance(choices, (list, tuple)) else choices)  # type: ignore[arg-type]


def name_salt(name: str) -> int:
    """The ``trial_rng`` salt of a parameter drawn at random in a define-by-run trial."""
    return 0x0DB0_0000 + zlib.crc32(name.encode("utf-8"))


def _bare(param: Param) -> Param:
    """``param`` without its condition (a suggest call states a definition, never a condition)."""
    return dataclasses.replace(param, active_if=None) if param.active_if is not None else param


def _mismatch(name: str, stored: Param, requested: Param, what: str) -> DefinitionMismatchError:
    return DefinitionMismatchError(f"suggest({name!r}): the call defines {requested!r}, but {what} defines "
                                   f"{stored!r}; a parameter keeps one definition in a study")


def suggest_value(trial: Trial, name: str, param: Param) -> Any:
    """The value of ``trial.suggest_*(name, ...)`` defining ``param`` (see the module docstring)."""
    study = trial.study
    if not isinstance(name, str) or not name:
        raise SpaceError(f"suggest: the parameter name must be a non-empty string, but got {name!r:.80}")
    dbr: DefineByRun | None = getattr(study, "_dbr", None)
    if dbr is None:  # a declared space: the trial's configuration was suggested when it started
        if name not in study.space:
            raise DefinitionMismatchError(f"suggest({name!r}): the study's declared space has no parameter "
                                          f"{name!r} (the call defines {param!r}); declared: "
                                          f"{list(study.space.names)[:20]!r}")
        declared = study.space[name]
        if _bare(declared) != param:
            raise _mismatch(name, declared, param, "the study's declared space")
        if name not in trial.params:
            raise DefinitionMismatchError(f"suggest({name!r}): the parameter is inactive in trial {trial.number} "
                                          f"under the declared space's condition active_if={declared.active_if!r} "
                                          f"(the call defines {param!r}); active: {sorted(trial.params)[:20]!r}")
        return trial.params[name]
    dbr.define(name, param)
    if name in trial.params:  # suggested before in this trial, or an enqueued value
        return param.validate(trial.params[name], name)
    relative = trial.attrs.get(RELATIVE_ATTR) or {}
    if name in relative:
        value = param.validate(relative[name], name)
    else:  # outside the intersection space: the documented random fallback
        value = param.sample(trial_rng(study.seed, trial.number, name_salt(name)))
    from hpo.store.growth import add_trial_param, sql_store

    add_trial_param(sql_store(study.store), study.study_id, trial.number, name, value)
    trial.params[name] = value
    return value


class DefineByRun:
    """A define-by-run study's side of sampling: its grown space and its intersection space.

    The intersection space and the finished trials projected onto it are kept incrementally (the
    projected history only grows while the intersection stays the same, as samplers that mirror the
    history expect); when the intersection shrinks they are rebuilt, with a new space object.
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self.lock = threading.RLock()
        self._seen = 0  # entries of the study's history folded into the intersection
        self._names: set[str] | None = None  # params of every COMPLETE trial so far (None: none yet)
        self._space: SearchSpace | None = None  # the intersection space handed to the sampler
        self._projected: list[FrozenTrial] = []
        self._projected_upto = 0
        self._checked: SearchSpace | None = None
        self._old_spaces: list[SearchSpace] = []

    # -- the grown space ---------------------------------------------------------------------
    def define(self, name: str, param: Param) -> None:
        """Add ``param`` to the study's space (stored first), or check it against the definition there."""
        study = self.study
        with self.lock:
            if name not in study.space:
                from hpo.store.growth import grow_space, sql_store

                stored = grow_space(sql_store(study.store), study.study_id, name, param.to_dict())
                self._adopt(stored)
            stored_param = study.space[name]
            if stored_param != param:
                raise _mismatch(name, stored_param, param, "the study's space (grown from earlier suggest calls)")

    def _adopt(self, stored: Mapping[str, Any]) -> None:
        """Take the stored space (another worker may have grown it too)."""
        study = self.study
        space = study.space
        for n, d in stored.items():
            if n not in space:
                space = space.with_param(n, param_from_dict(d, n))
        study.space = space
        study.record = dataclasses.replace(study.record, space=space.to_dict())

    # -- the intersection space ----------------------------------------------------------------
    def _intersection(self, history: Sequence[FrozenTrial]) -> SearchSpace | None:
        for t in history[self._seen:]:
            if t.state is TrialState.COMPLETE and t.values:
                self._names = set(t.params) if self._names is None else self._names & set(t.params)
        self._seen = len(history)
        names = [n for n in self.study.space.names if self._names and n in self._names]
        if any(n not in self.study.space for n in self._names or ()):  # grown elsewhere: read the stored space
            self._adopt(self.study.store.get_study(self.study.name).space)
            names = [n for n in self.study.space.names if self._names and n in self._names]
        if not names:
            return None
        if self._space is None or list(self._space.names) != names:
            if self._space is not None:  # kept alive: samplers tell spaces apart by id (the mirror of "tpe")
                self._old_spaces.append(self._space)
            self._space = SearchSpace({n: self.study.space[n] for n in names})
            self._projected, self._projected_upto = [], 0
        return self._space

    def _project(self, history: Sequence[FrozenTrial], space: SearchSpace) -> list[FrozenTrial]:
        names = space.names
        for t in history[self._projected_upto:]:
            if all(n in t.params for n in names):
                self._projected.append(dataclasses.replace(t, params={n: t.params[n] for n in names}))
        self._projected_upto = len(history)
        return self._projected

    def suggest(self, number: int) -> dict[str, Any]:
        """The sampler's configuration of the intersection space for trial ``number`` ({} before any
        trial completed); stored in the trial's ``attrs[RELATIVE_ATTR]``."""
        study = self.study
        with self.lock:
            history = study._refresh()
            space = self._intersection(history)
            if space is None:
                return {}
            sampler = study.sampler
            if self._checked is not space:
                sampler.check_space(space, study.objectives)
                self._checked = space
            pending: list[dict[str, Any]] = []
            if sampler.uses_pending:
                running = study.store.get_trials(study.study_id, [TrialState.RUNNING, TrialState.WAITING])
                pending = [{n: t.params[n] for n in space.names} for t in running
                           if all(n in t.params for n in space.names)]
            context = SamplingContext(
                space=space, objectives=study.objectives, constraints=study.constraints,
                history=self._project(history, space) if sampler.uses_history else [], pending=pending,
                number=number, seed=study.seed, rng=trial_rng(study.seed, number), fidelity=study.fidelity,
            )
            return space.validate(dict(Suggestion.of(sampler.suggest(context))))

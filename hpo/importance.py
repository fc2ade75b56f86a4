"""Hyperparameter importance with Optuna's evaluators, over an hpo study.

    import hpo.importance
    hpo.importance.get_param_importances(study)                    # fANOVA, normalised to sum to 1
    hpo.importance.get_param_importances(study, evaluator="ped_anova")

The study's feasible COMPLETE trials are copied into an in-memory Optuna study
(with the Optuna adapter's conversion: ``OptunaSampler._distributions`` and the
same finished-trial objects the adapter's mirror holds), and Optuna's
``get_param_importances`` runs on it. Conditional parameters that are not active
in every trial are left out (Optuna's intersection search space). The dashboard's
importance chart uses :func:`frame_importances`, the same computation over its
trial frame.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, NoCompletedTrialsError

if TYPE_CHECKING:
    import pandas as pd

    from hpo.records import FrozenTrial, Objective, StudyRecord
    from hpo.space import SearchSpace
    from hpo.study import Study

__all__ = ["get_param_importances", "frame_importances", "EVALUATORS"]

#: Evaluator names -> Optuna evaluator class names (``optuna.importance``).
EVALUATORS = {
    "fanova": "FanovaImportanceEvaluator",
    "ped_anova": "PedAnovaImportanceEvaluator",
    "mean_decrease_impurity": "MeanDecreaseImpurityImportanceEvaluator",
}


def _evaluator(evaluator: Any, seed: int) -> Any:
    import optuna.importance as oi

    if evaluator is None:
        evaluator = "fanova"
    if isinstance(evaluator, str):
        if evaluator not in EVALUATORS:
            raise ConfigError(f"evaluator: must be one of {sorted(EVALUATORS)} or an Optuna importance evaluator, "
                              f"but got {evaluator!r}")
        cls = getattr(oi, EVALUATORS[evaluator])
        return cls(seed=seed) if evaluator != "ped_anova" else cls()
    if not isinstance(evaluator, oi.BaseImportanceEvaluator):
        raise ConfigError(f"evaluator: must be one of {sorted(EVALUATORS)} or an optuna.importance evaluator, "
                          f"but got {type(evaluator).__name__}")
    return evaluator


def _coerce(p: Any, value: Any) -> Any:
    from hpo.space import Float, Int

    if isinstance(p, Int):
        return int(value)
    if isinstance(p, Float):
        return float(value)
    return value.item() if hasattr(value, "item") else value


def _optuna_study(space: SearchSpace, direction: str, rows: Iterable[tuple[Mapping[str, Any], float]]) -> Any:
    """An in-memory Optuna study holding one COMPLETE trial per ``(params, value)`` row."""
    import optuna
    from optuna.trial import TrialState as OTS

    from hpo.samplers.optuna_adapter import OptunaSampler, _finished_trial, _quiet

    dists = OptunaSampler._distributions(space)
    now = dt.datetime.now()
    shared: dict[tuple[str, ...], dict[str, Any]] = {}
    trials = []
    for params, value in rows:
        active = {k: _coerce(space[k], v) for k, v in params.items()
                  if k in dists and v is not None and not (isinstance(v, float) and math.isnan(v))}
        names = tuple(active)
        sub = shared.setdefault(names, {k: dists[k] for k in names})
        trials.append(_finished_trial(active, sub, [float(value)], OTS.COMPLETE, {}, now))
    with _quiet():
        study = optuna.create_study(direction=direction)
        study.add_trials(trials)
    return study


def _run(space: SearchSpace, direction: str, rows: list[tuple[Mapping[str, Any], float]], evaluator: Any,
         params: Sequence[str] | None, seed: int) -> dict[str, float]:
    import optuna

    from hpo.samplers.optuna_adapter import _quiet

    if params is not None:
        unknown = [p for p in params if p not in space]
        if unknown:
            raise ConfigError(f"params: every name must be a parameter of the space {list(space.names)}, "
                              f"but got {unknown}")
    if len(rows) < 2:
        raise NoCompletedTrialsError(f"get_param_importances: needs at least 2 feasible completed trials, "
                                     f"but the study has {len(rows)}")
    study = _optuna_study(space, direction, rows)
    with _quiet():
        result = optuna.importance.get_param_importances(study, evaluator=_evaluator(evaluator, seed),
                                                         params=None if params is None else list(params))
    return {k: float(v) for k, v in result.items()}


def get_param_importances(study: Study, evaluator: Any = None, params: Sequence[str] | None = None,
                          target: Callable[[FrozenTrial], float] | None = None, objective: str | None = None,
                          seed: int = 0) -> dict[str, float]:
    """Importance of each parameter for the study's objective, highest first (normalised to sum to 1).

    Args:
        study: an hpo study; its feasible COMPLETE trials are used.
        evaluator: ``"fanova"`` (default), ``"ped_anova"``, ``"mean_decrease_impurity"`` or an
            ``optuna.importance`` evaluator object.
        params: the parameters to assess (default: those active in every trial).
        target: a function of an hpo ``FrozenTrial`` giving the value to explain (Optuna's ``target``);
            needed, or ``objective``, when the study has several objectives.
        objective: the objective to explain by name (default: the only one).
        seed: the evaluator's seed (fANOVA's forest), so repeated calls agree.

    Raises:
        ConfigError: an unknown objective, parameter or evaluator, or several objectives and no target.
        NoCompletedTrialsError: fewer than 2 feasible completed trials.
    """
    names = [o.name for o in study.objectives]
    if target is None:
        if objective is None:
            if len(names) > 1:
                raise ConfigError(f"target: the study has several objectives {names}: pass objective=NAME or "
                                  f"target=lambda t: t.values[NAME]")
            objective = names[0]
        if objective not in names:
            raise ConfigError(f"objective: must be one of {names}, but got {objective!r}")
        obj = study.objectives[names.index(objective)]
        direction = obj.direction.value

        def value(t: FrozenTrial) -> float:
            return t.values[obj.name]  # type: ignore[index]
    else:
        direction, value = "minimize", target
    done = [t for t in study.trials
            if t.state.value == "COMPLETE" and t.values and t.is_feasible(study.constraints)]
    rows = [(t.params, value(t)) for t in done]
    return _run(study.space, direction, rows, evaluator, params, seed)


def frame_importances(done: pd.DataFrame, record: StudyRecord, objective: Objective, evaluator: Any = None,
                      seed: int = 0) -> dict[str, float]:
    """:func:`get_param_importances` over a trial frame (``hpo.results.trials_frame``'s columns), as the
    dashboard holds it: ``params_NAME`` and ``values_NAME`` columns of completed, feasible trials."""
    from hpo.space import SearchSpace

    space = SearchSpace.from_dict(record.space)
    cols = {n: f"params_{n}" for n in space.names if f"params_{n}" in done.columns}
    values = done[f"values_{objective.name}"].tolist()
    records = done[list(cols.values())].to_dict("records")
    rows = [({n: r[c] for n, c in cols.items()}, v) for r, v in zip(records, values)]
    return _run(space, objective.direction.value, rows, evaluator, None, seed)

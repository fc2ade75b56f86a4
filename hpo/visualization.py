"""Plotly figures of a study under Optuna's plot names (``optuna.visualization``).

    import hpo.visualization as vis
    vis.plot_optimization_history(study).show()
    vis.plot_parallel_coordinate(study, params=["lr", "width"])

Each function takes an :class:`hpo.Study` and returns a ``plotly.graph_objects.Figure``. The figures are
the dashboard's own (``hpo.dashboard.figures``): one builder per chart, used by both. Plotly comes with the
``dashboard`` extra (``pip install 'hpo-platform[dashboard]'``); it is imported when a function is called.

Optuna-like keywords: ``params=`` (the parameters to show), ``target=`` (a function of an hpo
``FrozenTrial`` giving the value to plot instead of the objective) and ``target_name=`` (its label);
``objective=`` picks an objective by name in a multi-objective study.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from hpo.records import FrozenTrial, Objective, StudyRecord
    from hpo.study import Study

__all__ = [
    "plot_optimization_history",
    "plot_param_importances",
    "plot_parallel_coordinate",
    "plot_slice",
    "plot_contour",
    "plot_pareto_front",
    "plot_intermediate_values",
    "plot_timeline",
]


def _figures() -> Any:
    try:
        import plotly  # noqa: F401
    except ImportError as exc:
        raise ConfigError("hpo.visualization needs Plotly, which is not installed: "
                          "pip install 'hpo-platform[dashboard]'") from exc
    from hpo.dashboard import figures

    return figures


def _objective(study: Study, objective: str | None) -> Objective:
    names = [o.name for o in study.objectives]
    if objective is None:
        if len(names) > 1:
            raise ConfigError(f"objective: the study has several objectives {names}: pass objective=NAME "
                              f"(or target=...)")
        return study.objectives[0]
    if objective not in names:
        raise ConfigError(f"objective: must be one of {names}, but got {objective!r}")
    return study.objectives[names.index(objective)]


def _check_params(study: Study, params: Sequence[str] | None) -> None:
    if params is None:
        return
    unknown = [p for p in params if p not in study.space]
    if unknown:
        raise ConfigError(f"params: every name must be a parameter of the space {list(study.space.names)}, "
                          f"but got {unknown}")


def _prepare(study: Study, target: Callable[[FrozenTrial], float] | None, target_name: str | None,
             objective: str | None) -> tuple[pd.DataFrame, pd.DataFrame, StudyRecord, Objective]:
    """The trial frame, its feasible completed rows, the record and the objective to plot (a target becomes a
    ``values_<target_name>`` column and a minimised objective)."""
    from hpo.dashboard.analysis import completed
    from hpo.records import Direction
    from hpo.records import Objective as Obj

    frame = study.trials_dataframe()
    record = study.record
    if target is None:
        obj = _objective(study, objective)
        if target_name is not None:
            frame = frame.rename(columns={f"values_{obj.name}": f"values_{target_name}"})
            record = dataclasses.replace(record, objectives=tuple(
                Obj(target_name, o.direction) if o.name == obj.name else o for o in record.objectives))
            obj = Obj(target_name, obj.direction)
        return frame, completed(frame, record), record, obj
    name = target_name or "target"
    done = completed(frame, record)
    by_number = {t.number: t for t in study.trials}
    done = done.assign(**{f"values_{name}": [float(target(by_number[int(n)])) for n in done["number"]]})
    obj = Obj(name, Direction.MINIMIZE)
    return frame, done, dataclasses.replace(record, objectives=(obj,)), obj


def plot_optimization_history(study: Study, *, target: Callable[[FrozenTrial], float] | None = None,
                              target_name: str | None = None, objective: str | None = None) -> Any:
    """Each completed trial's value and the best value so far (Optuna's ``plot_optimization_history``)."""
    figures = _figures()
    _, done, _, obj = _prepare(study, target, target_name, objective)
    return figures.history_figure(done, obj)


def plot_param_importances(study: Study, *, evaluator: Any = None, params: Sequence[str] | None = None,
                           target: Callable[[FrozenTrial], float] | None = None, target_name: str | None = None,
                           objective: str | None = None) -> Any:
    """Bars of :func:`hpo.importance.get_param_importances` (fANOVA by default)."""
    import pandas as pd

    from hpo.importance import get_param_importances

    figures = _figures()
    obj = _objective(study, objective) if target is None else None
    imp = get_param_importances(study, evaluator=evaluator, params=params, target=target,
                                objective=None if obj is None else obj.name)
    from hpo.records import Direction
    from hpo.records import Objective as Obj

    label = target_name or (obj.name if obj is not None else "target")
    return figures.importance_figure(pd.Series(imp, dtype=float), Obj(label, Direction.MINIMIZE))


def plot_parallel_coordinate(study: Study, *, params: Sequence[str] | None = None,
                             target: Callable[[FrozenTrial], float] | None = None, target_name: str | None = None,
                             objective: str | None = None) -> Any:
    """Parallel coordinates; trials with an inactive conditional parameter sit on its ``inactive`` level."""
    figures = _figures()
    _check_params(study, params)
    _, done, record, obj = _prepare(study, target, target_name, objective)
    return figures.parallel_figure(done, record, obj, params=params)


def plot_slice(study: Study, *, params: Sequence[str] | None = None,
               target: Callable[[FrozenTrial], float] | None = None, target_name: str | None = None,
               objective: str | None = None) -> Any:
    """The objective against each parameter, one panel per parameter."""
    figures = _figures()
    _check_params(study, params)
    _, done, record, obj = _prepare(study, target, target_name, objective)
    return figures.slice_figure(done, record, obj, params=params)


def plot_contour(study: Study, *, params: Sequence[str] | None = None,
                 target: Callable[[FrozenTrial], float] | None = None, target_name: str | None = None,
                 objective: str | None = None) -> Any:
    """The objective over pairs of parameters (default: the first two), interpolated, with the trials."""
    figures = _figures()
    _check_params(study, params)
    _, done, record, obj = _prepare(study, target, target_name, objective)
    return figures.contour_figure(done, record, obj, params=params)


def plot_pareto_front(study: Study, *, objectives: Sequence[str] | None = None) -> Any:
    """The feasible completed trials in objective space with the Pareto front (2 or 3 objectives)."""
    from hpo.dashboard.analysis import completed, pareto_mask

    figures = _figures()
    names = [o.name for o in study.objectives]
    chosen = list(objectives) if objectives is not None else names[:3]
    if len(names) < 2 or not 2 <= len(chosen) <= 3 or len(set(chosen)) != len(chosen) \
            or any(n not in names for n in chosen):
        raise ConfigError(f"objectives: needs 2 or 3 distinct objectives of the study {names}, but got {chosen}")
    objs = tuple(study.objectives[names.index(n)] for n in chosen)
    done = completed(study.trials_dataframe(), study.record)
    return figures.pareto_figure(done, pareto_mask(done, objs), objs)


def plot_intermediate_values(study: Study, *, metric: str | None = None) -> Any:
    """Every trial's reported values by step (``trial.report``), coloured by trial state."""
    import pandas as pd

    figures = _figures()
    frame = study.trials_dataframe()
    rows = study.store.get_reports(study.study_id)
    metric = metric or study.objectives[0].name
    curves = pd.DataFrame({"number": [r.trial_number for r in rows], "step": [r.step for r in rows],
                           "value": [r.values.get(metric) for r in rows]}).dropna(subset=["value"])
    curves = curves.join(frame.set_index("number")[["state"]], on="number")
    step_label = (study.record.fidelity or {}).get("name", "step")
    return figures.curves_figure(curves, metric, "state", step_label)


def plot_timeline(study: Study) -> Any:
    """One bar per trial from its start to its end, coloured by state."""
    return _figures().timeline_figure(study.trials_dataframe())

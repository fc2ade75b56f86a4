"""Result queries over trials: Pareto dominance and the trials table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hpo.records import TrialState

if TYPE_CHECKING:
    import pandas as pd

    from hpo.study import Study

__all__ = ["non_dominated", "trials_dataframe"]


def non_dominated(losses: Sequence[Sequence[float]]) -> np.ndarray:
    """Mask of the points no other point dominates (all objectives minimised).

    Args:
        losses: shape ``(n_points, n_objectives)``.

    Returns:
        bool array of shape ``(n_points,)``. Duplicated points are all kept.
    """
    y = np.asarray(losses, dtype=float)
    if y.ndim != 2:
        raise ValueError(f"non_dominated: expected shape (n_points, n_objectives), but got {y.shape}")
    keep = np.ones(len(y), dtype=bool)
    for i in range(len(y)):
        if not keep[i]:
            continue
        dominated = np.all(y[i] <= y, axis=1) & np.any(y[i] < y, axis=1)
        keep &= ~dominated
    return keep


def trials_dataframe(study: Study) -> pd.DataFrame:
    """One row per trial: number, state, ``values_*``, ``constraints_*``, ``feasible``, ``params_*``, times, error.

    ``feasible`` (only when the study has constraints): whether a COMPLETE trial satisfies
    every constraint (None for trials that are not COMPLETE).
    """
    import pandas as pd

    rows = []
    for t in study.trials:
        row: dict[str, object] = {"number": t.number, "state": t.state.value}
        for o in study.objectives:
            row[f"values_{o.name}"] = (t.values or {}).get(o.name)
        for c in study.constraints:
            row[f"constraints_{c.name}"] = (t.constraint_values or {}).get(c.name)
        if study.constraints:
            row["feasible"] = t.is_feasible(study.constraints) if t.state is TrialState.COMPLETE else None
        for name in study.space.names:
            row[f"params_{name}"] = t.params.get(name)
        row["datetime_start"] = t.started_at
        row["datetime_complete"] = t.finished_at
        row["duration_s"] = t.duration.total_seconds() if t.duration is not None else None
        row["worker_id"] = t.worker_id
        row["error"] = t.error
        rows.append(row)
    columns = (
        ["number", "state"]
        + [f"values_{o.name}" for o in study.objectives]
        + [f"constraints_{c.name}" for c in study.constraints]
        + (["feasible"] if study.constraints else [])
        + [f"params_{n}" for n in study.space.names]
        + ["datetime_start", "datetime_complete", "duration_s", "worker_id", "error"]
    )
    return pd.DataFrame(rows, columns=columns)

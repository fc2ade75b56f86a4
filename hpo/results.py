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


#: Most (candidate, front point) pairs compared at once by the blocked filter (bool cells per column).
_BLOCK_CELLS = 1 << 22


def non_dominated(losses: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Mask of the points no other point dominates (all objectives minimised).

    ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in one.
    Exact duplicates do not dominate each other (all copies are kept); a point
    with a NaN loss is never dominated and dominates nothing (every comparison
    with NaN is false).

    The points are sorted lexicographically (a point can only be dominated by
    one before it) and duplicates collapsed; then, with ``n`` points:

    * 1 objective: the minimum (all its copies);
    * 2 objectives: a point is kept when its second loss is strictly below the
      running minimum of those before it, O(n log n);
    * 3 or more: a blocked, vectorised filter, each block of candidates checked
      against the front found so far and within itself; O(n * front size) time,
      memory bounded by ``_BLOCK_CELLS`` per objective.

    Args:
        losses: shape ``(n_points, n_objectives)``.

    Returns:
        bool array of shape ``(n_points,)``.

    Raises:
        ValueError: ``losses`` is not 2-D (an empty sequence is zero points).
    """
    y = np.asarray(losses, dtype=float)
    if y.ndim == 1 and y.size == 0:  # ``[]``: no points
        y = y.reshape(0, 0)
    if y.ndim != 2:
        raise ValueError(f"non_dominated: expected shape (n_points, n_objectives), but got {y.shape}")
    keep = np.ones(len(y), dtype=bool)
    if y.size == 0:
        return keep
    rows = np.flatnonzero(~np.isnan(y).any(axis=1))  # NaN rows stay kept
    if len(rows) == 0:
        return keep
    z = y[rows]
    order = np.lexsort(z.T[::-1])  # first objective, then the second, ...
    s = z[order]  # (n_rows, k), lexicographically sorted
    first = np.ones(len(s), dtype=bool)  # first copy of each distinct row
    first[1:] = np.any(s[1:] != s[:-1], axis=1)
    group = np.cumsum(first) - 1  # (n_rows,) index of each row's distinct row
    on_front = np.empty(len(s), dtype=bool)
    on_front[order] = _distinct_front(s[first])[group]
    keep[rows] = on_front
    return keep


def _distinct_front(u: np.ndarray) -> np.ndarray:
    """Front mask of distinct, lexicographically increasing rows ``u`` (n, k), without NaN.

    Row ``i`` is dominated iff an earlier row is ``<=`` it in every objective (the
    rows are distinct, so one inequality is strict); the first objective holds
    for every earlier row, so only the others are compared.
    """
    n, k = u.shape
    keep = np.zeros(n, dtype=bool)
    keep[0] = True
    if k == 1 or n == 1:
        return keep
    if k == 2:
        b = u[:, 1]
        keep[1:] = b[1:] < np.minimum.accumulate(b)[:-1]
        return keep
    cols = np.ascontiguousarray(u[:, 1:].T)  # (k - 1, n)
    front = np.empty((k - 1, 0))  # (k - 1, n_front) the rows kept so far
    start = 0
    while start < n:
        m = front.shape[1]
        size = max(64, min(2048, _BLOCK_CELLS // max(m, 1)))
        block = cols[:, start:start + size]  # (k - 1, b)
        b = block.shape[1]
        ok = np.ones(b, dtype=bool)
        if m:
            hit = block[0][:, None] >= front[0][None, :]  # (b, m): the front row is <= the candidate
            buf = np.empty_like(hit)
            for c in range(1, k - 1):
                np.greater_equal(block[c][:, None], front[c][None, :], out=buf)
                hit &= buf
            ok = ~hit.any(axis=1)
        hit = np.tri(b, k=-1, dtype=bool)  # (b, b): row j before row i within the block
        for c in range(k - 1):
            hit &= block[c][:, None] >= block[c][None, :]
        ok &= ~hit.any(axis=1)
        keep[start:start + b] = ok
        front = np.concatenate([front, block[:, ok]], axis=1)
        start += b
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

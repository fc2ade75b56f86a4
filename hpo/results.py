"""Result queries over trials: Pareto dominance and the trials table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hpo.records import Constraint, TrialState
from hpo.store.base import TrialColumns, TrialFields, columns_of

if TYPE_CHECKING:
    import pandas as pd

    from hpo.study import Study

__all__ = ["non_dominated", "trials_frame", "trial_table_columns", "trials_dataframe"]


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


def trial_table_columns(fields: TrialFields, constrained: bool) -> list[str]:
    """The columns of :func:`trials_frame`, in order."""
    return (
        ["number", "state"]
        + [f"values_{k}" for k in fields.values]
        + [f"constraints_{k}" for k in fields.constraints]
        + (["feasible"] if constrained else [])
        + [f"params_{k}" for k in fields.params]
        + ["datetime_start", "datetime_complete", "duration_s", "worker_id"]
        + list(fields.attrs)
        + ["error"]
    )


def trials_frame(columns: TrialColumns, constraints: Sequence[Constraint] = ()) -> pd.DataFrame:
    """The trials table: one row per trial of ``columns``, in their order (the one definition, used by
    :meth:`hpo.Study.trials_dataframe` and the dashboard).

    Columns (:func:`trial_table_columns`): ``number`` (int), ``state``, ``values_<objective>`` and
    ``constraints_<constraint>`` (floats, NaN where missing), ``feasible`` (only when ``constraints`` are
    given: whether a COMPLETE trial satisfies every one, None for the other trials), ``params_<name>``,
    ``datetime_start`` / ``datetime_complete`` (UTC timestamps), ``duration_s``, ``worker_id``, one
    column per attribute of ``columns.fields.attrs`` (named as the attribute), ``error``.
    """
    import pandas as pd

    fields = columns.fields
    frame: dict[str, pd.Series] = {
        "number": pd.Series(list(columns.number), dtype="int64"),
        "state": pd.Series(list(columns.state), dtype=object),
    }
    for k, col in columns.values.items():
        frame[f"values_{k}"] = pd.to_numeric(pd.Series(list(col), dtype=object), errors="coerce")
    for k, col in columns.constraints.items():
        frame[f"constraints_{k}"] = pd.to_numeric(pd.Series(list(col), dtype=object), errors="coerce")
    if constraints:
        ok = np.ones(len(columns), dtype=bool)
        for c in constraints:
            v = frame[f"constraints_{c.name}"].to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                ok &= np.isfinite(v) & ((v <= c.bound) if c.op == "<=" else (v >= c.bound))
        done = (frame["state"] == TrialState.COMPLETE.value).to_numpy()
        frame["feasible"] = pd.Series(np.where(done, ok.astype(object), None), dtype=object)
    for k, col in columns.params.items():
        frame[f"params_{k}"] = pd.Series(list(col)) if len(col) else pd.Series(dtype=object)
    start = pd.to_datetime(pd.Series(list(columns.started_at), dtype=object), utc=True, format="ISO8601")
    end = pd.to_datetime(pd.Series(list(columns.finished_at), dtype=object), utc=True, format="ISO8601")
    frame["datetime_start"] = start
    frame["datetime_complete"] = end
    frame["duration_s"] = (end - start).dt.total_seconds()
    frame["worker_id"] = pd.Series(list(columns.worker_id), dtype=object)
    for k, col in columns.attrs.items():
        frame[k] = pd.Series(list(col), dtype=object)
    frame["error"] = pd.Series(list(columns.error), dtype=object)
    return pd.DataFrame(frame)[trial_table_columns(fields, bool(constraints))]


def trials_dataframe(study: Study) -> pd.DataFrame:
    """One row per trial, by number: :func:`trials_frame` of every objective, constraint and parameter, and
    a ``user_attrs_<key>`` column per key any trial set with ``trial.set_user_attr`` (as in Optuna; before
    ``error``, None where a trial did not set it)."""
    import pandas as pd

    found = study.trials
    frame = trials_frame(columns_of(found, TrialFields.of(study.record)), study.constraints)
    keys = sorted({k for t in found for k in t.user_attrs})
    at = frame.columns.get_loc("error")
    for i, key in enumerate(keys):
        frame.insert(at + i, f"user_attrs_{key}", pd.Series([t.user_attrs.get(key) for t in found], dtype=object))
    return frame

"""Hypervolume of the feasible Pareto front, and its history over a study's trials.

All objectives are minimised here (losses: values times the objective's sign,
:attr:`hpo.records.Objective.sign`). The hypervolume of a set of losses with
respect to a reference point ``ref`` is the volume of the region that some point
dominates and that dominates ``ref``; points not strictly better than ``ref`` in
every objective add nothing. It is computed with BoTorch's
:class:`~botorch.utils.multi_objective.box_decompositions.dominated.DominatedPartitioning`
(in BoTorch's maximisation convention: losses and reference point negated).

The history is incremental (:class:`HypervolumeTracker`): trials are fed in the
order they finished; a trial that is infeasible, outside the reference box, or
weakly dominated by the current front leaves the front and the hypervolume as
they are (no computation); only a new non-dominated point recomputes the
hypervolume, of the current front (not of all the trials). Trackers are kept in a
small process-wide cache keyed by (store, study, reference point), so a caller
that asks again after new trials finished (the dashboard on each refresh) only
pays for the new trials.

Reference point: given in the objectives' own units and directions (an upper
bound for a minimised objective, a lower bound for a maximised one), or inferred
from the feasible COMPLETE trials as the worst value of each objective plus 10% of
its range (:func:`infer_reference_point`). An inferred point moves when a new
trial is worse than all before it; the history is then recomputed for the new
point. Give a reference point for a history that is fixed across calls.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.errors import ObjectiveError
from hpo.records import Constraint, FrozenTrial, Objective, TrialState

if TYPE_CHECKING:
    from hpo.study import Study

__all__ = [
    "hypervolume",
    "infer_reference_point",
    "HypervolumeTracker",
    "HypervolumeHistory",
    "hypervolume_history",
    "trials_hypervolume_history",
    "losses_hypervolume_history",
]

#: Margin of an inferred reference point, as a share of each objective's range (Ishibuchi et al., 2011).
REF_MARGIN = 0.1
_CACHE_SIZE = 32


def _as_losses(losses: Any, k: int | None = None) -> np.ndarray:
    y = np.asarray(losses, dtype=float)
    if y.ndim == 1 and k is not None and y.size == 0:
        y = y.reshape(0, k)
    if y.ndim != 2 or (k is not None and y.shape[1] != k):
        want = f"(n_points, {k})" if k is not None else "(n_points, n_objectives)"
        raise ValueError(f"hypervolume: expected losses of shape {want}, but got shape {y.shape}")
    return y


def hypervolume(losses: Sequence[Sequence[float]] | np.ndarray, ref_point: Sequence[float] | np.ndarray) -> float:
    """Hypervolume dominated by ``losses`` (shape ``(n_points, k)``, minimised) and bounded by ``ref_point`` (``k``).

    Points not strictly better than ``ref_point`` in every objective contribute nothing;
    duplicated and dominated points are allowed.
    """
    ref = np.asarray(ref_point, dtype=float).reshape(-1)
    y = _as_losses(losses, len(ref))
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"hypervolume: the reference point must be finite, but got {ref.tolist()}")
    y = y[np.all(y < ref, axis=1)]
    if len(y) == 0:
        return 0.0
    if len(ref) == 1:
        return float(ref[0] - y.min())
    import torch
    from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning

    partitioning = DominatedPartitioning(ref_point=-torch.as_tensor(ref, dtype=torch.float64),
                                         Y=-torch.as_tensor(y, dtype=torch.float64))
    return float(partitioning.compute_hypervolume())


def infer_reference_point(losses: Sequence[Sequence[float]] | np.ndarray, margin: float = REF_MARGIN) -> np.ndarray:
    """The worst loss of each objective plus ``margin`` times its range (1 when the range is 0)."""
    y = _as_losses(losses)
    if len(y) == 0:
        raise ValueError("infer_reference_point: needs at least one point")
    worst, best = y.max(axis=0), y.min(axis=0)
    return worst + margin * np.where(worst > best, worst - best, 1.0)


class HypervolumeTracker:
    """The Pareto front inside a fixed reference box and its hypervolume, updated one point at a time.

    Args:
        ref_point: ``k`` losses (minimised) bounding the hypervolume.
    """

    def __init__(self, ref_point: Sequence[float] | np.ndarray) -> None:
        self.ref_point = np.asarray(ref_point, dtype=float).reshape(-1)
        if not np.all(np.isfinite(self.ref_point)):
            raise ValueError(f"HypervolumeTracker: the reference point must be finite, but got {self.ref_point.tolist()}")
        self.front = np.empty((0, len(self.ref_point)))  # (n_front, k)
        self.front_keys: list[int | None] = []  # the key of each front row
        self.hypervolume = 0.0
        self.seen: set[int] = set()

    def add(self, loss: Sequence[float] | np.ndarray, feasible: bool = True, key: int | None = None) -> float:
        """Add one point (``k`` losses); return the hypervolume after it.

        ``key`` (e.g. a trial number) is remembered, so a caller can skip points
        already added. Infeasible points, points outside the reference box and
        points weakly dominated by the front change nothing.
        """
        if key is not None:
            self.seen.add(key)
        p = np.asarray(loss, dtype=float).reshape(-1)
        if p.shape != self.ref_point.shape:
            raise ValueError(f"HypervolumeTracker.add: expected {self.ref_point.shape[0]} losses, but got {p.shape[0]}")
        if not feasible or not np.all(np.isfinite(p)) or not np.all(p < self.ref_point):
            return self.hypervolume
        if len(self.front) and np.any(np.all(self.front <= p, axis=1)):
            return self.hypervolume  # weakly dominated (or a duplicate): same front, same volume
        keep = ~np.all(p <= self.front, axis=1)  # front points p dominates drop out
        self.front = np.vstack([self.front[keep], p])
        self.front_keys = [k for k, kept in zip(self.front_keys, keep) if kept] + [key]
        self.hypervolume = hypervolume(self.front, self.ref_point)
        return self.hypervolume


@dataclass
class HypervolumeHistory:
    """Hypervolume after each COMPLETE trial, in the order the trials finished.

    Attributes:
        ref_point: objective name -> reference value (the objectives' own units).
        numbers: trial numbers, one per COMPLETE trial.
        values: hypervolume of the feasible front after that trial.
        front_numbers: numbers of the trials on the final front (inside the reference box).
    """

    ref_point: dict[str, float]
    numbers: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    front_numbers: list[int] = field(default_factory=list)

    def to_frame(self) -> Any:
        """A DataFrame with columns ``trials`` (COMPLETE trials so far), ``number`` and ``hypervolume``."""
        import pandas as pd

        return pd.DataFrame({"trials": np.arange(1, len(self.values) + 1), "number": self.numbers,
                             "hypervolume": self.values})


class _Entry:
    def __init__(self, ref: np.ndarray) -> None:
        self.tracker = HypervolumeTracker(ref)
        self.numbers: list[int] = []
        self.values: list[float] = []


_TRACKERS: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()


def _reference(objectives: Sequence[Objective], ref_point: Any, losses: np.ndarray) -> np.ndarray:
    names = [o.name for o in objectives]
    if ref_point is None:
        if len(losses) == 0:
            return np.full(len(names), np.nan)
        return infer_reference_point(losses)
    if isinstance(ref_point, Mapping):
        missing, extra = sorted(set(names) - set(ref_point)), sorted(set(ref_point) - set(names))
        if missing or extra:
            raise ObjectiveError(f"ref_point: expected a value for each objective {names}, but got keys "
                                 f"{sorted(ref_point)}")
        values = [ref_point[n] for n in names]
    else:
        values = list(ref_point)
        if len(values) != len(names):
            raise ObjectiveError(f"ref_point: expected {len(names)} values (objectives {names}), but got {values!r}")
    try:
        ref = np.array([float(v) for v in values])
    except (TypeError, ValueError):
        raise ObjectiveError(f"ref_point: expected numbers, but got {values!r}") from None
    if not np.all(np.isfinite(ref)):
        raise ObjectiveError(f"ref_point: values must be finite, but got {ref.tolist()}")
    return ref * np.array([o.sign for o in objectives])


def trials_hypervolume_history(
    trials: Iterable[FrozenTrial],
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint] = (),
    ref_point: Mapping[str, float] | Sequence[float] | None = None,
    cache_key: Any = None,
) -> HypervolumeHistory:
    """Hypervolume history of ``trials`` (see the module docstring).

    Args:
        trials: the study's trials (any states; only COMPLETE ones count).
        objectives: the study's objectives.
        constraints: the study's constraints (infeasible trials add no volume).
        ref_point: objective name -> value, or values in objective order, in the
            objectives' own units; None: inferred (:func:`infer_reference_point`).
        cache_key: identifies the study (e.g. ``(storage url, study id)``); with it,
            the trackers of earlier calls are reused and only new trials are added.
    """
    objectives = tuple(objectives)
    constraints = tuple(constraints)
    signs = np.array([o.sign for o in objectives])
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.values]
    done.sort(key=lambda t: (t.finished_at is None, t.finished_at or 0, t.number))
    losses = np.array([[t.values[o.name] for o in objectives] for t in done], dtype=float).reshape(len(done), len(objectives)) * signs
    feasible = np.array([t.is_feasible(constraints) for t in done], dtype=bool)
    ref = _reference(objectives, ref_point, losses[feasible])
    names = [o.name for o in objectives]
    ref_out = {n: float(v) for n, v in zip(names, ref * signs)}
    if not np.all(np.isfinite(ref)):  # inferred, and no feasible trial yet
        return HypervolumeHistory(ref_out, [t.number for t in done], [0.0] * len(done), [])
    numbers, values, front = losses_hypervolume_history(
        [t.number for t in done], losses, feasible, ref,
        None if cache_key is None else (cache_key, tuple(names), constraints))
    return HypervolumeHistory(ref_out, numbers, values, front)


def losses_hypervolume_history(numbers: Sequence[int], losses: np.ndarray, feasible: Sequence[bool] | np.ndarray,
                               ref_point: Sequence[float] | np.ndarray,
                               cache_key: Any = None) -> tuple[list[int], list[float], list[int]]:
    """Hypervolume after each point, in the given order; the numbers on the final front.

    Args:
        numbers: a distinct key per point (trial numbers), shape ``(n,)``.
        losses: shape ``(n, k)``, minimised.
        feasible: shape ``(n,)``; infeasible points add no volume.
        ref_point: ``k`` losses.
        cache_key: with it, the tracker of an earlier call with the same key and reference
            point is reused: points whose number it has seen are skipped.

    Returns:
        ``(numbers, hypervolumes, front numbers)``, the first two of the same length.
    """
    ref = np.asarray(ref_point, dtype=float).reshape(-1)
    key = None if cache_key is None else (cache_key, tuple(ref.tolist()))
    entry = _TRACKERS.get(key) if key is not None else None
    if entry is None:
        entry = _Entry(ref)
    for number, loss, ok in zip(numbers, np.asarray(losses, dtype=float), feasible):
        if number in entry.tracker.seen:
            continue
        entry.values.append(entry.tracker.add(loss, feasible=bool(ok), key=number))
        entry.numbers.append(number)
    if key is not None:
        _TRACKERS[key] = entry
        _TRACKERS.move_to_end(key)
        while len(_TRACKERS) > _CACHE_SIZE:
            _TRACKERS.popitem(last=False)
    return list(entry.numbers), list(entry.values), sorted(k for k in entry.tracker.front_keys if k is not None)


def hypervolume_history(study: Study, ref_point: Mapping[str, float] | Sequence[float] | None = None) -> HypervolumeHistory:
    """Hypervolume history of a study's feasible Pareto front (incremental, cached per study and reference point).

    Args:
        study: a study with one or more objectives.
        ref_point: objective name -> value (or values in objective order) in the
            objectives' own units; None: the worst feasible value of each objective
            plus 10% of its range.
    """
    store = study.store
    cache_key = (str(getattr(store, "url", id(store))), study.study_id)
    return trials_hypervolume_history(study.trials, study.objectives, study.constraints, ref_point, cache_key)

"""Fit a scaling law for the optimal hyperparameters from runs at several small scales.

Step Law's procedure (its repository's ``fit_tool.py``): group the runs into scale cells (e.g. one per
(N, D)), keep in each cell the runs whose loss is within ``tolerance`` (0.25%) of the cell's best, fit
``ln target = c0 + sum_k c_k ln scale_k`` by least squares over the kept runs, and repeat on bootstrap
resamples of the kept runs. The law's coefficients are the bootstrap means; predictions come with the
bootstrap's 95% interval.

    law = fit_law(df, scale=("N", "D"), targets={"lr": ("N", "D"), "batch": ("D",)}, objective="loss")
    law.predict(N=1e9, D=1e11).values["lr"]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.errors import ExtrapolationWarning, PriorError, short_repr
from hpo.priors.step_law import check_positive
from hpo.validators import is_int

if TYPE_CHECKING:
    import pandas as pd

    from hpo.study import Study

__all__ = ["FittedLaw", "FitPrediction", "fit_law", "optimal_runs"]


@dataclass(frozen=True)
class FitPrediction:
    """A fitted law's predicted optimum at one scale.

    Attributes:
        values: target -> predicted optimum (bootstrap-mean coefficients).
        intervals: target -> (low, high), the bootstrap's ``level`` interval of the prediction.
        inputs: the scale asked about.
        in_range: whether every scale variable lies inside the range of the cells fitted on.
        note: how the law was fitted and, outside its range, that it extrapolates.
    """

    values: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    inputs: dict[str, float]
    in_range: bool
    note: str
    law: str = "fit_law"

    def __getitem__(self, target: str) -> float:
        return self.values[target]


@dataclass(frozen=True)
class FittedLaw:
    """A power law per target, ``target = exp(c0) * prod_k scale_k^c_k``.

    Attributes:
        scale: the scale variables.
        features: target -> the scale variables its law uses.
        coefficients: target -> {"intercept": c0, scale_k: c_k, ...} (means over the bootstrap fits).
        ols: target -> the same, fitted once on all kept runs.
        bootstrap: target -> ``(n_bootstrap, 1 + n_features)`` coefficient samples (intercept first).
        ranges: scale variable -> (min, max) over the cells fitted on.
        n_cells: the number of scale cells.
        n_runs: runs kept (within ``tolerance`` of their cell's best) per target fit.
        tolerance: the relative loss tolerance used.
        resample: what the bootstrap drew (``"runs"`` or ``"cells"``).
    """

    scale: tuple[str, ...]
    features: dict[str, tuple[str, ...]]
    coefficients: dict[str, dict[str, float]]
    ols: dict[str, dict[str, float]]
    bootstrap: dict[str, np.ndarray] = field(repr=False)
    ranges: dict[str, tuple[float, float]]
    n_cells: int
    n_runs: int
    tolerance: float
    resample: str = "runs"

    def interval(self, target: str, coefficient: str, level: float = 0.95) -> tuple[float, float]:
        """The bootstrap ``level`` interval of one coefficient (``"intercept"`` or a scale variable)."""
        names = ("intercept",) + self.features[target]
        if coefficient not in names:
            raise PriorError(f"coefficient: must be one of {list(names)} for target {target!r}, "
                             f"but got {coefficient!r}")
        samples = self.bootstrap[target][:, names.index(coefficient)]
        lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)

    def predict(self, level: float = 0.95, **scale: float) -> FitPrediction:
        """The predicted optimum of every target at ``scale`` (every scale variable by name).

        Warns:
            ExtrapolationWarning: a scale variable outside the range of the cells fitted on.
        """
        missing = [k for k in self.scale if k not in scale]
        extra = [k for k in scale if k not in self.scale]
        if missing or extra:
            raise PriorError(f"predict: needs exactly the scale variables {list(self.scale)}, but got "
                             f"{sorted(scale)}")
        inputs = {k: check_positive(k, scale[k]) for k in self.scale}
        values, intervals = {}, {}
        for target, names in self.features.items():
            x = np.array([1.0] + [math.log(inputs[k]) for k in names])  # (1 + n_features,)
            c = self.coefficients[target]
            values[target] = math.exp(sum(c[n] * xi for n, xi in zip(("intercept",) + names, x)))
            samples = np.exp(self.bootstrap[target] @ x)  # (n_bootstrap,)
            lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
            intervals[target] = (float(lo), float(hi))
        outside = [f"{k}={inputs[k]:.3g} (fitted on {lo:.3g}..{hi:.3g})" for k, (lo, hi) in self.ranges.items()
                   if not lo <= inputs[k] <= hi]
        note = (f"power law fitted on {self.n_cells} cells ({self.n_runs} runs within "
                f"{self.tolerance:.2%} of their cell's best), bootstrap ({self.resample}) {level:.0%} intervals")
        if outside:
            note += "; EXTRAPOLATES beyond the fitted cells: " + ", ".join(outside)
            warnings.warn(f"fit_law: {', '.join(outside)}: the law is extrapolated outside the cells it "
                          "was fitted on", ExtrapolationWarning, stacklevel=2)
        return FitPrediction(values, intervals, inputs, not outside, note)


def _frame_from_study(study: Study, objective: str | None) -> tuple[pd.DataFrame, str, bool]:
    import pandas as pd

    objectives = study.objectives
    if objective is None:
        if len(objectives) != 1:
            raise PriorError(f"objective: the study has objectives {[o.name for o in objectives]}; name one")
        chosen = objectives[0]
    else:
        chosen = next((o for o in objectives if o.name == objective), None)
        if chosen is None:
            raise PriorError(f"objective: must be one of the study's objectives {[o.name for o in objectives]}, "
                             f"but got {objective!r}")
    fidelity = study.fidelity.name if study.fidelity is not None else None
    rows = []
    for t in study.get_trials(["COMPLETE"]):
        if not t.values or chosen.name not in t.values:
            continue
        row = dict(t.params)
        if fidelity is not None and fidelity not in row:
            row[fidelity] = t.attrs.get("budget", study.fidelity.max)
        row[chosen.name] = t.values[chosen.name]
        rows.append(row)
    return pd.DataFrame(rows), chosen.name, chosen.sign < 0


def _load(data: Any, objective: str | None, maximize: bool | None) -> tuple[pd.DataFrame, str, bool]:
    import pandas as pd

    if not isinstance(data, (pd.DataFrame, str, Path)):
        from hpo.study import Study  # only for studies: it loads the store's dependencies

        studies = [data] if isinstance(data, Study) else list(data) if isinstance(data, (list, tuple)) else []
        if studies and all(isinstance(s, Study) for s in studies):
            parts = [_frame_from_study(s, objective) for s in studies]
            names, directions = {p[1] for p in parts}, {p[2] for p in parts}
            if len(names) > 1 or len(directions) > 1:
                raise PriorError(f"data: the studies must share one objective and direction, but got "
                                 f"{sorted(names)} ({'mixed' if len(directions) > 1 else 'one'} direction)")
            frame = pd.concat([p[0] for p in parts], ignore_index=True)
            return frame, parts[0][1], parts[0][2] if maximize is None else bool(maximize)
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise PriorError(f"data: no CSV file at {str(path)!r}")
        data = pd.read_csv(path)
    if not isinstance(data, pd.DataFrame):
        raise PriorError(f"data: must be an hpo.Study (or a list of them), a pandas DataFrame or a CSV path, but got "
                         f"{type(data).__name__}")
    if objective is None:
        if "loss" not in data.columns:
            raise PriorError(f"objective: name the loss column (no 'loss' column in {list(data.columns)[:20]})")
        objective = "loss"
    return data, objective, bool(maximize)


def _column(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in frame.columns:
        raise PriorError(f"{what} {name!r}: no such column or parameter; have {sorted(map(str, frame.columns))[:30]}")
    try:
        return frame[name].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise PriorError(f"{what} {name!r}: must be numeric ({exc})") from None


def optimal_runs(frame: pd.DataFrame, scale: Sequence[str], objective: str, tolerance: float = 0.0025,
                 maximize: bool = False) -> pd.DataFrame:
    """The runs whose objective is within ``tolerance`` (relative) of their scale cell's best.

    Rows with a missing or non-finite objective are dropped first (failed runs).
    """
    loss = _column(frame, objective, "objective")
    frame = frame.loc[np.isfinite(loss)]
    loss = loss[np.isfinite(loss)]
    if len(frame) == 0:
        raise PriorError(f"objective {objective!r}: no run has a finite value")
    groups = frame.groupby(list(scale), sort=True)
    best = groups[objective].transform("max" if maximize else "min").to_numpy(dtype=float)
    if np.any(best == 0):
        raise PriorError(f"objective {objective!r}: a cell's best is 0; a relative tolerance needs it non-zero")
    keep = np.abs(loss / best - 1.0) < tolerance
    keep |= loss == best  # the best run always counts
    return frame.loc[keep]


def _bootstrap_weights(rng: np.random.Generator, cell: np.ndarray, n_bootstrap: int, resample: str) -> np.ndarray:
    """How often each kept run enters each resample, ``(n_bootstrap, n_runs)``: runs drawn with replacement
    (``"runs"``, Step Law's), or whole cells drawn with replacement (``"cells"``)."""
    n_runs, n_cells = len(cell), int(cell.max()) + 1
    rows = np.arange(n_bootstrap)[:, None]
    if resample == "runs":
        weights = np.zeros((n_bootstrap, n_runs))
        np.add.at(weights, (rows, rng.integers(0, n_runs, size=(n_bootstrap, n_runs))), 1.0)
        return weights
    counts = np.zeros((n_bootstrap, n_cells))
    np.add.at(counts, (rows, rng.integers(0, n_cells, size=(n_bootstrap, n_cells))), 1.0)
    return counts[:, cell]


def _bootstrap_ols(X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted OLS per resample (``weights``: ``(n_bootstrap, n_runs)`` counts), batched through the
    normal equations; lstsq where a resample's design is near-singular."""
    gram = np.einsum("bn,np,nq->bpq", weights, X, X)  # (n_bootstrap, p, p)
    rhs = np.einsum("bn,np,n->bp", weights, X, y)  # (n_bootstrap, p)
    samples = np.empty(rhs.shape)
    ok = np.linalg.cond(gram) < 1e12
    if ok.any():
        samples[ok] = np.linalg.solve(gram[ok], rhs[ok][..., None])[..., 0]
    for b in np.flatnonzero(~ok):
        root = np.sqrt(weights[b])[:, None]
        samples[b] = np.linalg.lstsq(X * root, y * root[:, 0], rcond=None)[0]
    return samples


def fit_law(data: Any, scale: Sequence[str] = ("N", "D"),
            targets: Sequence[str] | Mapping[str, Sequence[str]] = ("lr", "batch"), objective: str | None = None,
            tolerance: float = 0.0025, n_bootstrap: int = 1000, seed: int = 0,
            maximize: bool | None = None, resample: str = "runs") -> FittedLaw:
    """Fit ``ln target = c0 + sum_k c_k ln scale_k`` to the near-optimal runs of each scale cell.

    Args:
        data: an :class:`hpo.Study` or a list of them (their COMPLETE trials; scale variables are
            parameters, e.g. ``hpo.Fixed`` in one study per scale, or the study's fidelity, read from the
            trial's budget), a pandas DataFrame
            (one row per run) or the path of a CSV file of runs.
        scale: the scale variables; each distinct combination is one cell.
        targets: the hyperparameters whose optimum to model. A sequence fits each on every scale
            variable; a mapping target -> scale variables picks them (Step Law: ``{"lr": ("N", "D"),
            "batch": ("D",)}``).
        objective: the loss (a column, or the study's objective name; default: the study's only
            objective, or a DataFrame's ``loss`` column).
        tolerance: runs with ``|loss / best - 1| < tolerance`` are kept (Step Law: 0.25%).
        n_bootstrap: resamples (with replacement, of the kept runs) of the least-squares fit.
        seed: seeds the bootstrap.
        maximize: the objective is maximised (default: the study's direction; False for tables).
        resample: what the bootstrap draws with replacement: ``"runs"`` (the kept runs, Step Law's
            procedure) or ``"cells"`` (whole scale cells with all their kept runs). Runs of one cell share
            that cell's deviation from the law, so ``"runs"`` gives intervals that are too narrow when cells
            scatter around the law; ``"cells"`` accounts for it (and needs more cells).

    Raises:
        PriorError: missing columns, non-positive or non-finite scale or target values, fewer cells
            than a target's law has coefficients, or a degenerate design.
    """
    if isinstance(scale, str) or not scale or not all(isinstance(s, str) for s in scale):
        raise PriorError(f"scale: must be a non-empty sequence of names, but got {short_repr(scale)}")
    scale = tuple(scale)
    if isinstance(targets, Mapping):
        features = {str(t): tuple(v) for t, v in targets.items()}
    elif isinstance(targets, str) or not targets:
        raise PriorError(f"targets: must be a non-empty sequence of names or a mapping, but got {short_repr(targets)}")
    else:
        features = {str(t): scale for t in targets}
    for t, names in features.items():
        bad = [n for n in names if n not in scale]
        if bad or not names:
            raise PriorError(f"targets[{t!r}]: must name scale variables among {list(scale)}, but got {list(names)}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < tolerance < 1:
        raise PriorError(f"tolerance: must be a number in (0, 1), but got {short_repr(tolerance)}")
    if not is_int(n_bootstrap) or n_bootstrap < 2:
        raise PriorError(f"n_bootstrap: must be an integer >= 2, but got {short_repr(n_bootstrap)}")
    if resample not in ("runs", "cells"):
        raise PriorError(f"resample: must be 'runs' or 'cells', but got {short_repr(resample)}")
    frame, objective, maximize = _load(data, objective, maximize)
    for name in scale + tuple(features):
        values = _column(frame, name, "scale variable" if name in scale else "target")
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            raise PriorError(f"{name!r}: every value must be finite and > 0 (the law is fitted in log space), "
                             f"but row {frame.index[int(np.flatnonzero(bad)[0])]!r} has {float(values[bad][0])!r}")
    kept = optimal_runs(frame, scale, objective, tolerance, maximize)
    n_cells = int(kept.groupby(list(scale)).ngroups)
    cell = kept.groupby(list(scale), sort=True).ngroup().to_numpy()  # (n_runs,) the cell of each kept run
    weights = _bootstrap_weights(np.random.default_rng(seed), cell, n_bootstrap, resample)  # (n_bootstrap, n_runs)
    coefficients, ols, boot = {}, {}, {}
    for target, names in features.items():
        cells = int(kept.groupby(list(names)).ngroups)
        if cells < len(names) + 1:
            raise PriorError(f"targets[{target!r}]: a law in {list(names)} needs at least {len(names) + 1} distinct "
                             f"cells, but the data has {cells}")
        X = np.column_stack([np.ones(len(kept))] + [np.log(kept[n].to_numpy(dtype=float)) for n in names])
        y = np.log(kept[target].to_numpy(dtype=float))  # (n_runs,)
        if np.linalg.matrix_rank(X) < X.shape[1]:
            raise PriorError(f"targets[{target!r}]: the scale variables {list(names)} are collinear over the cells")
        full = np.linalg.lstsq(X, y, rcond=None)[0]
        samples = _bootstrap_ols(X, y, weights)  # (n_bootstrap, 1 + n_features)
        samples.setflags(write=False)
        keys = ("intercept",) + names
        coefficients[target] = dict(zip(keys, map(float, samples.mean(axis=0))))
        ols[target] = dict(zip(keys, map(float, full)))
        boot[target] = samples
    ranges = {k: (float(kept[k].min()), float(kept[k].max())) for k in scale}
    return FittedLaw(scale, features, coefficients, ols, boot, ranges, n_cells, len(kept), float(tolerance),
                     resample)

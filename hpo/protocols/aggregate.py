"""How a trial's per-seed results become one value: mean, median or the interquartile mean.

The interquartile mean (IQM, Agarwal et al. 2021, the RL reporting standard and what ``rliable``
computes) is the mean of the middle 50 % of the values: ``scipy.stats.trim_mean(values, 0.25)``. It is
robust to one diverged seed like the median, yet uses more of the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpo.errors import ProtocolError

__all__ = ["AGGREGATES", "Spread", "aggregate", "check_aggregate", "spread"]

#: The aggregates a protocol may name.
AGGREGATES = ("mean", "median", "iqm")


def check_aggregate(how: object, where: str = "aggregate") -> str:
    """``how`` if it names an aggregate, else :class:`ProtocolError` naming the choices."""
    if not isinstance(how, str) or how not in AGGREGATES:
        raise ProtocolError(f"{where} must be one of {AGGREGATES}, but got {str(how)[:60]!r}")
    return how


def _finite(values: Sequence[float], where: str) -> np.ndarray:
    """``values`` as a 1-D float array (shape ``(n,)``, ``n >= 1``), every value finite."""
    arr = np.asarray(list(values), dtype=float).reshape(-1)
    if arr.size == 0:
        raise ProtocolError(f"{where}: at least one per-seed value is needed, but got none")
    if not np.all(np.isfinite(arr)):
        bad = [float(v) for v in arr if not math.isfinite(v)][:3]
        raise ProtocolError(f"{where}: every per-seed value must be finite, but got {bad}")
    return arr


def aggregate(values: Sequence[float], how: str = "mean") -> float:
    """One value from per-seed ``values`` (shape ``(n,)``): their ``"mean"``, ``"median"`` or ``"iqm"``.

    >>> aggregate([1.0, 2.0, 3.0, 100.0], "iqm")
    2.5
    """
    check_aggregate(how)
    arr = _finite(values, f"aggregate({how!r})")
    if how == "mean":
        return float(arr.mean())
    if how == "median":
        return float(np.median(arr))
    from scipy.stats import trim_mean

    return float(trim_mean(arr, 0.25))


@dataclass(frozen=True)
class Spread:
    """How far a trial's per-seed values are apart: ``n`` values, their sample standard deviation
    (0 for one value), interquartile range, lowest and highest."""

    n: int
    std: float
    iqr: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "std": self.std, "iqr": self.iqr, "low": self.low, "high": self.high}


def spread(values: Sequence[float]) -> Spread:
    """The :class:`Spread` of per-seed ``values`` (shape ``(n,)``)."""
    arr = _finite(values, "spread")
    q1, q3 = np.percentile(arr, [25.0, 75.0])
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return Spread(n=int(arr.size), std=std, iqr=float(q3 - q1), low=float(arr.min()), high=float(arr.max()))

"""Monotone warping of the objective before a surrogate sees it.

Hyperparameter losses are often heavy-tailed: a few diverged runs or a
Rosenbrock-like valley make the raw values span orders of magnitude, and a
stationary GP on standardised values then spends its length scales on the
outliers. HEBO (Cowen-Rivers et al., 2022) and PFNs4BO fit their models to
power-transformed outcomes instead; so does the BO sampler by default.

:func:`power_warp` is the Yeo-Johnson transform with the maximum-likelihood
exponent, applied to standardised values and standardised again. It is strictly
increasing, so the order of the observations, and with it which one is best,
is unchanged: improvement-based acquisitions computed on the warped values
still point towards lower losses.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["power_warp", "OUTPUT_WARPINGS"]

#: Names accepted by ``BOSampler(output_warping=...)``.
OUTPUT_WARPINGS = ("power", "none")
_LAMBDA_BOUNDS = (-3.0, 3.0)


def power_warp(y: np.ndarray) -> np.ndarray:
    """Yeo-Johnson-warp ``y`` (shape ``(n,)``, larger is better) to standardised values.

    Returns ``y`` standardised (no warping) when there are fewer than 3 distinct
    values or the exponent cannot be estimated.
    """
    from scipy import stats

    y = np.asarray(y, dtype=float)
    std = y.std()
    if len(np.unique(y)) < 3 or not np.isfinite(std) or std <= 0:
        return y - y.mean() if len(y) else y
    z = (y - y.mean()) / std
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            lam = float(np.clip(stats.yeojohnson_normmax(z, brack=None), *_LAMBDA_BOUNDS))
            t = stats.yeojohnson(z, lmbda=lam)
    except (ValueError, FloatingPointError, RuntimeError):
        return z
    if not np.all(np.isfinite(t)) or t.std() <= 0:
        return z
    return (t - t.mean()) / t.std()

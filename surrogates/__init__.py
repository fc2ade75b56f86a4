"""Surrogates (installed as ``hpo.surrogates``): observations -> a BoTorch ``Model``.

* :class:`Surrogate`: the seam (``fit(X, Y, Yvar=None, *, categorical, seed)``).
* ``"gp"``: :class:`~hpo.surrogates.gp.GPSurrogate` (exact GP, Matern-5/2 ARD).
* ``"ensemble"``: :class:`~hpo.surrogates.ensemble.EnsembleSurrogate` (deep ensemble).
* ``"dkl"``: :class:`~hpo.surrogates.dkl.DKLSurrogate` (deep kernel learning: MLP features -> Matern GP).
* ``"ibnn"``: :class:`~hpo.surrogates.ibnn.IBNNSurrogate` (infinite-width BNN kernel GP).
* ``"pfn"``: :class:`~hpo.surrogates.pfn.surrogate.PFNSurrogate` (prior-data fitted transformer, shipped weights).
* :func:`make_surrogate`, :func:`surrogate_names`, :func:`register_surrogate`.

The implementations load on first use.
"""

from __future__ import annotations

from hpo.registry import lazy_exports

from hpo.surrogates.base import FitFallbackWarning, ShapeError, Surrogate
from hpo.surrogates.registry import make_surrogate, register_surrogate, surrogate_names

_LAZY = {
    "GPSurrogate": "hpo.surrogates.gp",
    "HpoSingleTaskGP": "hpo.surrogates.gp",
    "EnsembleSurrogate": "hpo.surrogates.ensemble",
    "EnsembleMLPModel": "hpo.surrogates.ensemble",
    "PFNSurrogate": "hpo.surrogates.pfn.surrogate",
    "DKLSurrogate": "hpo.surrogates.dkl",
    "IBNNSurrogate": "hpo.surrogates.ibnn",
    "PFNModel": "hpo.surrogates.pfn.surrogate",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "Surrogate",
    "ShapeError",
    "FitFallbackWarning",
    "make_surrogate",
    "register_surrogate",
    "surrogate_names",
    "GPSurrogate",
    "HpoSingleTaskGP",
    "EnsembleSurrogate",
    "EnsembleMLPModel",
    "PFNSurrogate",
    "PFNModel",
    "DKLSurrogate",
    "IBNNSurrogate",
]

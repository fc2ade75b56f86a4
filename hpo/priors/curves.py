"""A study prior's density as curves to draw beside the trials (the dashboard's and
:func:`hpo.visualization.plot_slice`'s slice plots).

The density is the truncated prior in the parameter's unit coordinate (the coordinate the samplers
and πBO see): on a log parameter that is the density per unit of ``log x``, so drawn over a
log-scaled axis its shape is the one the search follows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpo.errors import PriorError
from hpo.priors.densities import Prior
from hpo.space import SearchSpace

__all__ = ["prior_curves"]


def prior_curves(prior: Any, space: SearchSpace | dict[str, Any], n: int = 200) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Parameter name -> ``(x, density)``, two arrays of shape ``(n,)``: parameter values across the
    bounds and the truncated prior's density there (it integrates to 1 over the unit coordinate).

    ``prior`` is a :class:`~hpo.priors.Prior` or its JSON form (``study.settings["prior"]``); ``space`` a
    :class:`~hpo.space.SearchSpace` or its JSON form. A stored prior with a user density (recorded by
    name only) cannot be rebuilt: that raises :class:`~hpo.errors.PriorError`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise PriorError(f"prior_curves: n must be an integer >= 2, but got {n!r}")
    space = space if isinstance(space, SearchSpace) else SearchSpace.from_dict(space)
    prior = prior if isinstance(prior, Prior) else Prior(prior)
    encoder = space.encoder(onehot=False)
    u = np.linspace(0.0, 1.0, n)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for column in prior.validate(space).columns(encoder).values():
        x = column.axis.value(u)
        param: Any = space[column.name]  # a Float or Int: Prior.validate refuses the others
        x = np.clip(x, param.low, param.high)
        out[column.name] = (x, np.exp(column.log_density(u)))
    return out

"""Maximising a BO acquisition over hpo's unit cube, and the small BoTorch pieces the BO sampler builds
acquisitions from (MC samplers, outcome constraints).

:func:`optimize_acquisition` picks BoTorch's optimiser from the encoded space: ``optimize_acqf`` when
every column is continuous (or for the one-shot knowledge gradient); ``optimize_acqf_mixed`` over every
combination of the discrete columns when there are at most :data:`MAX_ENUMERATED` combinations and some
column is continuous; otherwise ``optimize_acqf_mixed_alternating`` (local search on the discrete
neighbourhood). Discrete columns (:func:`discrete_columns`): ordinals on their listed coordinates,
integers with at most :data:`MAX_DISCRETE_VALUES` grid values; unordered categoricals as categorical
dimensions. Integers with more values are optimised on the relaxation and rounded when decoded.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.records import Constraint

if TYPE_CHECKING:
    import torch

    from hpo.encoding import SpaceEncoder

__all__ = ["optimize_acquisition", "mc_sampler", "constraint_callable", "discrete_columns", "MAX_DISCRETE_VALUES",
           "MAX_ENUMERATED"]

MAX_DISCRETE_VALUES = 20  # integer columns with more grid values are relaxed (BoTorch's MAX_DISCRETE_VALUES)
MAX_ENUMERATED = 10  # BoTorch's ALTERNATING_OPTIMIZER_THRESHOLD


def optimize_acquisition(acqf: Any, encoder: SpaceEncoder, q: int, num_restarts: int, raw_samples: int,
                         device: Any) -> torch.Tensor:
    """``q`` candidates ``q x d`` in the unit cube (``d = encoder.dim``) maximising ``acqf``."""
    import torch
    from botorch.acquisition import qKnowledgeGradient
    from botorch.optim import optimize_acqf, optimize_acqf_mixed
    from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating

    d = encoder.dim
    discrete, cats = discrete_columns(encoder)
    bounds = torch.zeros(2, d, dtype=torch.float64, device=device)
    bounds[1] = 1.0
    for j, values in {**discrete, **cats}.items():
        bounds[0, j], bounds[1, j] = min(values), max(values)
    common: dict[str, Any] = {"q": q, "num_restarts": num_restarts, "raw_samples": raw_samples}
    one_shot = isinstance(acqf, qKnowledgeGradient)
    if one_shot or not (discrete or cats):
        candidates, _ = optimize_acqf(acqf, bounds, sequential=not one_shot and q > 1,
                                      options={"batch_limit": 64, "maxiter": 100}, **common)
        return candidates
    fixed = {**discrete, **cats}
    n_combinations = int(np.prod([len(v) for v in fixed.values()]))
    if n_combinations <= MAX_ENUMERATED and len(fixed) < d:
        dims = sorted(fixed)
        features = [dict(zip(dims, combo)) for combo in itertools.product(*(fixed[j] for j in dims))]
        candidates, _ = optimize_acqf_mixed(acqf, bounds, fixed_features_list=features,
                                            options={"batch_limit": 64, "maxiter": 100}, **common)
        return candidates
    candidates, _ = optimize_acqf_mixed_alternating(
        acqf, bounds, discrete_dims=discrete or None, cat_dims=cats or None,
        options={"maxiter_alternating": 16, "batch_limit": 64}, **common,
    )
    return candidates


def mc_sampler(model: Any, n: int, seed: int) -> Any:
    """``n`` seeded MC samples: Sobol normal base samples, or member indices for a sample-based
    ``EnsembleModel`` (the BNN surrogates: BoTorch's ``IndexSampler``)."""
    import torch
    from botorch.models.ensemble import EnsembleModel
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.sampling.index_sampler import IndexSampler

    cls = IndexSampler if isinstance(model, EnsembleModel) else SobolQMCNormalSampler
    return cls(sample_shape=torch.Size([n]), seed=seed)


def constraint_callable(output: int, constraint: Constraint) -> Any:
    """BoTorch constraint: samples ``... x q x m`` -> ``... x q``, negative when feasible."""
    bound = constraint.bound
    if constraint.op == "<=":
        return lambda Z: Z[..., output] - bound
    return lambda Z: bound - Z[..., output]


def discrete_columns(encoder: SpaceEncoder) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """Unit-cube values of the ordinal columns and the integer columns with few grid values, and of the
    unordered categorical columns."""
    from hpo.space import Categorical

    discrete: dict[int, list[float]] = {}
    cats: dict[int, list[float]] = {}
    for j in encoder.integer_dims:
        param = encoder.space[encoder.columns[j].name]
        if isinstance(param, Categorical) and param.ordinal:
            discrete[j] = sorted(param.coordinates)
        elif isinstance(param, Categorical):
            k = len(param.choices)
            cats[j] = [(i + 0.5) / k for i in range(k)]
        elif param.grid_size is not None and param.grid_size <= MAX_DISCRETE_VALUES:
            discrete[j] = sorted({param.encode(param.grid_value(i)) for i in range(param.grid_size)})
    return discrete, cats



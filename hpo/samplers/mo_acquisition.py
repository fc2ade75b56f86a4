"""Multi-objective acquisitions of the BO sampler (BoTorch's, assembled here).

The model's outputs are ``k`` objectives (maximised, BoTorch's convention: the
negated, possibly warped losses) followed by the outcome constraints. Three
acquisitions:

* ``"nehvi"``: :class:`~botorch.acquisition.multi_objective.logei.qLogNoisyExpectedHypervolumeImprovement`
  (Daulton et al., 2021; Ament et al., 2023) over the objective outputs, with a
  reference point (:func:`model_ref_point`), the observed points as the noisy
  baseline (pruned to those likely on the front) and the pending points as
  ``X_pending``.
* ``"parego"``: ParEGO (Knowles, 2006) in BoTorch's form: a random weight vector
  drawn uniformly from the simplex (seeded per suggestion), the augmented
  Chebyshev scalarisation of the objectives normalised by the observed range
  (:func:`~botorch.utils.multi_objective.scalarization.get_chebyshev_scalarization`),
  and :class:`~botorch.acquisition.logei.qLogNoisyExpectedImprovement` on it.
  A batch of ``q`` points uses a different weight vector for each point.
* ``"ehvi"``: :class:`~botorch.acquisition.multi_objective.logei.qLogExpectedHypervolumeImprovement`
  against the observed (feasible) front: one box decomposition per suggestion instead of one per
  quasi-MC sample, so it fits the noise-free objectives of most tuning tasks at a fraction of
  qLogNEHVI's cost with three objectives.

The sampler's ``"auto"`` takes ``"nehvi"`` with two objectives, ``"ehvi"`` with three and ``"parego"``
with four or more. qLogNEHVI builds a box decomposition of the baseline's front for every quasi-MC
sample, and with three objectives on a study's own 60 observations (points near the front) that was
26 s per suggestion (median of the last 20 of a DTLZ2 study, 32 samples, a loaded 2-core machine)
against ParEGO's 2 s. On DTLZ2 (3 objectives, 60 evaluations, seeds 0-2, on 2 cores shared with
other work) ``"ehvi"`` reached final hypervolumes 0.477, 0.455, 0.168 at about 2.2 s per suggestion,
ParEGO 0.231, 0.396, 0.116 and Optuna's MOTPE 0.435, 0.496, 0.413 (those BO runs warm-started their
GP fits; fitted cold, as the sampler now does with several objectives, ``"ehvi"`` reached a median of
0.482 over seeds 0-5: :mod:`hpo.samplers.bo`). With four objectives the exact
decomposition took 6.1 s per suggestion (DTLZ2-4, seed 0; hypervolume 0.281 against ParEGO's 0.227
and MOTPE's 0.506), so ParEGO stays the default there. ``hpo bench multiobjective`` measures them.

With outcome constraints all three get BoTorch's ``constraints`` callables: the
improvement of each MC sample is weighted by a smooth feasibility indicator, so
the acquisition is weighted by the probability of feasibility.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["MO_ACQUISITIONS", "MO_MC_SAMPLES", "model_ref_point", "warp_value", "nehvi", "ehvi", "parego",
           "random_weights", "skip_fused_compile"]

#: Acquisition names for studies with several objectives -> what they are.
MO_ACQUISITIONS: dict[str, str] = {
    "nehvi": "qLogNoisyExpectedHypervolumeImprovement",
    "parego": "ParEGO: qLogNoisyExpectedImprovement on random Chebyshev scalarisations",
    "ehvi": "qLogExpectedHypervolumeImprovement over the observed front (one box decomposition)",
}
#: The BO sampler's quasi-MC samples with several objectives (``mc_samples=None``): qLogNEHVI
#: builds a box decomposition of the baseline front per sample, its main cost with 3+ objectives.
MO_MC_SAMPLES = 32


def warp_value(raw: np.ndarray, warped: np.ndarray, value: float) -> float:
    """Map ``value`` through the monotone map ``raw -> warped`` given by observed pairs (shape ``(n,)``).

    Piecewise linear between the observations; beyond them, linear with the slope of the
    observed range (so a reference point outside the data stays outside, in proportion).
    """
    order = np.argsort(raw)
    x, y = np.asarray(raw, dtype=float)[order], np.asarray(warped, dtype=float)[order]
    x, idx = np.unique(x, return_index=True)
    y = y[idx]
    if len(x) == 1:
        return float(y[0] + (value - x[0]))
    slope = (y[-1] - y[0]) / (x[-1] - x[0])
    if value < x[0]:
        return float(y[0] + slope * (value - x[0]))
    if value > x[-1]:
        return float(y[-1] + slope * (value - x[-1]))
    return float(np.interp(value, x, y))


def model_ref_point(Y_obj: torch.Tensor, feasible: torch.Tensor, given: Sequence[float | None] | None = None) -> torch.Tensor:
    """The reference point in the model's space (maximised objectives).

    Args:
        Y_obj: ``n x k`` observed objectives (maximised, model space).
        feasible: ``n`` booleans (observed feasibility); all points are used when none is feasible.
        given: per objective, a reference value already mapped to model space, or None
            to infer that objective's value.

    Returns:
        ``k`` values: the given ones, and for the others BoTorch's
        :func:`~botorch.utils.multi_objective.hypervolume.infer_reference_point` on the
        observed (feasible) Pareto front: its nadir minus 10% of its range.
    """
    import torch
    from botorch.utils.multi_objective.hypervolume import infer_reference_point

    from hpo.results import non_dominated

    Y = Y_obj[feasible] if bool(feasible.any()) else Y_obj
    pareto = Y[torch.as_tensor(non_dominated(-Y.detach().cpu().double().numpy()), device=Y.device)]  # losses: negated
    inferred = infer_reference_point(pareto)
    if given is None:
        return inferred
    return torch.stack([inferred[j] if g is None else torch.as_tensor(g).to(inferred)
                        for j, g in enumerate(given)])


def _objective(k: int, n_outputs: int) -> Any:
    from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective

    return IdentityMCMultiOutputObjective(outcomes=list(range(k))) if n_outputs > k else None


def nehvi(model: Any, X_baseline: torch.Tensor, ref_point: torch.Tensor, k: int, n_outputs: int,
          constraints: list[Callable[[torch.Tensor], torch.Tensor]], X_pending: torch.Tensor | None,
          sampler: Any) -> Any:
    """qLogNEHVI over the first ``k`` of the model's ``n_outputs`` outputs (``X_baseline``: ``n x d``)."""
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.acquisition.cached_cholesky import supports_cache_root

    skip_fused_compile()
    return qLogNoisyExpectedHypervolumeImprovement(
        model, ref_point=ref_point.tolist(), X_baseline=X_baseline, sampler=sampler,
        objective=_objective(k, n_outputs), constraints=constraints or None, X_pending=X_pending,
        prune_baseline=True, cache_root=supports_cache_root(model),
    )


def ehvi(model: Any, Y_obj: torch.Tensor, feasible: torch.Tensor, ref_point: torch.Tensor, n_outputs: int,
         constraints: list[Callable[[torch.Tensor], torch.Tensor]], X_pending: torch.Tensor | None,
         sampler: Any) -> Any:
    """qLogEHVI over the first ``k`` of the model's ``n_outputs`` outputs, the improvement measured against
    the observed (feasible) front of ``Y_obj`` (``n x k``, model space): one box decomposition per
    suggestion (exact up to 4 objectives, BoTorch's approximate one above), not one per quasi-MC sample
    of the baseline's posterior as qLogNEHVI builds."""
    from botorch.acquisition.multi_objective.logei import qLogExpectedHypervolumeImprovement
    from botorch.acquisition.multi_objective.utils import get_default_partitioning_alpha
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
        NondominatedPartitioning,
    )

    k = Y_obj.shape[-1]
    Y = Y_obj[feasible] if bool(feasible.any()) else Y_obj[:0]
    alpha = get_default_partitioning_alpha(k)
    partitioning = (FastNondominatedPartitioning(ref_point=ref_point, Y=Y) if alpha == 0.0
                    else NondominatedPartitioning(ref_point=ref_point, Y=Y, alpha=alpha))
    skip_fused_compile()
    return qLogExpectedHypervolumeImprovement(
        model, ref_point=ref_point.tolist(), partitioning=partitioning, sampler=sampler,
        objective=_objective(k, n_outputs), constraints=constraints or None, X_pending=X_pending,
    )


def parego(model: Any, X_baseline: torch.Tensor, Y_obj: torch.Tensor, weights: torch.Tensor,
           constraints: list[Callable[[torch.Tensor], torch.Tensor]], X_pending: torch.Tensor | None,
           sampler: Any) -> Any:
    """qLogNEI of the Chebyshev scalarisation with ``weights`` (``k``) of the objectives ``Y_obj`` (``n x k``)."""
    from botorch.acquisition import qLogNoisyExpectedImprovement
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.utils.multi_objective.scalarization import get_chebyshev_scalarization

    k = Y_obj.shape[-1]
    scalarize = get_chebyshev_scalarization(weights=weights, Y=Y_obj)
    objective = GenericMCObjective(lambda Z, X=None: scalarize(Z[..., :k]))
    return qLogNoisyExpectedImprovement(
        model, X_baseline=X_baseline, sampler=sampler, objective=objective, X_pending=X_pending,
        constraints=constraints or None, prune_baseline=True,
    )


def random_weights(k: int, seed: int, like: torch.Tensor) -> torch.Tensor:
    """``k`` weights drawn uniformly from the simplex (seeded)."""
    from botorch.utils.sampling import sample_simplex

    return sample_simplex(k, n=1, seed=seed, dtype=like.dtype, device=like.device)[0]


def skip_fused_compile() -> None:
    """Keep BoTorch's qLogNEHVI from compiling its fused C++ kernel in this process.

    BoTorch (0.17+) builds ``logei_fused_ext`` with ``torch.utils.cpp_extension.load`` on the first
    qLogNEHVI of a process: 24-64 s of compiling on this project's machine (the ninja log of the
    build cache), again whenever another environment rebuilt the shared cache, and about 1 s even
    when it is up to date (importing the build tools). That was the "24 s first suggestion" of a
    fresh process (issue 23). The pure-torch path gives the same values; a pre-built
    ``logei_fused_ext`` module, where one is installed, is still used.
    """
    import importlib.util

    from botorch.acquisition.multi_objective import logei

    if getattr(logei, "_C", None) is None and not getattr(logei, "_load_attempted", True):
        if importlib.util.find_spec("logei_fused_ext") is None:
            logei._load_attempted = True

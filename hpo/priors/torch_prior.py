"""The prior as a torch module for πBO (Hvarfner et al. 2022): α(x) · π(x)^(β/n).

:func:`prior_module` gives the log density of a :class:`~hpo.priors.Prior` in the unit-cube
coordinates the acquisition optimiser sees (``space.encoder(onehot=False)``): the sum over the
parameters with a prior of their truncated log densities (the others uniform: 0), each floored at
:data:`hpo.priors.densities.LOG_FLOOR` so the log stays finite. Each column's log density is
tabulated on a grid of the unit interval and interpolated linearly (differentiable almost
everywhere, and it covers user densities that are numpy-only).

:func:`guided` wraps an acquisition in BoTorch's ``PriorGuidedAcquisitionFunction`` with exponent
``beta / n`` (rebuilt per suggestion: the exponent is fixed per instance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.priors.densities import _GRID, Prior

if TYPE_CHECKING:
    import torch

    from hpo.encoding import SpaceEncoder

__all__ = ["prior_module", "guided", "DEFAULT_PRIOR_BETA"]

#: πBO's β, the BO samplers' default ``prior_beta``: the prior's weight decays as β / n. SMAC (by πBO's
#: authors) recommends ``n_trials / 10``; 3 suits a 30-trial study (measured in ``hpo bench priors``).
DEFAULT_PRIOR_BETA = 3.0


def prior_module(prior: Prior, encoder: SpaceEncoder, log: bool = True) -> torch.nn.Module:
    """A module mapping ``batch_shape x q x d`` unit-cube points to ``batch_shape x q`` log prior densities
    (``log=False``: densities)."""
    import torch

    class _Prior(torch.nn.Module):
        def __init__(self, dims: list[int], tables: np.ndarray) -> None:
            super().__init__()
            self.dims, self.log = dims, log
            self.register_buffer("tables", torch.as_tensor(tables, dtype=torch.float64))

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(X.shape[:-1], dtype=X.dtype, device=X.device)
            tables = self.tables.to(X)
            for k, j in enumerate(self.dims):
                t = X[..., j].clamp(0.0, 1.0) * (_GRID - 1)
                i = t.detach().floor().clamp(max=_GRID - 2).long()
                w = t - i.to(X.dtype)
                out = out + tables[k][i] * (1 - w) + tables[k][i + 1] * w
            return out if self.log else out.exp()

    columns = prior.columns(encoder)
    grid = np.linspace(0.0, 1.0, _GRID)
    dims = sorted(columns)
    tables = np.array([columns[j].log_density(grid) for j in dims]).reshape(len(dims), _GRID)
    return _Prior(dims, tables)


def guided(acqf: Any, prior: Prior, encoder: SpaceEncoder, n: int, beta: float, log: bool) -> Any:
    """``acqf`` weighted by ``prior^(beta / n)`` (``log=True``: a log acquisition, plus ``(beta/n) log π``).

    Pending points set on ``acqf`` move to the wrapper (BoTorch's rule).
    """
    from botorch.acquisition.prior_guided import PriorGuidedAcquisitionFunction

    X_pending = getattr(acqf, "X_pending", None)
    if X_pending is not None:
        acqf.set_X_pending(None)
    return PriorGuidedAcquisitionFunction(acqf, prior_module(prior, encoder, log=log), log=log,
                                          prior_exponent=beta / max(int(n), 1), X_pending=X_pending)

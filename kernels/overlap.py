"""One Matern-5/2 over continuous and categorical columns together (Optuna's GPSampler kernel).

Optuna 4/5's ``optuna._gp.gp`` builds a single Matern-5/2 kernel whose squared distance sums,
over the columns, ``((x_j - x'_j) / l_j)^2`` for numerical columns and ``[c_j != c'_j] / l_j^2``
(the overlap / Hamming indicator) for categorical ones:

    r^2 = sum_cont ((x_j - x'_j) / l_j)^2 + sum_cat [c_j != c'_j] / l_j^2
    k = (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)

so the categories interact with every numerical input (a product-like kernel, one lengthscale
per column). :class:`HammingMaternKernel` is that kernel for hpo's unit-cube encoding (a
categorical column with ``k`` choices holds ``(i + 0.5) / k``; the category is
``min(floor(u * k), k - 1)``). On the categorical columns it is the exponentiated Hamming
kernel of HEBO / CoCaBO composed with the Matern profile; it is positive semi-definite since
the indicator distance is the squared Euclidean distance between scaled one-hot vectors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel
from gpytorch.priors import LogNormalPrior
from torch import Tensor

__all__ = ["HammingMaternKernel"]


class HammingMaternKernel(Kernel):
    """Matern-5/2 on the summed scaled squared distances of numerical and categorical columns.

    Args:
        dim: number of input columns ``d``.
        categorical: column -> number of choices, for the index-encoded categorical columns.
        **kwargs: passed to :class:`gpytorch.kernels.Kernel` (``batch_shape``...).

    The lengthscales (one per column) get BoTorch's dimension-scaled log-normal prior.
    Inputs ``batch x n x d`` and ``batch x p x d``; output ``batch x n x p``.
    """

    has_lengthscale = True

    def __init__(self, dim: int, categorical: Mapping[int, int] | None = None, **kwargs: object) -> None:
        prior = LogNormalPrior(loc=math.sqrt(2) + 0.5 * math.log(dim), scale=math.sqrt(3))
        super().__init__(ard_num_dims=dim, lengthscale_prior=prior,
                         lengthscale_constraint=GreaterThan(2.5e-2, transform=None, initial_value=prior.mode),
                         **kwargs)
        cats = dict(categorical or {})
        mask = torch.zeros(dim, dtype=torch.bool)
        counts = torch.ones(dim, dtype=torch.float64)
        for j, k in cats.items():
            mask[j], counts[j] = True, float(k)
        self.register_buffer("cat_mask", mask)
        self.register_buffer("counts", counts)

    def _index(self, x: Tensor) -> Tensor:
        k = self.counts.to(x)
        codes = torch.minimum(torch.floor(x.clamp(0.0, 1.0) * k), k - 1)
        return torch.where(self.cat_mask, codes, x)

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, last_dim_is_batch: bool = False,
                **params: object) -> Tensor:
        a, b = self._index(x1), self._index(x2)
        ls = self.lengthscale  # batch x 1 x d
        if diag:
            return torch.ones(a.shape[:-1], dtype=a.dtype, device=a.device)
        diff = a.unsqueeze(-2) - b.unsqueeze(-3)  # batch x n x p x d
        sq = torch.where(self.cat_mask, (diff != 0).to(diff.dtype), diff ** 2)
        r2 = (sq / ls.unsqueeze(-2) ** 2).sum(-1)
        r = torch.sqrt(5.0 * r2.clamp_min(1e-30))
        return (1.0 + r + r ** 2 / 3.0) * torch.exp(-r)

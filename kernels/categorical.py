"""Categorical and mixed kernels for inputs encoded in the unit cube.

hpo encodes a categorical parameter with ``k`` choices as one column
``u = (i + 0.5) / k`` (:mod:`hpo.encoding`, ``onehot=False``). BoTorch's
:class:`~botorch.models.kernels.categorical.CategoricalKernel` compares raw
input values for equality, so it only works on exactly encoded points: a relaxed
value such as ``0.31`` (from a continuous acquisition optimiser or a Sobol
candidate set) would be "different from every category". What it lacks, and the
only part written here, is the step from the unit cube back to the category:
:class:`UnitCubeCategoricalKernel` maps ``u -> min(floor(u * k), k - 1)`` (the
encoder's decoding rule) and then applies BoTorch's kernel

    k(c, c') = exp(-mean_j [c_j != c'_j] / l_j)

(one lengthscale ``l_j`` per categorical column). It is a product over columns
of ``exp(-[c_j != c'_j] / (D l_j))`` (``D`` categorical columns), each the
positive semi-definite matrix ``a 11^T + (1 - a) I`` on the categories with
``a = exp(-1 / (D l_j)) <= 1``, so the product is positive semi-definite too.

:func:`mixed_kernel` composes the kernel of a mixed space the way BoTorch's
:class:`~botorch.models.gp_regression_mixed.MixedSingleTaskGP` does::

    K((x, c), (x', c')) = s1 * (K_cont_1(x, x') + s2 * K_cat_1(c, c'))
                          + s3 * K_cont_2(x, x') * K_cat_2(c, c')

with ``x`` the continuous/integer columns (Matern-5/2 with ARD and BoTorch's
dimension-scaled log-normal lengthscale prior) and ``c`` the categorical columns;
the sum lets the two parts act independently, the product lets the effect of
the continuous inputs depend on the categories. Sums, products and positive
scalings of positive semi-definite kernels are positive semi-definite.

The categorical kernel is not differentiable in its inputs (its gradient is
zero almost everywhere): optimise acquisition functions over categorical
columns with a discrete optimiser (``optimize_acqf_mixed`` or
``optimize_acqf_mixed_alternating``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from botorch.models.kernels.categorical import CategoricalKernel
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, ScaleKernel
from torch import Tensor

__all__ = ["UnitCubeCategoricalKernel", "mixed_kernel", "continuous_kernel"]


class UnitCubeCategoricalKernel(CategoricalKernel):
    """BoTorch's categorical (Hamming-distance) kernel on unit-cube encoded categories.

    Args:
        num_categories: the number of choices ``k`` of each categorical column the
            kernel sees (after ``active_dims``), in column order.
        **kwargs: passed to :class:`gpytorch.kernels.Kernel` (``active_dims``,
            ``batch_shape``, ``lengthscale_prior``, ...). ``ard_num_dims`` defaults
            to ``len(num_categories)``; lengthscales are bounded below by ``1e-6``.

    Inputs ``x1`` (``batch x n x D``) and ``x2`` (``batch x p x D``) hold values in
    ``[0, 1]``; the output is ``batch x n x p``.
    """

    def __init__(self, num_categories: Sequence[int], **kwargs: object) -> None:
        counts = [int(k) for k in num_categories]
        if not counts or any(k < 1 for k in counts):
            raise ValueError(f"num_categories: expected one or more counts >= 1, but got {list(num_categories)!r}")
        kwargs.setdefault("ard_num_dims", len(counts))
        kwargs.setdefault("lengthscale_constraint", GreaterThan(1e-6))
        super().__init__(**kwargs)
        self.register_buffer("num_categories", torch.tensor(counts, dtype=torch.float64))

    def to_index(self, x: Tensor) -> Tensor:
        """Category indices (as floats) of unit-cube values ``x`` (``... x D``)."""
        k = self.num_categories.to(x)
        if x.shape[-1] != k.shape[-1]:
            raise ValueError(
                f"UnitCubeCategoricalKernel: expected inputs with {k.shape[-1]} categorical columns "
                f"(shape ... x {k.shape[-1]}), but got shape {tuple(x.shape)}"
            )
        return torch.minimum(torch.floor(x.clamp(0.0, 1.0) * k), k - 1)

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, last_dim_is_batch: bool = False,
                **params: object) -> Tensor:
        return super().forward(self.to_index(x1), self.to_index(x2), diag=diag, last_dim_is_batch=last_dim_is_batch)


def continuous_kernel(ard_num_dims: int, active_dims: Sequence[int] | None = None,
                      batch_shape: torch.Size | None = None) -> Kernel:
    """Matern-5/2 with ARD and BoTorch's dimension-scaled log-normal lengthscale prior.

    This is BoTorch's default ``SingleTaskGP`` kernel with ``nu=2.5`` instead of the RBF.
    """
    return get_covar_module_with_dim_scaled_prior(
        ard_num_dims=ard_num_dims,
        batch_shape=batch_shape or torch.Size(),
        use_rbf_kernel=False,
        active_dims=None if active_dims is None else list(active_dims),
    )


def mixed_kernel(dim: int, categorical: Mapping[int, int] | None = None,
                 batch_shape: torch.Size | None = None) -> Kernel:
    """The kernel over ``dim`` unit-cube columns, ``categorical`` of them index-encoded.

    Args:
        dim: number of input columns ``d``.
        categorical: column index -> number of choices ``k`` for each index-encoded
            categorical column (empty or None: every column is continuous/integer).
        batch_shape: batch shape of the kernel's hyperparameters (e.g. ``m`` for a
            batched multi-output GP).

    Returns:
        Matern-5/2 ARD when no column is categorical; a scaled
        :class:`UnitCubeCategoricalKernel` when every column is; otherwise the
        sum-plus-product kernel of the module docstring.
    """
    batch_shape = batch_shape or torch.Size()
    categorical = dict(categorical or {})
    bad = sorted(c for c in categorical if not 0 <= c < dim)
    if bad:
        raise ValueError(f"categorical: column indices must lie in [0, {dim}), but got {bad}")
    if not categorical:
        return continuous_kernel(dim, batch_shape=batch_shape)
    cat_dims = sorted(categorical)
    counts = [categorical[c] for c in cat_dims]
    cont_dims = [c for c in range(dim) if c not in categorical]

    def cat(**kwargs: object) -> UnitCubeCategoricalKernel:
        return UnitCubeCategoricalKernel(counts, active_dims=cat_dims, batch_shape=batch_shape, **kwargs)

    if not cont_dims:
        return ScaleKernel(cat(), batch_shape=batch_shape)
    n_cont = len(cont_dims)
    sum_part = ScaleKernel(
        continuous_kernel(n_cont, cont_dims, batch_shape) + ScaleKernel(cat(), batch_shape=batch_shape),
        batch_shape=batch_shape,
    )
    product_part = ScaleKernel(continuous_kernel(n_cont, cont_dims, batch_shape) * cat(), batch_shape=batch_shape)
    return sum_part + product_part

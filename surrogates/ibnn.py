"""Infinite-width BNN surrogate: a GP whose kernel is the NNGP of a deep ReLU network.

The kernel is BoTorch's :class:`botorch.models.kernels.InfiniteWidthBNNKernel`
(nothing is added to ``hpo.kernels``): for a fully connected ReLU network of
``depth`` hidden layers with i.i.d. priors of variance ``sigma_w^2 / fan_in`` on the
weights and ``sigma_b^2`` on the biases, in the infinite-width limit (Cho & Saul 2009;
Lee et al. 2018), on inputs ``x, x'`` of dimension ``d``::

    K^0(x, x') = sigma_b^2 + sigma_w^2 x.x' / d
    K^l(x, x') = sigma_b^2 + sigma_w^2 / (2 pi) sqrt(K^{l-1}(x, x) K^{l-1}(x', x'))
                 (sin t + (pi - t) cos t),   t = arccos(K^{l-1}(x, x') / sqrt(...))

for ``l = 1 .. depth``. Unlike the Matern kernel it is not stationary and has no
lengthscale per input: its few parameters do not grow with ``d``, which is why Li,
Rudner & Wilson (ICLR 2024) find it strong in high dimensions.

Variances (``variances``): ``"synthetic"`` fixes ``sigma_w^2 = 10, sigma_b^2 = 1.3``
and ``"real"`` fixes ``sigma_w^2 = 10, sigma_b^2 = 1.6`` (the paper's settings for
synthetic and for real problems); ``"learned"`` fits both by the marginal likelihood.
The observation noise is always fitted. Everything else (standardised outcomes, the
training-set cap, warm starts, the fallback on a failed fit, several outputs as a batched
GP) is :class:`~hpo.surrogates.gp.GPSurrogate`'s. Inputs are the unit-cube codes of
:mod:`hpo.encoding`; categorical columns enter as their codes (an ordinal input).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from botorch.models.kernels import InfiniteWidthBNNKernel
from botorch.models.transforms.outcome import Standardize
from torch import Tensor

from hpo.errors import SurrogateError
from hpo.surrogates.base import check_test_inputs
from hpo.surrogates.gp import GPSurrogate, HpoSingleTaskGP
from hpo.validators import is_int

__all__ = ["IBNNSurrogate", "IBNNModel", "VARIANCES"]

#: ``variances`` option -> (sigma_w^2, sigma_b^2), None: learned.
VARIANCES: dict[str, tuple[float, float] | None] = {"synthetic": (10.0, 1.3), "real": (10.0, 1.6), "learned": None}
_MAX_DEPTH = 16


class IBNNModel(HpoSingleTaskGP):
    """``SingleTaskGP`` with the infinite-width BNN kernel; ``posterior`` checks the input shape."""

    def posterior(self, X: Tensor, *args: Any, **kwargs: Any) -> Any:
        check_test_inputs(X, self.train_inputs[0].shape[-1], "ibnn")
        return super(HpoSingleTaskGP, self).posterior(X, *args, **kwargs)


class IBNNSurrogate(GPSurrogate):
    """Exact GP with BoTorch's infinite-width BNN kernel (see the module docstring).

    Args:
        depth: hidden layers of the infinitely wide network (>= 1).
        variances: ``"synthetic"`` (sigma_w^2 = 10, sigma_b^2 = 1.3), ``"real"``
            (10, 1.6) or ``"learned"`` (fitted by the marginal likelihood).
        max_points, warm_start, max_attempts, maxiter: as :class:`~hpo.surrogates.gp.GPSurrogate`.
    """

    name: ClassVar[str] = "ibnn"

    def __init__(self, depth: int = 3, variances: str = "synthetic", max_points: int | None = 300,
                 warm_start: bool = True, max_attempts: int = 3, maxiter: int = 200) -> None:
        if not is_int(depth) or not 1 <= depth <= _MAX_DEPTH:
            raise SurrogateError(f"ibnn: depth must be an integer in [1, {_MAX_DEPTH}], but got depth={depth!r}")
        if not isinstance(variances, str) or variances not in VARIANCES:
            raise SurrogateError(f"ibnn: unknown variances={variances!r}; allowed values: {list(VARIANCES)}")
        super().__init__(max_points=max_points, warm_start=warm_start, max_attempts=max_attempts, maxiter=maxiter)
        self.depth, self.variances = int(depth), variances

    def options(self) -> dict[str, Any]:
        return {"depth": self.depth, "variances": self.variances, **super().options()}

    def kernel(self, batch_shape: torch.Size | None = None) -> InfiniteWidthBNNKernel:
        """The kernel with this surrogate's depth and (fixed or initial) variances."""
        kernel = InfiniteWidthBNNKernel(depth=self.depth, batch_shape=batch_shape or torch.Size())
        fixed = VARIANCES[self.variances]
        if fixed is not None:
            kernel.weight_var, kernel.bias_var = fixed
            kernel.raw_weight_var.requires_grad_(False)
            kernel.raw_bias_var.requires_grad_(False)
        return kernel

    def _build(self, X: Tensor, Y: Tensor, Yvar: Tensor | None,  # type: ignore[override]
               categorical: Mapping[int, int]) -> IBNNModel:
        m = Y.shape[-1]
        batch = torch.Size([m]) if m > 1 else torch.Size()
        return IBNNModel(X, Y, train_Yvar=Yvar, covar_module=self.kernel(batch).to(X),
                         outcome_transform=Standardize(m=m))

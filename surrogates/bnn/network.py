"""A tanh MLP over a flat parameter vector, evaluated for many parameter samples at once.

The samplers (:mod:`~hpo.surrogates.bnn.hmc`, :mod:`~hpo.surrogates.bnn.sghmc`) move a flat vector
``theta`` of ``P`` numbers; :class:`FlatMLP` maps ``S x P`` parameter samples and ``N x d``
inputs to ``S x N x m`` outputs with batched matrix products (one pass for every sample, no Python
loop over samples), and gives the log posterior of the Bayesian network::

    log p(theta | X, y) = -||theta||^2 / (2 prior_var) - sum_i ||y_i - f_theta(x_i)||^2 / (2 noise_var) + const

(independent Gaussian priors on every weight and bias; Gaussian observation noise whose *variance*
is ``noise_var``, in standardised outcome units). ``hidden=()`` is Bayesian linear regression.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["FlatMLP"]


class FlatMLP:
    """Layer sizes ``d -> hidden... -> m`` (tanh between layers); parameters in one flat vector.

    Args:
        d: input dimension.
        hidden: widths of the hidden layers (``()``: a linear model).
        m: outputs (one network with ``m`` heads: the objective and the constraints share features).
    """

    def __init__(self, d: int, hidden: tuple[int, ...], m: int) -> None:
        self.d, self.hidden, self.m = int(d), tuple(int(h) for h in hidden), int(m)
        sizes = [self.d, *self.hidden, self.m]
        self.layers = list(zip(sizes[:-1], sizes[1:]))  # (fan_in, fan_out) per layer
        self.n_params = sum(i * o + o for i, o in self.layers)

    @property
    def key(self) -> tuple[int, tuple[int, ...], int]:
        """What a warm start must match: ``(d, hidden, m)``."""
        return self.d, self.hidden, self.m

    def init(self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
        """``n x P`` parameters in PyTorch's ``nn.Linear`` initialisation (uniform in ``+-1/sqrt(fan_in)``)."""
        parts = []
        for fan_in, fan_out in self.layers:
            bound = 1.0 / math.sqrt(fan_in)
            parts.append((torch.rand(n, fan_in * fan_out + fan_out, generator=generator, dtype=dtype) * 2 - 1) * bound)
        return torch.cat(parts, dim=-1)

    def forward(self, theta: Tensor, X: Tensor) -> Tensor:
        """``theta``: ``S x P`` (or ``P``), ``X``: ``N x d`` -> outputs ``S x N x m`` (or ``N x m``)."""
        single = theta.ndim == 1
        th = theta.unsqueeze(0) if single else theta
        S = th.shape[0]
        h = X.to(th.dtype).unsqueeze(0).expand(S, *X.shape)
        offset = 0
        last = len(self.layers) - 1
        for i, (fan_in, fan_out) in enumerate(self.layers):
            w = th[:, offset: offset + fan_in * fan_out].reshape(S, fan_in, fan_out)
            offset += fan_in * fan_out
            b = th[:, offset: offset + fan_out].unsqueeze(1)
            offset += fan_out
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.tanh(h)
        return h[0] if single else h

    def log_posterior(self, theta: Tensor, X: Tensor, Y: Tensor, prior_var: float, noise_var: float,
                      scale: float = 1.0) -> Tensor:
        """Unnormalised log posterior of each row of ``theta`` (``S x P`` -> ``S``; ``P`` -> scalar).

        ``scale`` multiplies the likelihood term (``n / batch`` for a minibatch estimate).
        """
        resid = self.forward(theta, X) - Y  # (S x) N x m
        log_lik = -0.5 * (resid**2).sum((-2, -1)) / noise_var
        log_prior = -0.5 * (theta**2).sum(-1) / prior_var
        return log_prior + scale * log_lik

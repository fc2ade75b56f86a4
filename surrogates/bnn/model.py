"""The sample-based BoTorch model of the BNN surrogates: one network, many parameter samples.

:class:`SampledNetworkModel` subclasses BoTorch's :class:`~botorch.models.ensemble.EnsembleModel`:
``forward(X)`` evaluates the network for each of the ``s`` posterior samples of its parameters
(``batch x q x d`` -> ``batch x s x q x m``, in the original scale of ``Y``), and the posterior is
an :class:`~botorch.posteriors.ensemble.EnsemblePosterior` over those ``s`` functions. BoTorch's
``IndexSampler`` (what ``get_sampler`` picks for that posterior; the BO sampler uses it for every
``EnsembleModel``) draws member indices from a fixed seed, so an MC acquisition is a deterministic
function of the candidate and its gradient flows through the network.

Several outputs (the objective, outcome constraints, several objectives) share one network with
``m`` heads: one chain per fit instead of ``m`` (the sampling cost is that of one network, the
hidden features are shared, and each head still has its own standardisation). The outputs of one
sample are modelled as independent given the parameters (the noise is diagonal).

``posterior(X, observation_noise=True)`` adds the model's noise variance to the posterior's
``variance`` (the predictive distribution of a new observation); the samples (``rsample``,
``IndexSampler``) stay those of the noise-free functions, as acquisitions want.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.models.ensemble import EnsembleModel
from botorch.posteriors.ensemble import EnsemblePosterior
from torch import Tensor

from hpo.surrogates.base import check_test_inputs
from hpo.surrogates.bnn.network import FlatMLP

__all__ = ["SampledNetworkModel", "NoisyEnsemblePosterior"]

_MIN_VAR = 1e-10  # floor of the posterior variance, in standardised units


class NoisyEnsemblePosterior(EnsemblePosterior):
    """An :class:`EnsemblePosterior` whose ``variance`` adds ``extra_var`` (``m``) and is floored above 0."""

    def __init__(self, values: Tensor, extra_var: Tensor, min_var: Tensor) -> None:
        super().__init__(values=values)
        self.extra_var = extra_var
        self.min_var = min_var

    @property
    def variance(self) -> Tensor:
        return super().variance.clamp_min(0.0) + self.extra_var + self.min_var


class SampledNetworkModel(EnsembleModel):
    """``s`` parameter samples of one :class:`FlatMLP`, as a BoTorch model.

    Args:
        net: the network (``d`` inputs, ``m`` outputs).
        thetas: ``s x P`` parameter samples (standardised outcome units).
        y_mean: ``m`` outcome means used for standardisation.
        y_std: ``m`` outcome standard deviations.
        noise_var: the observation-noise variance in standardised units (a number or ``m`` values).
        name: the surrogate's name, used in error messages.
    """

    thetas: Tensor
    y_mean: Tensor
    y_std: Tensor
    noise_var: Tensor

    def __init__(self, net: FlatMLP, thetas: Tensor, y_mean: Tensor, y_std: Tensor,
                 noise_var: float | Tensor, name: str = "bnn") -> None:
        super().__init__()
        self.net = net
        self.register_buffer("thetas", thetas.detach())
        self.register_buffer("y_mean", y_mean)
        self.register_buffer("y_std", y_std)
        self.register_buffer("noise_var", torch.as_tensor(noise_var, dtype=y_std.dtype).expand_as(y_std).clone())
        self.dim = net.d
        self._num_outputs = net.m
        self._name = name

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()

    @property
    def num_samples(self) -> int:
        return int(self.thetas.shape[0])

    def forward(self, X: Tensor) -> Tensor:
        """``X``: ``batch x q x d`` -> ``batch x s x q x m`` function values in the scale of ``Y``."""
        batch, q = X.shape[:-2], X.shape[-2]
        flat = X.reshape(-1, self.dim).to(self.thetas.dtype)
        out = self.net.forward(self.thetas, flat).to(X.dtype)  # s x (batch * q) x m
        out = out * self.y_std + self.y_mean
        out = out.reshape(self.num_samples, *batch, q, self._num_outputs)
        return out.movedim(0, -3)

    def posterior(  # type: ignore[override]  # Model and EnsembleModel order the arguments differently
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
        **kwargs: Any,
    ) -> EnsemblePosterior:
        """The posterior over the ``s`` sampled functions at ``X`` (``(batch x) q x d``)."""
        check_test_inputs(X, self.dim, self._name)
        values = self.forward(X)
        scale2 = self.y_std**2
        extra = self.noise_var * scale2 if observation_noise is True else torch.zeros_like(scale2)
        floor = _MIN_VAR * scale2
        if output_indices is not None:
            values, extra, floor = values[..., output_indices], extra[output_indices], floor[output_indices]
        posterior = NoisyEnsemblePosterior(values, extra.to(values), floor.to(values))
        if posterior_transform is not None:
            return posterior_transform(posterior=posterior, X=X)
        return posterior

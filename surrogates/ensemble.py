"""Deep-ensemble surrogate: small MLPs with Gaussian heads, as a BoTorch model.

Training (Lakshminarayanan et al. 2017; the BO setting of Li, Rudner & Wilson,
ICLR 2024): ``n_members`` MLPs (``tanh``, ``hidden`` widths), each on its own
random ``subsample`` fraction of the observations and its own initialisation,
output a mean and a variance per outcome and minimise the Gaussian negative log
likelihood with full-batch Adam (``steps`` steps, decoupled weight decay) on
standardised outcomes. The members are trained together as one batched network
(weights ``E x in x out``), so an ensemble costs about as much as one MLP.

Posterior: a moment-matched Gaussian over the mixture. For ``X`` of shape
``batch x q x d`` and member means ``mu_e`` and variances ``s2_e`` (each
``batch x q``, per outcome), the posterior of an outcome is the multivariate
normal with::

    mean = (1/E) sum_e mu_e
    cov  = (1/E) sum_e (mu_e - mean)(mu_e - mean)^T + diag((1/E) sum_e s2_e)

i.e. the exact mean and covariance of the mixture over the ``q`` points
(epistemic part: the members' disagreement, correlated across the ``q`` points;
aleatoric part: the heads' variances, independent). Outcomes are independent.

Why not BoTorch's ``EnsembleModel`` / ``EnsemblePosterior``: it treats each
member as a deterministic function, so an MC acquisition sees only ``E = 10``
distinct values per point, the heads' variances are dropped, and analytic
acquisitions do not apply. The moment-matched Gaussian (a ``GPyTorchPosterior``)
works with every MC and analytic acquisition and with QMC base samples, and its
covariance is positive definite (the diagonal part is bounded below). The model
does not support ``fantasize`` (no knowledge gradient or max-value entropy with
pending points). ``observation_noise`` is accepted and changes nothing: the
heads' variance is already part of the predictive distribution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultitaskMultivariateNormal, MultivariateNormal
from torch import Tensor, nn

from hpo.errors import SurrogateError
from hpo.surrogates.base import Surrogate, check_test_inputs, check_training_data, seeded
from hpo.validators import is_int, is_number

__all__ = ["EnsembleSurrogate", "EnsembleMLPModel"]

_MIN_VAR = 1e-4  # floor of the heads' variance, in standardised units
#: The networks train and predict in single precision (twice as fast on CPU as double); the
#: posterior is returned in the dtype of the inputs, and its covariance is formed in that dtype.
_NET_DTYPE = torch.float32


class _BatchedMLP(nn.Module):
    """``E`` independent MLPs evaluated as one batched network: ``(N, d) -> (E, N, 2m)``."""

    def __init__(self, n_members: int, d: int, m: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        sizes = [d, *hidden, 2 * m]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)  # PyTorch's nn.Linear initialisation
            self.weights.append(nn.Parameter(torch.empty(n_members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n_members, 1, fan_out).uniform_(-bound, bound)))
        self.m = m

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x``: ``N x d`` -> (means, variances), each ``E x N x m`` (standardised units)."""
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.matmul(h, w) + b
            if i < last:
                h = torch.tanh(h)
        mean, raw = h[..., : self.m], h[..., self.m :]
        return mean, nn.functional.softplus(raw) + _MIN_VAR


class EnsembleMLPModel(Model):
    """A trained deep ensemble as a BoTorch model (moment-matched Gaussian posterior).

    Args:
        net: the trained batched network.
        y_mean: ``m`` outcome means used for standardisation.
        y_std: ``m`` outcome standard deviations.
        dim: input dimension ``d``.
    """

    def __init__(self, net: _BatchedMLP, y_mean: Tensor, y_std: Tensor, dim: int) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("y_mean", y_mean)
        self.register_buffer("y_std", y_std)
        self.dim = dim
        self._num_outputs = int(y_mean.shape[-1])

    @property
    def num_outputs(self) -> int:
        return self._num_outputs

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()

    def members(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Member means and variances in the original scale, each ``E x batch x q x m``."""
        check_test_inputs(X, self.dim, "ensemble")
        mean, var = self.net(X.reshape(-1, self.dim).to(_NET_DTYPE))  # E x N x m, in float32
        mean, var = mean.to(X.dtype), var.to(X.dtype)
        shape = (mean.shape[0], *X.shape[:-1], self._num_outputs)
        return (mean * self.y_std + self.y_mean).reshape(shape), (var * self.y_std**2).reshape(shape)

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
        **kwargs: Any,
    ) -> Any:
        """The moment-matched posterior at ``X`` (``batch x q x d``): mean ``batch x q x m``."""
        mu, var = self.members(X)
        if output_indices is not None:
            mu, var = mu[..., output_indices], var[..., output_indices]
        mean = mu.mean(0)  # batch x q x m
        dev = (mu - mean).movedim(-1, -2)  # E x batch x m x q
        cov = torch.einsum("e...i,e...j->...ij", dev, dev) / mu.shape[0]  # batch x m x q x q
        cov = cov + torch.diag_embed(var.mean(0).movedim(-1, -2))
        mvns = [MultivariateNormal(mean[..., j], cov[..., j, :, :]) for j in range(mean.shape[-1])]
        dist = mvns[0] if len(mvns) == 1 else MultitaskMultivariateNormal.from_independent_mvns(mvns)
        posterior = GPyTorchPosterior(dist)
        return posterior_transform(posterior) if posterior_transform is not None else posterior


def _check(name: str, ok: bool, value: Any, rule: str) -> None:
    if not ok:
        raise SurrogateError(f"ensemble: `{rule}` must hold, but got {name}={value!r}")


class EnsembleSurrogate(Surrogate):
    """Deep ensemble of MLPs with Gaussian heads (see the module docstring).

    Args:
        n_members: ensemble size ``E``.
        hidden: widths of the hidden layers.
        steps: full-batch Adam steps.
        lr: Adam learning rate.
        weight_decay: decoupled weight decay (AdamW).
        subsample: fraction of the observations each member is trained on.
    """

    name: ClassVar[str] = "ensemble"
    supports_multi_output: ClassVar[bool] = True
    supports_yvar: ClassVar[bool] = False
    supports_fantasies: ClassVar[bool] = False

    def __init__(self, n_members: int = 10, hidden: tuple[int, ...] | list[int] = (64, 64), steps: int = 300,
                 lr: float = 1e-2, weight_decay: float = 1e-2, subsample: float = 0.8) -> None:
        _check("n_members", is_int(n_members) and n_members >= 2, n_members, "n_members >= 2")
        hidden = tuple(hidden) if isinstance(hidden, (tuple, list)) else hidden
        _check("hidden", isinstance(hidden, tuple) and len(hidden) >= 1
               and all(is_int(h) and h >= 1 for h in hidden),
               hidden, "hidden is a non-empty list of widths >= 1")
        _check("steps", is_int(steps) and steps >= 1, steps, "steps >= 1")
        for key, value in (("lr", lr), ("weight_decay", weight_decay)):
            _check(key, is_number(value) and math.isfinite(value)
                   and value >= (0 if key == "weight_decay" else 1e-12), value, f"{key} > 0 and finite"
                   if key == "lr" else f"{key} >= 0 and finite")
        _check("subsample", is_number(subsample) and 0 < subsample <= 1, subsample, "0 < subsample <= 1")
        self.n_members, self.hidden, self.steps = n_members, hidden, steps
        self.lr, self.weight_decay, self.subsample = float(lr), float(weight_decay), float(subsample)

    def options(self) -> dict[str, Any]:
        return {"n_members": self.n_members, "hidden": list(self.hidden), "steps": self.steps, "lr": self.lr,
                "weight_decay": self.weight_decay, "subsample": self.subsample}

    def fit(
        self,
        X: Tensor,
        Y: Tensor,
        Yvar: Tensor | None = None,
        *,
        categorical: Mapping[int, int] | None = None,
        seed: int | None = None,
    ) -> EnsembleMLPModel:
        """Train the ensemble; see :meth:`hpo.surrogates.Surrogate.fit` for shapes (``X``: ``n x d``, ``Y``: ``n x m``).

        Categorical columns are fed as their unit-cube codes (an ordinal input);
        ``Yvar`` is not supported.
        """
        X, Y, Yvar, _ = check_training_data(X, Y, Yvar, categorical, who="ensemble")
        if Yvar is not None:
            raise SurrogateError("ensemble: known observation noise (Yvar) is not supported; use the 'gp' surrogate")
        n, d = X.shape
        m = Y.shape[-1]
        y_mean = Y.mean(0)
        y_std = Y.std(0) if n > 1 else torch.ones_like(y_mean)
        y_std = torch.where(torch.isfinite(y_std) & (y_std > 1e-12), y_std, torch.ones_like(y_std))
        Ys = (Y - y_mean) / y_std
        with seeded(seed, X.device), torch.enable_grad():
            net = _BatchedMLP(self.n_members, d, m, self.hidden).to(device=X.device, dtype=_NET_DTYPE)
            Xn, Ys = X.to(_NET_DTYPE), Ys.to(_NET_DTYPE)
            size = max(1, round(self.subsample * n))
            rows = torch.stack([torch.randperm(n, device=X.device)[:size] for _ in range(self.n_members)])
            mask = torch.zeros(self.n_members, n, 1, dtype=_NET_DTYPE, device=X.device)
            mask.scatter_(1, rows.unsqueeze(-1), 1.0)  # E x n x 1: member e trains on its rows
            optimiser = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            for _ in range(self.steps):
                optimiser.zero_grad(set_to_none=True)
                mean, var = net(Xn)  # E x n x m
                nll = 0.5 * (torch.log(var) + (Ys - mean) ** 2 / var)
                loss = ((nll * mask).sum((1, 2)) / (size * m)).sum()
                loss.backward()
                optimiser.step()
        net.requires_grad_(False)
        return EnsembleMLPModel(net, y_mean, y_std, d).eval()

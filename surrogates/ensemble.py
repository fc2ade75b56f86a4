"""Deep-ensemble surrogate: small MLPs with Gaussian heads, as a BoTorch model.

Training (Lakshminarayanan et al. 2017; the recipe of Li, Rudner & Wilson,
ICLR 2024): ``n_members`` (10) MLPs (``tanh``, ``hidden`` widths), each on its own
random ``subsample`` (80%) of the observations and its own initialisation, output
a mean and a variance per outcome and minimise the Gaussian negative log
likelihood with full-batch AdamW (``steps`` = 1000 steps, weight decay 0.01) on
standardised outcomes. The members are trained together as one batched network
(weights ``E x in x out``), so an ensemble costs about as much as one MLP. Warm
start: a later fit (same ``d`` and ``m``) starts from the previous fit's members
and trains ``warm_steps`` (200) steps on freshly drawn subsets.

Calibration (``calibrate``): the members' spread is scaled by a factor ``c`` fitted
on the out-of-bag points (the observations a member did not train on are held-out
data for it), see :func:`out_of_bag_scale`: deviations from the ensemble mean are
multiplied by ``sqrt(c)`` and the heads' variances by ``c``.

Posterior: a BoTorch :class:`~botorch.models.ensemble.EnsembleModel`, so an
:class:`~botorch.posteriors.ensemble.EnsemblePosterior` whose ``E`` samples are the
(calibrated) member means; MC acquisitions draw member indices with BoTorch's
:class:`~botorch.sampling.index_sampler.IndexSampler` (deterministic for a fixed
seed; the BO sampler picks it for every ``EnsembleModel``). ``posterior(X,
observation_noise=True)`` adds the heads' noise (each member becomes the pair
``mu_e +- s_e``). The model does not support ``fantasize`` (no knowledge gradient or
max-value entropy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from botorch.models.ensemble import EnsembleModel
from botorch.posteriors.ensemble import EnsemblePosterior
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


class EnsembleMLPModel(EnsembleModel):
    """A trained deep ensemble as a BoTorch ``EnsembleModel`` (see the module docstring).

    Args:
        net: the trained batched network.
        y_mean: ``m`` outcome means used for standardisation.
        y_std: ``m`` outcome standard deviations.
        dim: input dimension ``d``.
        scale: the variance scale fitted on the out-of-bag points (1: none).
    """

    def __init__(self, net: _BatchedMLP, y_mean: Tensor, y_std: Tensor, dim: int, scale: float = 1.0) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("y_mean", y_mean)
        self.register_buffer("y_std", y_std)
        self.dim = dim
        self.scale = float(scale)
        self._num_outputs = int(y_mean.shape[-1])

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()

    def members(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Calibrated member means and head variances in the original scale, each ``batch x E x q x m``."""
        check_test_inputs(X, self.dim, "ensemble")
        mean, var = self.net(X.reshape(-1, self.dim).to(_NET_DTYPE))  # E x N x m, in float32
        mean, var = mean.to(X.dtype), var.to(X.dtype)
        centre = mean.mean(0, keepdim=True)
        mean = centre + math.sqrt(self.scale) * (mean - centre)
        shape = (mean.shape[0], *X.shape[:-1], self._num_outputs)
        mean = (mean * self.y_std + self.y_mean).reshape(shape).movedim(0, -3)
        var = (self.scale * var * self.y_std**2).reshape(shape).movedim(0, -3)
        return mean, var

    def forward(self, X: Tensor) -> Tensor:
        """Member means at ``X`` (``batch x q x d``): ``batch x E x q x m``."""
        return self.members(X)[0]

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        posterior_transform: Any = None,
        observation_noise: bool | Tensor = False,
        **kwargs: Any,
    ) -> EnsemblePosterior:
        """The ensemble posterior at ``X`` (``batch x q x d``): mean ``batch x q x m``.

        With ``observation_noise`` each member ``e`` is replaced by the two values
        ``mu_e +- s_e`` (its head's standard deviation): the mean is unchanged and the
        variance gains the heads' average variance.
        """
        mu, var = self.members(X)
        if observation_noise is not False and observation_noise is not None:
            sd = var.sqrt()
            mu = torch.cat([mu - sd, mu + sd], dim=-3)
        if output_indices is not None:
            mu = mu[..., output_indices]
        posterior = EnsemblePosterior(values=mu)
        return posterior_transform(posterior) if posterior_transform is not None else posterior


def _check(name: str, ok: bool, value: Any, rule: str) -> None:
    if not ok:
        raise SurrogateError(f"ensemble: `{rule}` must hold, but got {name}={value!r}")


class EnsembleSurrogate(Surrogate):
    """Deep ensemble of MLPs with Gaussian heads (see the module docstring).

    Args:
        n_members: ensemble size ``E``.
        hidden: widths of the hidden layers.
        steps: full-batch Adam steps of a cold fit.
        warm_steps: steps of a fit that starts from the previous fit's members.
        lr: Adam learning rate.
        weight_decay: decoupled weight decay (AdamW).
        subsample: fraction of the observations each member is trained on.
        calibrate: fit the variance scale on the out-of-bag points.
        warm_start: start each fit from the previous fit's members (same shapes).
    """

    name: ClassVar[str] = "ensemble"
    supports_multi_output: ClassVar[bool] = True
    supports_yvar: ClassVar[bool] = False
    supports_fantasies: ClassVar[bool] = False

    def __init__(self, n_members: int = 10, hidden: tuple[int, ...] | list[int] = (64, 64), steps: int = 1000,
                 warm_steps: int = 200, lr: float = 1e-2, weight_decay: float = 1e-2, subsample: float = 0.8,
                 calibrate: bool = True, warm_start: bool = True) -> None:
        _check("n_members", is_int(n_members) and n_members >= 2, n_members, "n_members >= 2")
        hidden = tuple(hidden) if isinstance(hidden, (tuple, list)) else hidden
        _check("hidden", isinstance(hidden, tuple) and len(hidden) >= 1
               and all(is_int(h) and h >= 1 for h in hidden),
               hidden, "hidden is a non-empty list of widths >= 1")
        _check("steps", is_int(steps) and steps >= 1, steps, "steps >= 1")
        _check("warm_steps", is_int(warm_steps) and warm_steps >= 1, warm_steps, "warm_steps >= 1")
        for key, value in (("lr", lr), ("weight_decay", weight_decay)):
            _check(key, is_number(value) and math.isfinite(value)
                   and value >= (0 if key == "weight_decay" else 1e-12), value, f"{key} > 0 and finite"
                   if key == "lr" else f"{key} >= 0 and finite")
        _check("subsample", is_number(subsample) and 0 < subsample <= 1, subsample, "0 < subsample <= 1")
        for key, flag in (("calibrate", calibrate), ("warm_start", warm_start)):
            _check(key, isinstance(flag, bool), flag, f"{key} in [True, False]")
        self.n_members, self.hidden, self.steps, self.warm_steps = n_members, hidden, steps, warm_steps
        self.lr, self.weight_decay, self.subsample = float(lr), float(weight_decay), float(subsample)
        self.calibrate, self.warm_start = calibrate, warm_start
        self._warm: dict[str, Tensor] | None = None
        self._warm_key: tuple | None = None
        #: The variance scale of the last fit (1: not calibrated).
        self.last_scale = 1.0

    def options(self) -> dict[str, Any]:
        return {"n_members": self.n_members, "hidden": list(self.hidden), "steps": self.steps,
                "warm_steps": self.warm_steps, "lr": self.lr, "weight_decay": self.weight_decay,
                "subsample": self.subsample, "calibrate": self.calibrate, "warm_start": self.warm_start}

    def reset(self) -> None:
        self._warm, self._warm_key = None, None

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
        key = (d, m, X.device)
        with seeded(seed, X.device), torch.enable_grad():
            net = _BatchedMLP(self.n_members, d, m, self.hidden).to(device=X.device, dtype=_NET_DTYPE)
            steps = self.steps
            if self.warm_start and self._warm is not None and self._warm_key == key:
                net.load_state_dict(self._warm)
                steps = self.warm_steps
            Xn, Ys = X.to(_NET_DTYPE), Ys.to(_NET_DTYPE)
            size = max(1, round(self.subsample * n))
            rows = torch.stack([torch.randperm(n, device=X.device)[:size] for _ in range(self.n_members)])
            mask = torch.zeros(self.n_members, n, 1, dtype=_NET_DTYPE, device=X.device)
            mask.scatter_(1, rows.unsqueeze(-1), 1.0)  # E x n x 1: member e trains on its rows
            optimiser = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            for _ in range(steps):
                optimiser.zero_grad(set_to_none=True)
                mean, var = net(Xn)  # E x n x m
                nll = 0.5 * (torch.log(var) + (Ys - mean) ** 2 / var)
                loss = ((nll * mask).sum((1, 2)) / (size * m)).sum()
                loss.backward()
                optimiser.step()
        net.requires_grad_(False)
        if all(bool(torch.isfinite(p).all()) for p in net.parameters()):
            self._warm, self._warm_key = {k: v.clone() for k, v in net.state_dict().items()}, key
        else:
            self._warm, self._warm_key = None, None
        scale = out_of_bag_scale(net, Xn, Ys, mask) if self.calibrate else 1.0
        self.last_scale = scale
        return EnsembleMLPModel(net, y_mean, y_std, d, scale).eval()


#: The variance scale is kept in this range (a few out-of-bag points give a noisy estimate).
SCALE_RANGE = (1.0, 100.0)
_CHI2_1_MEDIAN = 0.4549364231195724  # the median of a chi-square variable with one degree of freedom


def out_of_bag_scale(net: _BatchedMLP, X: Tensor, Ys: Tensor, mask: Tensor) -> float:
    """The variance scale ``c`` that calibrates the ensemble on its out-of-bag points.

    For each observation ``i`` left out by at least one member, the out-of-bag
    prediction is the mean of the members that did not train on it, and its
    z-score is ``z_i^2 = (y_i - mu_oob_i)^2 / (v_i + s2_oob_i)`` with ``v_i`` the
    members' spread (epistemic) and ``s2_oob_i`` the out-of-bag heads' mean variance
    (aleatoric). A calibrated model has ``median(z^2)`` at the chi-square(1) median;
    ``c = median(z^2) / 0.455``, clipped to :data:`SCALE_RANGE` (1 when fewer than
    three points are out of bag). Robust to a few outliers (a median, not a mean).
    """
    mean, var = net(X)  # E x n x m (standardised units)
    out = 1.0 - mask  # E x n x 1
    count = out.sum(0)  # n x 1
    held = count[:, 0] > 0
    if int(held.sum()) < 3:
        return 1.0
    mu_oob = (mean * out).sum(0) / count.clamp_min(1)
    s2_oob = (var * out).sum(0) / count.clamp_min(1)
    spread = mean.var(0, unbiased=False)
    z2 = (Ys - mu_oob) ** 2 / (spread + s2_oob)
    c = float(z2[held].median()) / _CHI2_1_MEDIAN
    lo, hi = SCALE_RANGE
    return min(max(c, lo), hi) if math.isfinite(c) else 1.0

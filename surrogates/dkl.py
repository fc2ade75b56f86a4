"""Deep kernel learning: an MLP feature extractor feeding a Matern-5/2 GP (Wilson et al. 2016).

Model: ``f(x) ~ GP(0, s^2 k_Matern52(g(x), g(x')))`` with ``g`` a tanh MLP from the
unit cube (mapped to ``[-1, 1]``) through ``hidden`` widths to ``features`` outputs
(a final tanh keeps the features bounded), ARD lengthscales on the features, a
Gaussian likelihood (BoTorch's noise prior) or the known noise ``Yvar``. It is a
BoTorch ``SingleTaskGP`` whose covariance module is :class:`FeatureKernel`, so the
posterior is the exact GP posterior through BoTorch (every acquisition applies,
fantasies included), in the original scale of ``Y`` (``Standardize`` outcome
transform: the network and the GP are trained on *standardised* targets).

Training, end to end: the network's weights, the kernel's hyperparameters and the
noise maximise the exact marginal log likelihood together, with Adam (``lr``,
``steps`` full-batch steps on the first fit; ``warm_steps`` on later fits, which
start from the previous fit's weights and hyperparameters when the shapes match:
warm start between suggestions). The paper (Li, Rudner & Wilson, ICLR 2024) trains a
3 x 128 extractor for 1000 + 5000 steps at lr 1e-3; the defaults here (2 x 32,
2 features, 100 / 50 steps at lr 1e-2, weight decay 1e-2) are what one suggestion affords on two CPU
cores (see the README's surrogate table and ``benchmarks/results/surrogates.md``).
With ``m > 1`` outcomes the GP is batched over the outcomes and the extractor is
shared. Categorical columns enter the network as their codes. More than
``max_points`` observations: the GP's subset rule (:func:`hpo.surrogates.base.training_subset`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import Kernel, MaternKernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor, nn

from hpo.errors import SurrogateError
from hpo.surrogates.base import FitFallbackWarning, Surrogate, check_test_inputs, check_training_data, seeded, training_subset
from hpo.surrogates.gp import HpoSingleTaskGP
from hpo.validators import is_int, is_number, optional, positive_int

__all__ = ["DKLSurrogate", "DKLModel", "FeatureKernel"]


class FeatureKernel(Kernel):
    """``k(x, x') = base(g(x), g(x'))``: a kernel on the features of a network ``g``."""

    def __init__(self, net: nn.Module, base: Kernel) -> None:
        super().__init__()
        self.net, self.base = net, base

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        z1 = self.net(2 * x1 - 1)
        z2 = z1 if x2 is x1 else self.net(2 * x2 - 1)
        return self.base.forward(z1, z2, diag=diag, **params)


def _mlp(d: int, hidden: tuple[int, ...], features: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip((d, *hidden), (*hidden, features)):
        layers += [nn.Linear(fan_in, fan_out), nn.Tanh()]
    return nn.Sequential(*layers)


class DKLModel(HpoSingleTaskGP):
    """``SingleTaskGP`` on a :class:`FeatureKernel`; ``posterior`` checks the input shape."""

    def posterior(self, X: Tensor, *args: Any, **kwargs: Any) -> Any:
        check_test_inputs(X, self.train_inputs[0].shape[-1], "dkl")
        return super(HpoSingleTaskGP, self).posterior(X, *args, **kwargs)


def _fail(option: str, value: Any, allowed: str) -> None:
    raise SurrogateError(f"dkl: {option} must be {allowed}, but got {option}={value!r}")


class DKLSurrogate(Surrogate):
    """Deep kernel learning surrogate (see the module docstring).

    Args:
        hidden: widths of the extractor's hidden layers (tanh).
        features: output width of the extractor (the GP's input dimension).
        steps: Adam steps of the first fit.
        warm_steps: Adam steps of a fit that starts from the previous one.
        lr: Adam learning rate.
        weight_decay: L2 penalty on the network's weights (Adam's ``weight_decay``).
        warm_start: start each fit from the previous fit (same shapes).
        max_points: fit on at most this many observations (None: all).
    """

    name: ClassVar[str] = "dkl"
    supports_multi_output: ClassVar[bool] = True
    supports_yvar: ClassVar[bool] = True
    supports_fantasies: ClassVar[bool] = True

    def __init__(self, hidden: tuple[int, ...] | list[int] = (32, 32), features: int = 2, steps: int = 100,
                 warm_steps: int = 50, lr: float = 1e-2, weight_decay: float = 1e-2, warm_start: bool = True,
                 max_points: int | None = 300) -> None:
        hidden = tuple(hidden) if isinstance(hidden, (tuple, list)) else hidden
        if not (isinstance(hidden, tuple) and all(is_int(h) and h >= 1 for h in hidden)):
            _fail("hidden", hidden, "a list of layer widths >= 1 (may be empty)")
        self.hidden = tuple(int(h) for h in hidden)
        self.features = positive_int("dkl: features", features, SurrogateError)
        self.steps = positive_int("dkl: steps", steps, SurrogateError)
        self.warm_steps = positive_int("dkl: warm_steps", warm_steps, SurrogateError)
        if not (is_number(lr) and math.isfinite(lr) and lr > 0):
            _fail("lr", lr, "a finite number > 0")
        if not (is_number(weight_decay) and math.isfinite(weight_decay) and weight_decay >= 0):
            _fail("weight_decay", weight_decay, "a finite number >= 0")
        if not isinstance(warm_start, bool):
            _fail("warm_start", warm_start, "one of [True, False]")
        self.lr, self.weight_decay, self.warm_start = float(lr), float(weight_decay), warm_start
        self.max_points = optional(positive_int, "dkl: max_points", max_points, SurrogateError, minimum=3)
        self._warm: dict[str, Tensor] | None = None
        self._warm_key: tuple | None = None

    def options(self) -> dict[str, Any]:
        return {"hidden": list(self.hidden), "features": self.features, "steps": self.steps,
                "warm_steps": self.warm_steps, "lr": self.lr, "weight_decay": self.weight_decay,
                "warm_start": self.warm_start, "max_points": self.max_points}

    def reset(self) -> None:
        self._warm, self._warm_key = None, None

    def _build(self, X: Tensor, Y: Tensor, Yvar: Tensor | None) -> DKLModel:
        m = Y.shape[-1]
        batch = torch.Size([m]) if m > 1 else torch.Size()
        base = ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=self.features, batch_shape=batch), batch_shape=batch)
        kernel = FeatureKernel(_mlp(X.shape[-1], self.hidden, self.features), base).to(X)
        return DKLModel(X, Y, train_Yvar=Yvar, covar_module=kernel, outcome_transform=Standardize(m=m))

    def _train(self, X: Tensor, Y: Tensor, Yvar: Tensor | None, warm: dict[str, Tensor] | None,
               lr: float) -> DKLModel:
        model = self._build(X, Y, Yvar)
        steps = self.steps
        if warm is not None:
            model.load_state_dict(warm, strict=False)
            steps = self.warm_steps
        model.train()
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        net_params = list(model.covar_module.net.parameters())
        ids = {id(p) for p in net_params}
        others = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
        optimiser = torch.optim.Adam([{"params": net_params, "weight_decay": self.weight_decay},
                                      {"params": others}], lr=lr)
        train_x, train_y = model.train_inputs[0], model.train_targets
        for _ in range(steps):
            optimiser.zero_grad(set_to_none=True)
            loss = -mll(model(train_x), train_y).sum()
            if not torch.isfinite(loss):
                raise ValueError(f"the marginal log likelihood is not finite ({loss.item()})")
            loss.backward()
            optimiser.step()
        return model

    def fit(
        self,
        X: Tensor,
        Y: Tensor,
        Yvar: Tensor | None = None,
        *,
        categorical: Mapping[int, int] | None = None,
        seed: int | None = None,
    ) -> DKLModel:
        """Train network and GP on the marginal likelihood; shapes as :meth:`hpo.surrogates.Surrogate.fit`."""
        X, Y, Yvar, _ = check_training_data(X, Y, Yvar, categorical, who="dkl")
        rows = training_subset(Y[:, 0], self.max_points, seed)
        if rows is not None:
            X, Y = X[rows], Y[rows]
            Yvar = None if Yvar is None else Yvar[rows]
        key = (X.shape[-1], Y.shape[-1], Yvar is None, X.dtype, X.device)
        warm = self._warm if self.warm_start and self._warm_key == key else None
        with seeded(seed, X.device), torch.enable_grad():
            try:
                model = self._train(X, Y, Yvar, warm, self.lr)
            except (RuntimeError, ValueError) as exc:  # a diverged fit (NaN, not p.d.): again, cold and slower
                try:
                    model = self._train(X, Y, Yvar, None, self.lr / 4)
                except (RuntimeError, ValueError):
                    warnings.warn(f"dkl: training on {X.shape[0]} observations diverged twice "
                                  f"({type(exc).__name__}: {str(exc)[:200]}); using the untrained network and "
                                  "default GP hyperparameters for this fit", FitFallbackWarning, stacklevel=2)
                    model = self._build(X, Y, Yvar)
        model.eval()
        if all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            self._warm = {k: v.detach().clone() for k, v in model.state_dict().items()
                          if not k.startswith(("train_", "outcome_transform"))}
            self._warm_key = key
        else:  # a diverged fit: do not warm-start from it
            self._warm, self._warm_key = None, None
        for p in model.parameters():
            p.requires_grad_(False)
        return model

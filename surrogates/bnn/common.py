"""What the sampled-BNN surrogates share: option checks, standardisation, MAP pretraining, warm starts.

A subclass implements :meth:`SampledBNNSurrogate._sample` (the chain: start ``P`` vector in,
``s x P`` samples and the chain's last state out); :meth:`SampledBNNSurrogate.fit` does the rest:
validate the data, standardise each outcome, build the network, start from the previous fit's last
sample when the network's shape is unchanged (else a fresh initialisation), pretrain to the MAP of
that network's log posterior with Adam, sample, and wrap the samples in a
:class:`~hpo.surrogates.bnn.model.SampledNetworkModel`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from hpo.errors import SurrogateError
from hpo.surrogates.base import Surrogate, check_training_data, seeded
from hpo.surrogates.bnn.model import SampledNetworkModel
from hpo.surrogates.bnn.network import FlatMLP
from hpo.validators import is_int, is_number

__all__ = ["SampledBNNSurrogate", "check_option"]


def check_option(who: str, name: str, ok: bool, value: Any, rule: str) -> None:
    """Raise :class:`SurrogateError` naming the option, the rule it breaks and the value."""
    if not ok:
        text = repr(value)
        raise SurrogateError(f"{who}: option {name} must satisfy `{rule}`, but got {name}="
                             f"{text[:80] + '...' if len(text) > 80 else text}")


def positive_number(value: Any) -> bool:
    return is_number(value) and math.isfinite(value) and value > 0


def hidden_widths(who: str, hidden: Any) -> tuple[int, ...]:
    hidden = tuple(hidden) if isinstance(hidden, (tuple, list)) else hidden
    check_option(who, "hidden", isinstance(hidden, tuple) and all(is_int(h) and h >= 1 for h in hidden),
                 hidden, "hidden is a list of layer widths >= 1 ([] for a linear model)")
    return tuple(int(h) for h in hidden)


class SampledBNNSurrogate(Surrogate):
    """Base of the fully stochastic BNN surrogates (``hmc``, ``sghmc``).

    Args:
        hidden: hidden-layer widths of the tanh MLP.
        prior_var: variance of the Gaussian prior on every weight and bias.
        noise_var: observation-noise variance (standardised outcome units; a variance, not a std).
        pretrain_steps: Adam steps to the MAP before sampling (a quarter of them on a warm start).
        n_samples: posterior samples kept (the ensemble size ``s`` of the model).
        warm_start: start the chain from the previous fit's last sample when the network is unchanged.
    """

    name: ClassVar[str] = "bnn"
    supports_multi_output: ClassVar[bool] = True
    supports_yvar: ClassVar[bool] = False
    supports_fantasies: ClassVar[bool] = False

    def __init__(self, hidden: Any, prior_var: float, noise_var: float, pretrain_steps: int, n_samples: int,
                 warm_start: bool) -> None:
        who = self.name
        self.hidden = hidden_widths(who, hidden)
        check_option(who, "prior_var", positive_number(prior_var), prior_var, "prior_var > 0 and finite")
        check_option(who, "noise_var", positive_number(noise_var), noise_var, "noise_var > 0 and finite")
        check_option(who, "pretrain_steps", is_int(pretrain_steps) and pretrain_steps >= 0, pretrain_steps,
                     "pretrain_steps is an integer >= 0")
        check_option(who, "n_samples", is_int(n_samples) and n_samples >= 2, n_samples,
                     "n_samples is an integer >= 2")
        check_option(who, "warm_start", isinstance(warm_start, bool), warm_start, "warm_start in [True, False]")
        self.prior_var, self.noise_var = float(prior_var), float(noise_var)
        self.pretrain_steps, self.n_samples, self.warm_start = int(pretrain_steps), int(n_samples), warm_start
        self._last: tuple[tuple[int, tuple[int, ...], int], Tensor, dict[str, Any]] | None = None
        #: diagnostics of the last fit (e.g. ``accept_rate``, ``step_size``), for tests and reports.
        self.last_stats: dict[str, Any] = {}

    def options(self) -> dict[str, Any]:
        return {"hidden": list(self.hidden), "prior_var": self.prior_var, "noise_var": self.noise_var,
                "pretrain_steps": self.pretrain_steps, "n_samples": self.n_samples, "warm_start": self.warm_start}

    def reset(self) -> None:
        self._last = None

    @abstractmethod
    def _sample(self, net: FlatMLP, X: Tensor, Y: Tensor, theta0: Tensor, state: dict[str, Any],
                generator: torch.Generator) -> tuple[Tensor, dict[str, Any]]:
        """Run the chain from ``theta0`` (``P``): return ``n_samples x P`` samples and the state to keep
        (its ``"stats"`` entry goes to :attr:`last_stats`)."""

    def _map(self, net: FlatMLP, X: Tensor, Y: Tensor, theta: Tensor, steps: int) -> Tensor:
        """``steps`` full-batch Adam steps on the negative log posterior of ``net`` from ``theta``."""
        theta = theta.clone().requires_grad_(True)
        optimiser = torch.optim.Adam([theta], lr=1e-2)
        n = X.shape[0]
        for _ in range(steps):
            optimiser.zero_grad(set_to_none=True)
            loss = -net.log_posterior(theta, X, Y, self.prior_var, self.noise_var) / n
            loss.backward()
            optimiser.step()
        return theta.detach()

    def fit(
        self,
        X: Tensor,
        Y: Tensor,
        Yvar: Tensor | None = None,
        *,
        categorical: Mapping[int, int] | None = None,
        seed: int | None = None,
    ) -> SampledNetworkModel:
        """Sample the network's posterior; see :meth:`hpo.surrogates.Surrogate.fit` for the shapes.

        Categorical columns are fed as their unit-cube codes (an ordinal input); ``Yvar`` is not
        supported (the noise variance is the ``noise_var`` option).
        """
        who = self.name
        X, Y, Yvar, _ = check_training_data(X, Y, Yvar, categorical, who=who)
        if Yvar is not None:
            raise SurrogateError(f"{who}: known observation noise (Yvar) is not supported; the noise variance "
                                 f"is the noise_var option (or use the 'gp' surrogate)")
        n, d = X.shape
        m = Y.shape[-1]
        y_mean = Y.mean(0)
        y_std = Y.std(0) if n > 1 else torch.ones_like(y_mean)
        y_std = torch.where(torch.isfinite(y_std) & (y_std > 1e-12), y_std, torch.ones_like(y_std))
        Ys = (Y - y_mean) / y_std
        net = FlatMLP(d, self.hidden, m)
        with seeded(seed, X.device), torch.enable_grad():
            generator = torch.Generator(device=X.device).manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
            last = self._last if self.warm_start else None
            warm = last is not None and last[0] == net.key
            if last is not None and warm:
                theta0, state = last[1].to(X), dict(last[2])
                steps = self.pretrain_steps // 4
            else:
                theta0, state, steps = net.init(1, generator, X.dtype)[0].to(X.device), {}, self.pretrain_steps
            theta0 = self._map(net, X, Ys, theta0, steps)
            thetas, state = self._sample(net, X, Ys, theta0, state, generator)
        self.last_stats = {**state.pop("stats", {}), "warm": warm}
        if self.warm_start:
            self._last = (net.key, thetas[-1].detach().clone(), state)
        return SampledNetworkModel(net, thetas, y_mean, y_std, self.noise_var, name=who).eval()

"""``sghmc``: the same BNN as ``hmc``, sampled with stochastic-gradient HMC (Chen, Fox & Guestrin 2014).

The paper's "low-cost stochastic MCMC" (Li, Rudner & Wilson, ICLR 2024). The update, in the
parametrisation of Chen et al. (section 3.3: ``v = eta * r``, learning rate ``eta``, friction
``alpha``, noise-estimate ``beta_hat = 0``)::

    v     <- (1 - alpha) v - eta * grad U~(theta) + N(0, 2 alpha eta)
    theta <- theta + v

where ``U~`` is the minibatch estimate of the negative log posterior (the likelihood of
``batch_size`` rows scaled by ``n / batch_size``, plus the full prior). No Metropolis correction:
the friction absorbs the gradient noise. The learning rate is per observation (``eta = lr / n``),
so the same ``lr`` suits every ``n`` (the default 1e-3 is stable for widths up to 128 on
standardised outcomes with ``noise_var = 0.1``; 1e-2 diverges, which raises a ``SurrogateError``). After ``burn_in`` steps every ``thin``-th state is kept.
With ``warm_start`` the next fit starts from this fit's last sample with a quarter of the burn-in
(and of the MAP pretraining).

Defaults: the ``hmc`` network (3 x 64), 500 burn-in steps, 30 samples thinned by 10, minibatches
of 32, friction 0.05. Measured on the development machine (2 shared CPU cores under load, 2-D
Branin, one torch thread): a suggestion (fit + acquisition) at n = 100 took 10.0 s cold and 2.6 s
warm; on the suite's GP draws (n = 40) the 95% interval covered 0.996 of held-out points.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from hpo.errors import SurrogateError
from hpo.surrogates.bnn.common import SampledBNNSurrogate, check_option, positive_number
from hpo.validators import is_int, is_number

__all__ = ["SGHMCSurrogate", "sghmc_chain"]


def sghmc_chain(net: Any, X: Tensor, Y: Tensor, theta0: Tensor, *, prior_var: float, noise_var: float,
                burn_in: int, n_samples: int, thin: int, lr: float, friction: float, batch_size: int,
                generator: torch.Generator) -> Tensor:
    """SGHMC from ``theta0`` (``P``) on ``net``'s log posterior: ``n_samples x P`` samples."""
    n = X.shape[0]
    b = min(batch_size, n)
    eta = lr / n
    noise_std = math.sqrt(2 * friction * eta)
    theta = theta0.detach().clone()
    v = torch.zeros_like(theta)
    samples: list[Tensor] = []
    for it in range(burn_in + n_samples * thin):
        rows = torch.randperm(n, generator=generator, device=X.device)[:b] if b < n else None
        Xb, Yb = (X, Y) if rows is None else (X[rows], Y[rows])
        th = theta.requires_grad_(True)
        value = net.log_posterior(th, Xb, Yb, prior_var, noise_var, scale=n / b)
        (grad,) = torch.autograd.grad(value, th)
        noise = torch.randn(theta.shape, generator=generator, dtype=theta.dtype, device=theta.device)
        v = (1 - friction) * v + eta * grad + noise_std * noise  # grad of log p = -grad U
        theta = (theta.detach() + v).detach()
        if not bool(torch.isfinite(theta).all()):
            raise SurrogateError(f"sghmc: the chain diverged (non-finite parameters) at step {it + 1}; "
                                 f"lower the option lr (now {lr}) or raise friction (now {friction})")
        if it >= burn_in and (it - burn_in + 1) % thin == 0:
            samples.append(theta.clone())
    return torch.stack(samples)


class SGHMCSurrogate(SampledBNNSurrogate):
    """A tanh-MLP BNN sampled by SGHMC (module docstring).

    Args:
        hidden: hidden-layer widths (default 3 x 64).
        prior_var: prior variance of the weights (paper: 1).
        noise_var: observation-noise variance in standardised units (paper: 0.1).
        pretrain_steps: Adam steps to the MAP before sampling (a quarter on a warm start).
        burn_in: SGHMC steps before the first kept sample (a quarter on a warm start).
        n_samples: samples kept.
        thin: keep every ``thin``-th step after the burn-in.
        lr: learning rate per observation (``eta = lr / n``).
        friction: the friction ``alpha`` in (0, 1].
        batch_size: minibatch rows per step (all rows when ``n`` is smaller).
        warm_start: start from the previous fit's last sample.
    """

    name: ClassVar[str] = "sghmc"

    def __init__(self, hidden: Any = (64, 64, 64), prior_var: float = 1.0, noise_var: float = 0.1,
                 pretrain_steps: int = 300, burn_in: int = 500, n_samples: int = 30, thin: int = 10,
                 lr: float = 0.001, friction: float = 0.05, batch_size: int = 32, warm_start: bool = True) -> None:
        super().__init__(hidden, prior_var, noise_var, pretrain_steps, n_samples, warm_start)
        who = self.name
        check_option(who, "burn_in", is_int(burn_in) and burn_in >= 0, burn_in, "burn_in is an integer >= 0")
        check_option(who, "thin", is_int(thin) and thin >= 1, thin, "thin is an integer >= 1")
        check_option(who, "lr", positive_number(lr), lr, "lr > 0 and finite")
        check_option(who, "friction", is_number(friction) and 0 < friction <= 1, friction, "0 < friction <= 1")
        check_option(who, "batch_size", is_int(batch_size) and batch_size >= 1, batch_size,
                     "batch_size is an integer >= 1")
        self.burn_in, self.thin, self.lr = int(burn_in), int(thin), float(lr)
        self.friction, self.batch_size = float(friction), int(batch_size)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "burn_in": self.burn_in, "thin": self.thin, "lr": self.lr,
                "friction": self.friction, "batch_size": self.batch_size}

    def _sample(self, net: Any, X: Tensor, Y: Tensor, theta0: Tensor, state: dict[str, Any],
                generator: torch.Generator) -> tuple[Tensor, dict[str, Any]]:
        burn_in = self.burn_in // 4 if state.get("warm") else self.burn_in
        thetas = sghmc_chain(net, X, Y, theta0, prior_var=self.prior_var, noise_var=self.noise_var,
                             burn_in=burn_in, n_samples=self.n_samples, thin=self.thin, lr=self.lr,
                             friction=self.friction, batch_size=self.batch_size, generator=generator)
        return thetas, {"warm": True, "stats": {"burn_in": burn_in}}

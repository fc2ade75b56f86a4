"""GP prior for PFN training: batches of synthetic BO data sets (HEBO+ style).

Each data set in a batch is one draw of a zero-mean GP on ``n`` uniform inputs
in ``[0, 1]^d`` (``d`` in ``1..D_max``), with its own hyperparameters:

* kernel: Matern-3/2 ARD (``nu`` configurable: 0.5, 1.5, 2.5) times an
  outputscale;
* lengthscale ~ Gamma(1.2107, rate 1.5212) per dimension, outputscale ~
  Gamma(0.8452, rate 0.3994), noise variance ~ LogNormal(-4.63, 0.5) (the
  HEBO+ hyperpriors of PFNs4BO, ``../shared/METHODS.md`` section 3);
* each input dimension is *unused* (its lengthscale set to infinity, so the
  function does not depend on it) with probability ``p_unused`` (at least one
  dimension is kept);
* optional Kumaraswamy input warping per dimension (``warp_prob``):
  ``x -> 1 - (1 - x^a)^b`` with ``log a, log b ~ N(0, warp_std^2)``;
* optional *near-context queries* (``near_query_frac``): each query point is,
  with that probability, a copy of a random context point moved by Gaussian
  noise whose standard deviation is log-uniform in ``near_query_scale``
  (clipped to the unit cube). Uniform queries almost never land close to an
  observed input in several dimensions, so a network trained on them alone
  never learns what to predict there (about the noise, for a GP) - yet that is
  where BO asks most (the incumbent, local refinement around it).

The ``y`` values are then standardised per data set over its first
``n_context`` points (as the surrogate standardises its observations), so the
network sees targets of a fixed scale, and clipped to ``[-y_clip, y_clip]``
(with one or two nearly equal context values the standardised queries can be
huge; unclipped, such outliers made the training loss spike). Inputs of dimension ``d < D_max`` are
zero-padded to ``D_max`` features (the model scales features by ``D_max / d``).

Everything is drawn from a ``torch.Generator`` so a batch is reproducible from a
seed; the Cholesky factorisations are batched (``B x n x n``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from hpo.errors import ValidationError

__all__ = ["PriorConfig", "PriorBatch", "sample_batch", "sample_hyperparameters", "matern_kernel"]


@dataclass
class PriorConfig:
    """Hyperpriors and sizes of the GP prior (defaults: HEBO+ of PFNs4BO)."""

    max_dim: int = 8
    nu: float = 1.5
    lengthscale_concentration: float = 1.2107
    lengthscale_rate: float = 1.5212
    outputscale_concentration: float = 0.8452
    outputscale_rate: float = 0.3994
    noise_loc: float = -4.63
    noise_scale: float = 0.5
    p_unused: float = 0.3
    warp_prob: float = 0.0
    warp_std: float = 0.5
    y_clip: float = 10.0
    near_query_frac: float = 0.0
    near_query_scale: tuple[float, float] = (1e-4, 0.2)

    def validate(self) -> None:
        if not (isinstance(self.max_dim, int) and self.max_dim >= 1):
            raise ValidationError(f"prior: max_dim must be an integer >= 1, but got {self.max_dim!r}")
        if self.nu not in (0.5, 1.5, 2.5):
            raise ValidationError(f"prior: nu must be 0.5, 1.5 or 2.5, but got {self.nu!r}")
        for name in ("p_unused", "warp_prob", "near_query_frac"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValidationError(f"prior: {name} must be in [0, 1], but got {value!r}")
        scale = self.near_query_scale  # a tuple, or a list from YAML
        if len(scale) != 2 or not 0.0 < scale[0] <= scale[1]:
            raise ValidationError(f"prior: near_query_scale must be (low, high) with 0 < low <= high, "
                                  f"but got {scale!r}")


@dataclass
class PriorBatch:
    """One batch of data sets.

    Attributes:
        x: ``B x n x D_max`` inputs (columns ``>= dims[b]`` are zero).
        y: ``B x n`` standardised noisy targets.
        dims: ``B`` number of used input columns per data set.
        n_context: points ``[:n_context]`` are the context, the rest are queries.
        lengthscale: ``B x D_max`` (inf for unused / padded dimensions).
        outputscale: ``B``; noise: ``B`` noise variances; y_mean, y_std: ``B``
            the standardisation applied to ``y`` (hyperparameters are in the raw scale).
        x_warped: ``B x n x D_max`` float64 inputs after warping (the GP was
            evaluated on these; the model sees ``x``).
    """

    x: Tensor
    y: Tensor
    dims: Tensor
    n_context: int
    lengthscale: Tensor
    outputscale: Tensor
    noise: Tensor
    y_mean: Tensor
    y_std: Tensor
    x_warped: Tensor


def matern_kernel(x1: Tensor, x2: Tensor, lengthscale: Tensor, outputscale: Tensor, nu: float = 1.5) -> Tensor:
    """Matern ARD kernel: ``x1``: ``B x n x D``, ``x2``: ``B x m x D``, lengthscale ``B x D`` -> ``B x n x m``.

    Infinite lengthscales drop a dimension.
    """
    a = x1 / lengthscale.unsqueeze(-2)
    b = x2 / lengthscale.unsqueeze(-2)
    d2 = (a.unsqueeze(-2) - b.unsqueeze(-3)).pow(2).sum(-1)
    r = torch.sqrt(d2.clamp_min(1e-30))
    if nu == 0.5:
        k = torch.exp(-r)
    elif nu == 1.5:
        s = math.sqrt(3.0) * r
        k = (1.0 + s) * torch.exp(-s)
    else:
        s = math.sqrt(5.0) * r
        k = (1.0 + s + s * s / 3.0) * torch.exp(-s)
    return outputscale.reshape(-1, 1, 1) * k


def sample_hyperparameters(cfg: PriorConfig, dims: Tensor, gen: torch.Generator,
                           device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    """Lengthscales ``B x D_max``, outputscales ``B`` and noise variances ``B`` (float64)."""
    B, D = int(dims.shape[0]), cfg.max_dim
    f64 = dict(dtype=torch.float64, device=device)
    # torch's Gamma sampler takes no generator: draw it under a forked global RNG seeded from ``gen``.
    seed = int(torch.randint(0, 2**62, (1,), generator=gen).item())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ls = torch.distributions.Gamma(torch.tensor(cfg.lengthscale_concentration, dtype=torch.float64),
                                       torch.tensor(cfg.lengthscale_rate, dtype=torch.float64)).sample((B, D))
        os_ = torch.distributions.Gamma(torch.tensor(cfg.outputscale_concentration, dtype=torch.float64),
                                        torch.tensor(cfg.outputscale_rate, dtype=torch.float64)).sample((B,))
    ls, os_ = ls.to(**f64).clamp_min(1e-3), os_.to(**f64).clamp_min(1e-4)
    noise = torch.exp(cfg.noise_loc + cfg.noise_scale * torch.randn(B, generator=gen, dtype=torch.float64)).to(device)
    col = torch.arange(D, device=device).unsqueeze(0)
    used = col < dims.to(device).unsqueeze(1)
    unused = torch.rand(B, D, generator=gen, dtype=torch.float64).to(device) < cfg.p_unused
    # keep at least one used dimension: the first column is never dropped
    unused[:, 0] = False
    keep = used & ~unused
    ls = torch.where(keep, ls, torch.full_like(ls, math.inf))
    return ls, os_, noise


def _near_context_queries(x: Tensor, used: Tensor, n_context: int, cfg: PriorConfig,
                          gen: torch.Generator) -> Tensor:
    """Move a share ``near_query_frac`` of the query rows of ``x`` (``B x n x D``) next to random context rows.

    Only the used columns (``used``: ``B x 1 x D`` bool) move; the padded ones stay zero.
    """
    B, n, D = x.shape
    m = n - n_context
    if m <= 0 or cfg.near_query_frac <= 0.0:
        return x
    near = torch.rand(B, m, 1, generator=gen, dtype=torch.float64) < cfg.near_query_frac
    parent = torch.randint(0, n_context, (B, m), generator=gen)
    lo, hi = math.log(cfg.near_query_scale[0]), math.log(cfg.near_query_scale[1])
    scale = torch.exp(lo + (hi - lo) * torch.rand(B, m, 1, generator=gen, dtype=torch.float64))
    step = scale * torch.randn(B, m, D, generator=gen, dtype=torch.float64)
    moved = (torch.gather(x[:, :n_context], 1, parent.unsqueeze(-1).expand(B, m, D)) + step).clamp(0.0, 1.0)
    queries = torch.where(near & used, moved, x[:, n_context:])
    return torch.cat([x[:, :n_context], queries], 1)


def _warp(x: Tensor, dims: Tensor, cfg: PriorConfig, gen: torch.Generator) -> Tensor:
    B, _, D = x.shape
    on = (torch.rand(B, 1, D, generator=gen, dtype=torch.float64) < cfg.warp_prob).to(x.device)
    la = cfg.warp_std * torch.randn(B, 1, D, generator=gen, dtype=torch.float64).to(x.device)
    lb = cfg.warp_std * torch.randn(B, 1, D, generator=gen, dtype=torch.float64).to(x.device)
    xc = x.clamp(1e-9, 1 - 1e-9)
    warped = 1 - (1 - xc ** la.exp()) ** lb.exp()
    return torch.where(on, warped, x)


def sample_batch(cfg: PriorConfig, batch_size: int, n_points: int, n_context: int, *,
                 dims: int | Tensor | None = None, seed: int | None = None, gen: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> PriorBatch:
    """Draw ``batch_size`` data sets of ``n_points`` points each (float64 GP draws, float32 out).

    Args:
        cfg: the prior.
        batch_size: ``B``.
        n_points: ``n`` points per data set (context + queries).
        n_context: the first ``n_context`` points are the context (>= 1).
        dims: the input dimension: an int for all, a ``B`` tensor, or None
            (uniform in ``1..max_dim`` per data set).
        seed: seeds a fresh generator (ignored when ``gen`` is given).
        gen: a CPU ``torch.Generator`` to draw from (advances it).
        device: where the Cholesky factorisations run.
    """
    cfg.validate()
    if not 1 <= n_context <= n_points:
        raise ValidationError(f"prior: need 1 <= n_context <= n_points, but got n_context={n_context}, "
                              f"n_points={n_points}")
    if gen is None:
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
    B, D = int(batch_size), cfg.max_dim
    if dims is None:
        dims_t = torch.randint(1, D + 1, (B,), generator=gen)
    elif isinstance(dims, int):
        if not 1 <= dims <= D:
            raise ValidationError(f"prior: dims must be in 1..{D}, but got {dims}")
        dims_t = torch.full((B,), dims, dtype=torch.long)
    else:
        dims_t = dims.to(torch.long).cpu()
    ls, os_, noise = sample_hyperparameters(cfg, dims_t, gen, device)
    col = torch.arange(D).unsqueeze(0)
    used = (col < dims_t.unsqueeze(1)).unsqueeze(1)  # B x 1 x D
    x = torch.rand(B, n_points, D, generator=gen, dtype=torch.float64) * used
    x = _near_context_queries(x, used, n_context, cfg, gen)
    xw = _warp(x, dims_t, cfg, gen) * used if cfg.warp_prob > 0 else x
    x_dev, xw_dev = x.to(device), xw.to(device)
    K = matern_kernel(xw_dev, xw_dev, ls, os_, cfg.nu)
    eye = torch.eye(n_points, dtype=torch.float64, device=device)
    K = K + (noise.reshape(-1, 1, 1) + 1e-6 * os_.reshape(-1, 1, 1)) * eye
    L, info = torch.linalg.cholesky_ex(K)
    if bool((info > 0).any()):
        K = K + 1e-4 * os_.reshape(-1, 1, 1) * eye
        L = torch.linalg.cholesky(K)
    z = torch.randn(B, n_points, 1, generator=gen, dtype=torch.float64).to(device)
    y = (L @ z).squeeze(-1)
    ctx = y[:, :n_context]
    y_mean = ctx.mean(1)
    y_std = ctx.std(1) if n_context > 1 else torch.ones_like(y_mean)
    y_std = torch.where(y_std > 1e-8, y_std, torch.ones_like(y_std))
    y = ((y - y_mean.unsqueeze(1)) / y_std.unsqueeze(1)).clamp(-cfg.y_clip, cfg.y_clip)
    return PriorBatch(x=x_dev.float(), y=y.float(), dims=dims_t.to(device), n_context=n_context,
                      lengthscale=ls, outputscale=os_, noise=noise, y_mean=y_mean, y_std=y_std, x_warped=xw_dev)

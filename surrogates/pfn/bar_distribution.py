"""Bar (Riemann) distribution with half-normal tails: the PFN's output head.

``K`` buckets with borders ``b_0 < b_1 < ... < b_K`` (quantiles of prior ``y``
samples, so the buckets have equal prior mass). The network outputs ``K`` logits;
``p = softmax(logits)`` are the bucket probabilities. Inner buckets
``1..K-2`` have a uniform density ``p_k / w_k`` (``w_k = b_{k+1} - b_k``). The
two outer buckets are half-normal tails (full support, as PFNs'
``FullSupportBarDistribution``): the left one is ``b_1 - s_0 |Z|``, the right
one ``b_{K-1} + s_{K-1} |Z|``, with the scale ``s`` chosen so that half of the
tail's mass lies inside the bucket (``s = w / 0.6745``).

Everything here is closed form and differentiable in the logits: density,
log density (the training loss is ``-log density(y)``), cdf, icdf, mean,
variance, and the maximising acquisitions (``../shared/METHODS.md`` section 3):

* ``EI(f*) = sum_k p_k c_k`` with, for an inner bucket,
  ``c_k = [(r_k^2 - ĉ^2)/2 - f*(r_k - ĉ)] / w_k``, ``ĉ = clamp(f*, l_k, r_k)``,
  and the half-normal EI in closed form for the tails;
* ``PI(f*) = P(y > f*) = 1 - cdf(f*)``;
* ``UCB = icdf(1 - rest_prob)`` (``rest_prob = 0.159`` is about ``beta = 1``);
* probability of feasibility of a constraint channel ``c <= 0``:
  ``P(c <= threshold) = cdf(threshold)``.

Shapes: logits are ``... x K``; every statistic is ``...``; ``f*`` broadcasts
against ``...``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hpo.errors import ValidationError

__all__ = ["BarDistribution", "borders_from_samples"]

_HN_MEDIAN = 0.6744897501960817  # icdf of the half-normal at 0.5 (= Phi^-1(0.75))
_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LOG_SQRT_2_OVER_PI = 0.5 * math.log(2.0 / math.pi)
_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)


def _phi(z: Tensor) -> Tensor:
    return torch.exp(-0.5 * z * z) * _PHI0


def _Phi(z: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(z / _SQRT2))


def borders_from_samples(y: Tensor, n_buckets: int = 1000) -> Tensor:
    """``n_buckets + 1`` borders: equal-mass quantiles of the samples ``y`` (any shape).

    Duplicate quantiles are spread apart so every bucket has a positive width.
    """
    if n_buckets < 3:
        raise ValidationError(f"bar distribution: need n_buckets >= 3, but got {n_buckets}")
    y = y.detach().reshape(-1).to(torch.float64)
    y = y[torch.isfinite(y)]
    if y.numel() < n_buckets:
        raise ValidationError(f"bar distribution: need at least {n_buckets} samples for {n_buckets} buckets, "
                              f"but got {y.numel()}")
    q = torch.linspace(0.0, 1.0, n_buckets + 1, dtype=torch.float64)
    if y.numel() > 2_000_000:  # torch.quantile limit: sort and index instead
        ys = torch.sort(y).values
        idx = (q * (ys.numel() - 1)).round().long()
        b = ys[idx]
    else:
        b = torch.quantile(y, q)
    min_w = 1e-6 * float(b[-1] - b[0])
    for i in range(1, b.numel()):  # strictly increasing borders
        if b[i] <= b[i - 1] + min_w:
            b[i] = b[i - 1] + min_w
    return b.float()


class BarDistribution(nn.Module):
    """The bar distribution over fixed ``borders`` (a ``K + 1`` buffer)."""

    def __init__(self, borders: Tensor) -> None:
        super().__init__()
        borders = torch.as_tensor(borders, dtype=torch.float32)
        if borders.ndim != 1 or borders.numel() < 4 or not bool((borders[1:] > borders[:-1]).all()):
            raise ValidationError(f"bar distribution: borders must be a strictly increasing 1-D tensor of at least "
                                  f"4 values, but got shape {tuple(borders.shape)}")
        self.register_buffer("borders", borders)

    # -- geometry ------------------------------------------------------------------
    @property
    def num_buckets(self) -> int:
        return int(self.borders.numel()) - 1

    def _geom(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        b = self.borders.to(like.dtype)
        left, right = b[:-1], b[1:]
        width = right - left
        s_lo = width[0] / _HN_MEDIAN
        s_hi = width[-1] / _HN_MEDIAN
        return left, right, width, s_lo, s_hi

    def probs(self, logits: Tensor) -> Tensor:
        return torch.softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, -1)

    # -- density -------------------------------------------------------------------
    def log_prob(self, logits: Tensor, y: Tensor) -> Tensor:
        """``log p(y)``: logits ``... x K``, ``y`` ``...`` -> ``...`` (the loss is its negative)."""
        logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
        y = y.to(logits.dtype)
        left, right, width, s_lo, s_hi = self._geom(logits)
        K = self.num_buckets
        logp = torch.log_softmax(logits, -1)
        idx = torch.searchsorted(self.borders.to(y.dtype).contiguous(), y.detach().contiguous(), right=True) - 1
        idx = idx.clamp(0, K - 1)
        logp_b = logp.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        inner = -torch.log(width[idx])
        d_lo = (right[0] - y).clamp_min(0.0) / s_lo
        d_hi = (y - left[-1]).clamp_min(0.0) / s_hi
        tail_lo = _LOG_SQRT_2_OVER_PI - torch.log(s_lo) - 0.5 * d_lo * d_lo
        tail_hi = _LOG_SQRT_2_OVER_PI - torch.log(s_hi) - 0.5 * d_hi * d_hi
        within = torch.where(idx == 0, tail_lo, torch.where(idx == K - 1, tail_hi, inner))
        return logp_b + within

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Per-point negative log likelihood ``...`` (the bar-distribution loss)."""
        return -self.log_prob(logits, y)

    # -- cdf / icdf ------------------------------------------------------------------
    def cdf(self, logits: Tensor, t: Tensor | float) -> Tensor:
        """``P(y <= t)``, ``...``."""
        p = self.probs(logits)
        left, right, width, s_lo, s_hi = self._geom(p)
        t = torch.as_tensor(t, dtype=p.dtype, device=p.device).unsqueeze(-1)
        frac = ((t - left) / width).clamp(0.0, 1.0)  # ... x K
        lo = torch.where(t < right[0], 2.0 * (1.0 - _Phi((right[0] - t) / s_lo)), torch.ones_like(t))
        hi = torch.where(t > left[-1], 2.0 * _Phi((t - left[-1]) / s_hi) - 1.0, torch.zeros_like(t))
        frac = _set_ends(frac, lo, hi)
        return (p * frac).sum(-1)

    def icdf(self, logits: Tensor, q: Tensor | float) -> Tensor:
        """The ``q``-quantile, ``...`` (``q`` in ``(0, 1)``)."""
        p = self.probs(logits)
        left, right, width, s_lo, s_hi = self._geom(p)
        q = torch.as_tensor(q, dtype=p.dtype, device=p.device).expand(p.shape[:-1]).unsqueeze(-1)
        cum = torch.cumsum(p, -1)
        K = self.num_buckets
        idx = (cum < q).sum(-1, keepdim=True).clamp(0, K - 1)  # bucket holding the quantile
        before = torch.where(idx > 0, cum.gather(-1, (idx - 1).clamp_min(0)), torch.zeros_like(q))
        pb = p.gather(-1, idx).clamp_min(1e-30)
        u = ((q - before) / pb).clamp(1e-12, 1.0 - 1e-12)  # position inside the bucket
        inner = left[idx] + u * width[idx]
        # left tail: P(y <= t) = 2 (1 - Phi((r0 - t)/s)) = u  ->  t = r0 - s Phi^-1(1 - u/2)
        t_lo = right[0] - s_lo * _ndtri(1.0 - 0.5 * u)
        # right tail: 2 Phi((t - l)/s) - 1 = u  ->  t = l + s Phi^-1((1 + u)/2)
        t_hi = left[-1] + s_hi * _ndtri(0.5 * (1.0 + u))
        out = torch.where(idx == 0, t_lo, torch.where(idx == K - 1, t_hi, inner))
        return out.squeeze(-1)

    # -- moments -----------------------------------------------------------------------
    def mean(self, logits: Tensor) -> Tensor:
        p = self.probs(logits)
        left, right, width, s_lo, s_hi = self._geom(p)
        m = 0.5 * (left + right)
        m = torch.cat([(right[0] - s_lo * _SQRT_2_OVER_PI).reshape(1), m[1:-1],
                       (left[-1] + s_hi * _SQRT_2_OVER_PI).reshape(1)])
        return p @ m

    def second_moment(self, logits: Tensor) -> Tensor:
        p = self.probs(logits)
        left, right, width, s_lo, s_hi = self._geom(p)
        m2 = (left * left + left * right + right * right) / 3.0
        c0, c1 = right[0], left[-1]
        lo = c0 * c0 - 2.0 * c0 * s_lo * _SQRT_2_OVER_PI + s_lo * s_lo
        hi = c1 * c1 + 2.0 * c1 * s_hi * _SQRT_2_OVER_PI + s_hi * s_hi
        m2 = torch.cat([lo.reshape(1), m2[1:-1], hi.reshape(1)])
        return p @ m2

    def variance(self, logits: Tensor) -> Tensor:
        mu = self.mean(logits)
        return (self.second_moment(logits) - mu * mu).clamp_min(1e-12)

    # -- acquisitions (maximisation) -------------------------------------------------------
    def ei(self, logits: Tensor, best_f: Tensor | float) -> Tensor:
        """Exact expected improvement ``E[max(y - best_f, 0)]``, ``...``."""
        p = self.probs(logits)
        left, right, width, s_lo, s_hi = self._geom(p)
        f = torch.as_tensor(best_f, dtype=p.dtype, device=p.device).unsqueeze(-1)
        c_hat = torch.minimum(torch.maximum(f, left), right)  # ... x K
        inner = ((right * right - c_hat * c_hat) / 2.0 - f * (right - c_hat)) / width
        # right tail y = c + s|Z|
        c1 = left[-1]
        a = (f - c1) / s_hi
        hi = torch.where(f <= c1, c1 - f + s_hi * _SQRT_2_OVER_PI,
                         2.0 * s_hi * (_phi(a.clamp_min(0.0)) - a.clamp_min(0.0) * (1.0 - _Phi(a.clamp_min(0.0)))))
        # left tail y = c - s|Z| (only improves when f < c)
        c0 = right[0]
        a0 = ((c0 - f) / s_lo).clamp_min(0.0)
        lo = 2.0 * s_lo * (a0 * (_Phi(a0) - 0.5) - (_PHI0 - _phi(a0)))
        vals = _set_ends(inner, lo, hi)
        return (p * vals.clamp_min(0.0)).sum(-1)

    def pi(self, logits: Tensor, best_f: Tensor | float) -> Tensor:
        """Probability of improvement ``P(y > best_f)``, ``...``."""
        return (1.0 - self.cdf(logits, best_f)).clamp(0.0, 1.0)

    def ucb(self, logits: Tensor, rest_prob: float = 0.159) -> Tensor:
        """Upper confidence bound: the ``1 - rest_prob`` quantile, ``...``."""
        if not 0.0 < rest_prob < 1.0:
            raise ValidationError(f"bar distribution: rest_prob must be in (0, 1), but got {rest_prob!r}")
        return self.icdf(logits, 1.0 - rest_prob)

    def pof(self, logits: Tensor, threshold: Tensor | float = 0.0) -> Tensor:
        """Probability of feasibility ``P(c <= threshold)`` of a constraint channel, ``...``."""
        return self.cdf(logits, threshold).clamp(0.0, 1.0)

    def sample(self, logits: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n x ...`` samples by inverse-cdf of uniform draws."""
        p = self.probs(logits)
        u = torch.rand((n, *p.shape[:-1]), generator=generator, dtype=p.dtype, device=p.device)
        return self.icdf(logits.unsqueeze(0).expand(n, *logits.shape), u.clamp(1e-7, 1 - 1e-7))


def _set_ends(values: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """``values`` (``... x K``) with its first and last entries replaced by ``lo`` / ``hi`` (``... x 1``)."""
    shape = torch.broadcast_shapes(values.shape, lo.shape[:-1] + (values.shape[-1],))
    values = values.expand(shape)
    lo, hi = lo.expand(*shape[:-1], 1), hi.expand(*shape[:-1], 1)
    return torch.cat([lo, values[..., 1:-1], hi], -1)


def _ndtri(p: Tensor) -> Tensor:
    return _SQRT2 * torch.erfinv(2.0 * p - 1.0)

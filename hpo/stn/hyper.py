"""Hyperparameter representations of a self-tuning network (MacKay et al. 2019, ``stn_utils/hyperparameter.py``).

Each tuned hyperparameter ``λ`` has an unconstrained value ``h`` (a learned parameter) and a perturbation
scale ``s``. The constrained value is

- bounded, ``hpo.Float(low, high)``: ``λ = low + (high - low) · sigmoid(h)``;
- half-open, ``HalfOpen(low)`` (``[low, ∞)``): ``λ = low + softplus(h)``;
- discrete, ``hpo.Int(low, high)``: the paper's relaxation ``λ = floor(low + (high + 1 - low) · sigmoid(h))``
  (clamped to ``high``), so every integer of the range owns an equal interval of ``h``.

Training samples ``h̃ = h + softplus(s) · ε`` with ``ε ~ N(0, I)`` per example; the validation objective
subtracts ``τ · entropy`` with ``entropy = Σ log(softplus(s) · sqrt(2πe))``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hpo.errors import StnError
from hpo.params import Float, Int

__all__ = ["HalfOpen", "HyperBatch", "StnHyperparameters"]

_EPS = 1e-6


@dataclass(frozen=True)
class HalfOpen:
    """A half-open real hyperparameter ``[low, ∞)``, represented as ``low + softplus(h)``.

    ``hpo.Float`` needs finite bounds, so a half-open STN hyperparameter (a noise level, a weight decay
    without an upper limit) is declared with this class instead."""

    low: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.low, (int, float)) or isinstance(self.low, bool) or not math.isfinite(self.low):
            raise StnError(f"HalfOpen: low must be a finite number, but got low={self.low!r:.60}")


def _inv_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))  # log(exp(x) - 1), stable for large x


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p) - math.log1p(-p)


class _Rep:
    """One hyperparameter's representation: ``to_value(h)`` (tensor) and ``to_h(value)`` (float)."""

    def __init__(self, name: str, param: Any) -> None:
        self.name, self.discrete = name, isinstance(param, Int)
        if isinstance(param, HalfOpen):
            self.low, self.high = float(param.low), math.inf
        elif isinstance(param, Int):
            if param.step != 1 or param.log:
                raise StnError(f"space[{name!r}]: an STN Int hyperparameter needs step=1 and log=False, but got "
                               f"step={param.step!r}, log={param.log!r}")
            self.low, self.high = float(param.low), float(param.high)
        elif isinstance(param, Float):
            if param.step is not None:
                raise StnError(f"space[{name!r}]: an STN Float hyperparameter is continuous, but got "
                               f"step={param.step!r}")
            self.low, self.high = float(param.low), float(param.high)  # log=True: same sigmoid representation
        else:
            raise StnError(f"space[{name!r}]: an STN hyperparameter must be hpo.Float(low, high), hpo.Int(low, "
                           f"high) or hpo.stn.HalfOpen(low), but got {param!r:.80}")

    def check(self, value: Any) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise StnError(f"initial[{self.name!r}] must be a finite number, but got {value!r:.60}")
        if self.discrete and float(value) != int(value):
            raise StnError(f"initial[{self.name!r}] must be a whole number (an Int hyperparameter), "
                           f"but got {value!r}")
        inside = self.low <= value <= self.high if self.discrete else self.low < value < self.high
        if not inside:
            rule = "low <= initial <= high" if self.discrete else "low < initial < high"
            raise StnError(f"initial[{self.name!r}]: `{rule}` must hold, but got initial={value!r}, "
                           f"low={self.low!r}, high={self.high!r}")
        return float(value)

    def to_h(self, value: float) -> float:
        """The unconstrained ``h`` whose value is ``value`` (the inverse of :meth:`to_value`)."""
        if self.high == math.inf:
            return _inv_softplus(max(value - self.low, _EPS))
        if self.discrete:  # the middle of the interval that floors to ``value``
            return _logit((value + 0.5 - self.low) / (self.high + 1 - self.low))
        return _logit((value - self.low) / (self.high - self.low))

    def to_value(self, h: torch.Tensor) -> torch.Tensor:
        if self.high == math.inf:
            return self.low + F.softplus(h)
        if self.discrete:
            relaxed = self.low + (self.high + 1 - self.low) * torch.sigmoid(h)
            return torch.clamp(torch.floor(relaxed), max=self.high)
        return self.low + (self.high - self.low) * torch.sigmoid(h)


class HyperBatch:
    """Hyperparameters for a batch: ``unconstrained`` h̃ (B, H) and ``values`` λ̃ (B, H).

    The best-response layers read h̃ (STN) or the centred ``h̃ - sg(h)`` (Delta-STN, built by the model);
    regularisers and user code read ``values`` (``get(name)``)."""

    def __init__(self, names: tuple[str, ...], unconstrained: torch.Tensor, values: torch.Tensor) -> None:
        self.names, self.unconstrained, self.values = names, unconstrained, values
        self._index = {n: i for i, n in enumerate(names)}

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def get(self, name: str) -> torch.Tensor:
        """The per-example values of ``name``: shape (B,)."""
        if name not in self._index:
            raise StnError(f"no hyperparameter {name!r}; the batch has {', '.join(self.names) or 'none'}")
        return self.values[:, self._index[name]]

    def expand(self, batch: int) -> HyperBatch:
        """The same hyperparameters repeated to ``batch`` rows (from a batch of one)."""
        if self.values.shape[0] == batch:
            return self
        return HyperBatch(self.names, self.unconstrained.expand(batch, -1), self.values.expand(batch, -1))

    @property
    def batch_size(self) -> int:
        return int(self.values.shape[0])


class StnHyperparameters(nn.Module):
    """The tuned hyperparameters of a self-tuning network: ``h`` (H,) and the perturbation scale ``s`` (H,).

    Args:
        space: name -> ``hpo.Float(low, high)`` (bounded), ``hpo.Int(low, high)`` (discrete) or
            ``hpo.stn.HalfOpen(low)`` (``[low, ∞)``); the same parameter objects a study's space uses.
        initial: name -> starting value, strictly inside the bounds (``low <= v <= high`` for an Int).
        perturb_scale: the starting ``softplus(s)`` (0.5 in the paper's CNN, 1.0 in its LSTM).

    Raises:
        StnError: an empty space, an unknown parameter type, a missing or extra initial value, an initial
            value outside its bounds, or a perturbation scale that is not a positive number.
    """

    def __init__(self, space: Mapping[str, Any], initial: Mapping[str, float], *,
                 perturb_scale: float = 0.5) -> None:
        super().__init__()
        if not isinstance(space, Mapping) or not space:
            raise StnError(f"space must be a non-empty mapping of names to hpo.Float/hpo.Int, but got {space!r:.80}")
        if not isinstance(initial, Mapping):
            raise StnError(f"initial must be a mapping of names to values, but got {initial!r:.80}")
        if set(initial) != set(space):
            missing, extra = sorted(set(space) - set(initial)), sorted(set(initial) - set(space))
            raise StnError(f"initial must give one value per hyperparameter of the space, but got missing={missing}, "
                           f"extra={extra}")
        if (not isinstance(perturb_scale, (int, float)) or isinstance(perturb_scale, bool)
                or not 0 < perturb_scale < math.inf):
            raise StnError(f"perturb_scale: `perturb_scale > 0` must hold, but got {perturb_scale!r:.60}")
        self.names: tuple[str, ...] = tuple(str(n) for n in space)
        self._reps = [_Rep(n, space[n]) for n in self.names]
        self.initial = {r.name: r.check(initial[r.name]) for r in self._reps}
        self.h = nn.Parameter(torch.tensor([r.to_h(self.initial[r.name]) for r in self._reps]))  # (H,)
        self.s = nn.Parameter(torch.full((self.n,), _inv_softplus(float(perturb_scale))))  # (H,)

    @property
    def n(self) -> int:
        """H, the number of hyperparameters."""
        return len(self.names)

    @property
    def log_scale(self) -> nn.Parameter:
        """The perturbation scale parameter ``s`` (H,); the scale is ``softplus(s)``."""
        return self.s

    def scale(self) -> torch.Tensor:
        """``softplus(s)``: (H,)."""
        return F.softplus(self.s)

    def to_values(self, unconstrained: torch.Tensor) -> torch.Tensor:
        """Constrained values (B, H) of unconstrained ``h`` (B, H)."""
        return torch.stack([r.to_value(unconstrained[:, i]) for i, r in enumerate(self._reps)], dim=1)

    def _batch(self, unconstrained: torch.Tensor) -> HyperBatch:
        return HyperBatch(self.names, unconstrained, self.to_values(unconstrained))

    def sample(self, batch: int, generator: torch.Generator | None = None) -> HyperBatch:
        """Perturbed hyperparameters, one draw per example: ``h̃ = h + softplus(s) · ε``, (B, H)."""
        eps = torch.randn(batch, self.n, generator=generator, device=self.h.device, dtype=self.h.dtype)
        return self._batch(self.h + self.scale() * eps)

    def current(self) -> HyperBatch:
        """The unperturbed hyperparameters, B = 1."""
        return self._batch(self.h.unsqueeze(0))

    def fixed(self, batch: int = 1) -> HyperBatch:
        """The current values as constants (no gradient): what ``tune=False`` trains with."""
        with torch.no_grad():
            return self.current().expand(batch)

    def values_dict(self) -> dict[str, float]:
        """name -> current (unperturbed) value."""
        with torch.no_grad():
            values = self.to_values(self.h.unsqueeze(0))[0]
        return {n: float(v) for n, v in zip(self.names, values.tolist())}

    def entropy(self) -> torch.Tensor:
        """The perturbation distribution's entropy ``Σ log(softplus(s) · sqrt(2πe))`` (a scalar)."""
        return torch.sum(torch.log(self.scale() * math.sqrt(2 * math.pi * math.e)))

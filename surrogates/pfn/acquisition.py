"""Exact acquisitions on the PFN's bar distribution, as BoTorch ``AcquisitionFunction``s.

Each class takes a fitted :class:`hpo.surrogates.pfn.surrogate.PFNModel` and works in
the PFN's transformed outcome scale (where it was trained; the transforms are
monotone, so rankings are those of the original scale); thresholds and ``best_f``
are given in the original scale of ``Y`` and mapped through the transform. Outcomes
are maximised, as everywhere in BoTorch.

* :class:`PFNExpectedImprovement`: EI, or with ``augmented=True`` the augmented EI
  (Huang et al. 2006): ``EI x (1 - sqrt(noise_var / var(x)))``. The PFN predicts
  noisy observations, so its EI stays positive next to the incumbent however often
  that spot was sampled (about ``0.4 x`` the noise standard deviation); the factor
  removes that noise-only improvement (the noise variance is
  :meth:`PFNModel.noise_variance`).
* :class:`PFNProbabilityOfImprovement`: ``P(y > best_f)``.
* :class:`PFNUpperConfidenceBound`: the ``1 - rest_prob`` quantile.
* :class:`PFNProbabilityOfFeasibility`: ``P(y_output <= threshold)``.
* :class:`PFNConstrainedExpectedImprovement` (PFN4sBO): ``EI x prod_j PoF_j``; the
  CEI+ variant ``EI x prod_j min(2 PoF_j, 1)``.

Shapes: :meth:`PFNAcquisition.forward` takes ``batch_shape x 1 x d`` (``q = 1``;
BoTorch's ``t_batch_mode_transform`` reads a ``1 x d`` input as one t-batch and
refuses ``q > 1``: the PFN has no joint predictive) and returns ``batch_shape`` in
the dtype of ``X``, so ``botorch.optim.optimize_acqf``
can optimise any of them (gradients flow through the network).
:meth:`PFNAcquisition.score` takes ``N x d`` and returns ``N`` (float32), the
batched candidate scoring of :meth:`PFNModel.suggest`.
:func:`make_pfn_acquisition` builds one from the names of
:data:`ACQUISITIONS`.
"""

from __future__ import annotations

from abc import abstractmethod

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.utils.transforms import t_batch_mode_transform
from torch import Tensor

from hpo.errors import SurrogateError

if TYPE_CHECKING:
    from hpo.surrogates.pfn.surrogate import PFNModel

__all__ = [
    "ACQUISITIONS",
    "PFNAcquisition",
    "PFNExpectedImprovement",
    "PFNProbabilityOfImprovement",
    "PFNUpperConfidenceBound",
    "PFNProbabilityOfFeasibility",
    "PFNConstrainedExpectedImprovement",
    "make_pfn_acquisition",
]

#: Acquisition names of :func:`make_pfn_acquisition` (the ``c`` ones take outcome constraints).
ACQUISITIONS = ("ei", "aei", "pi", "ucb", "cei", "cei+", "acei", "acei+")


class PFNAcquisition(AcquisitionFunction):
    """Base class: an acquisition computed from the PFN's logits at each point.

    Args:
        model: A fitted ``PFNModel``.
    """

    model: PFNModel

    def __init__(self, model: PFNModel) -> None:
        super().__init__(model)

    @abstractmethod
    def _value(self, logits: Tensor) -> Tensor:
        """Acquisition values ``N`` from the logits ``m x N x K`` of ``N`` points."""

    def score(self, X: Tensor) -> Tensor:
        """Values ``N`` (float32) at the ``N x d`` points ``X``; differentiable in ``X``."""
        return self._value(self.model.logits(X.reshape(-1, self.model.dim)))

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        """Values ``batch_shape`` (dtype of ``X``) at ``X`` of shape ``batch_shape x 1 x d``."""
        return self.score(X.reshape(-1, X.shape[-1])).to(X.dtype).reshape(X.shape[:-2])

    def _noise_factor(self, logits: Tensor, output: int) -> Tensor:
        """The augmented-EI factor ``(1 - sqrt(noise_var / var(x)))_+`` for logits ``N x K`` of ``output``."""
        var = self.model.net.bar.variance(logits)
        return (1.0 - torch.sqrt(self.model.noise_variance(output) / var.clamp_min(1e-12))).clamp_min(0.0)


class PFNExpectedImprovement(PFNAcquisition):
    """Exact EI of outcome ``output`` over ``best_f``; ``augmented=True``: the augmented EI.

    Args:
        model: A fitted ``PFNModel``.
        output: The maximised outcome column.
        best_f: The incumbent in the original scale (default: the best observation).
        augmented: Multiply by ``(1 - sqrt(noise_var / var(x)))_+`` (module docstring).
    """

    def __init__(self, model: PFNModel, output: int = 0, best_f: float | None = None,
                 augmented: bool = False) -> None:
        super().__init__(model)
        self.output, self.augmented = int(output), bool(augmented)
        self.best_f = model.incumbent(output) if best_f is None else model.transformed(best_f, output)[0]

    def _value(self, logits: Tensor) -> Tensor:
        value = self.model.net.bar.ei(logits[self.output], self.best_f)
        return value * self._noise_factor(logits[self.output], self.output) if self.augmented else value


class PFNProbabilityOfImprovement(PFNAcquisition):
    """Probability that outcome ``output`` improves on ``best_f`` (original scale; default: the best observation)."""

    def __init__(self, model: PFNModel, output: int = 0, best_f: float | None = None) -> None:
        super().__init__(model)
        self.output = int(output)
        self.best_f = model.incumbent(output) if best_f is None else model.transformed(best_f, output)[0]

    def _value(self, logits: Tensor) -> Tensor:
        return self.model.net.bar.pi(logits[self.output], self.best_f)


class PFNUpperConfidenceBound(PFNAcquisition):
    """The ``1 - rest_prob`` quantile of outcome ``output`` (transformed scale)."""

    def __init__(self, model: PFNModel, output: int = 0, rest_prob: float = 0.159) -> None:
        super().__init__(model)
        self.output, self.rest_prob = int(output), rest_prob

    def _value(self, logits: Tensor) -> Tensor:
        return self.model.net.bar.ucb(logits[self.output], self.rest_prob)


class PFNProbabilityOfFeasibility(PFNAcquisition):
    """Probability that outcome ``output`` is ``<= threshold`` (original scale)."""

    def __init__(self, model: PFNModel, output: int, threshold: float = 0.0) -> None:
        super().__init__(model)
        self.output = int(output)
        self.threshold = model.transformed(threshold, output)[0]

    def _value(self, logits: Tensor) -> Tensor:
        return self.model.net.bar.pof(logits[self.output], self.threshold)


class PFNConstrainedExpectedImprovement(PFNAcquisition):
    """Constrained EI (PFN4sBO): ``EI x prod_j PoF_j`` (``plus``: ``EI x prod_j min(2 PoF_j, 1)``).

    ``f*`` is the best feasible observation (the best observation when none is feasible).

    Args:
        model: A fitted ``PFNModel``.
        constraints: Outcome column -> threshold (feasible: value ``<= threshold``)
            or ``(op, bound)`` with ``op`` ``"<="`` or ``">="`` (original scale).
        objective: The maximised outcome column.
        plus: The CEI+ variant.
        augmented: Use the augmented EI for the objective.

    Raises:
        SurrogateError: A constraint operator other than ``"<="`` or ``">="``.
    """

    def __init__(self, model: PFNModel, constraints: Mapping[int, float | tuple[str, float]], objective: int = 0,
                 plus: bool = False, augmented: bool = False) -> None:
        super().__init__(model)
        rules = {int(j): (c if isinstance(c, tuple) else ("<=", c)) for j, c in constraints.items()}
        for j, (op, _) in rules.items():
            if op not in ("<=", ">="):
                raise SurrogateError(f"pfn: constraint on output {j} must use '<=' or '>=', but got {op!r}")
        feasible = torch.ones(model.y_t.shape[1], dtype=torch.bool)
        for j, (op, bound) in rules.items():
            col = model.Y_ctx[:, j].double()
            feasible &= (col <= float(bound)) if op == "<=" else (col >= float(bound))
        self.objective, self.plus, self.augmented = int(objective), bool(plus), bool(augmented)
        self.best_f = model.incumbent(self.objective, feasible)
        self.rules = [(j, op, model.transformed(bound, j)[0]) for j, (op, bound) in rules.items()]

    def _value(self, logits: Tensor) -> Tensor:
        bar = self.model.net.bar
        value = bar.ei(logits[self.objective], self.best_f)
        if self.augmented:
            value = value * self._noise_factor(logits[self.objective], self.objective)
        for j, op, t in self.rules:
            pof = bar.pof(logits[j], t) if op == "<=" else bar.pi(logits[j], t)
            value = value * ((2.0 * pof).clamp_max(1.0) if self.plus else pof)
        return value


def make_pfn_acquisition(model: PFNModel, name: str = "ei", constraints: Mapping[int, Any] | None = None,
                         **options: Any) -> PFNAcquisition:
    """The acquisition called ``name`` (one of :data:`ACQUISITIONS`) on ``model``.

    Args:
        model: A fitted ``PFNModel``.
        name: ``"ei"``, ``"aei"``, ``"pi"``, ``"ucb"``, or with ``constraints``
            ``"cei"``, ``"cei+"``, ``"acei"``, ``"acei+"`` (``"ei"`` / ``"aei"``
            with constraints mean ``"cei"`` / ``"acei"``; a ``c`` name without
            constraints is plain EI / AEI).
        constraints: See :class:`PFNConstrainedExpectedImprovement`.
        **options: Keyword arguments of the class (``output``, ``best_f``,
            ``rest_prob``; ``objective`` with constraints).

    Raises:
        SurrogateError: An unknown name, or constraints with a non-EI acquisition.
    """
    if name not in ACQUISITIONS:
        raise SurrogateError(f"pfn: unknown acquisition {name!r}; valid: {list(ACQUISITIONS)}")
    augmented = name in ("aei", "acei", "acei+")
    if constraints:
        if name not in ("ei", "aei", "cei", "cei+", "acei", "acei+"):
            raise SurrogateError(f"pfn: constraints need an EI acquisition ('cei', 'cei+', 'acei', 'acei+'), "
                               f"but got {name!r}")
        return PFNConstrainedExpectedImprovement(model, constraints, plus=name.endswith("+"), augmented=augmented,
                                                 **options)
    if name in ("ei", "cei", "cei+") or augmented:
        return PFNExpectedImprovement(model, augmented=augmented, **options)
    if name == "pi":
        return PFNProbabilityOfImprovement(model, **options)
    return PFNUpperConfidenceBound(model, **options)

"""The acquisition of a conditional space, evaluated on activity features.

On a space with conditions the GP of :class:`~hpo.samplers.bo.BOSampler` is fitted on
:meth:`hpo.encoding.SpaceEncoder.features` (the cube columns with inactive parameters set to
0.5, plus one active/inactive indicator per condition), while the acquisition optimiser moves
points of the cube (``dim`` columns). :class:`FeaturisedAcquisition` maps each point to the
features of the configuration it decodes to before the wrapped acquisition sees it, so the
optimiser, its discrete dimensions and ``decode`` are unchanged. The activity is computed from
the decoded parents (Categorical, Int, Fixed: discrete), so the map is piecewise constant in
them and the gradient with respect to an active continuous child passes through unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from botorch.acquisition import AcquisitionFunction
from torch import Tensor

if TYPE_CHECKING:
    from hpo.encoding import SpaceEncoder

__all__ = ["FeaturisedAcquisition", "torch_features"]


def torch_features(X: Tensor, encoder: SpaceEncoder) -> Tensor:
    """``... x dim`` cube points -> ``... x (dim + len(encoder.conditions))`` features, differentiable in X."""
    d, shape = encoder.dim, X.shape
    flat = X.reshape(-1, d)
    active = encoder.active(flat.detach().cpu().numpy())
    mask = torch.ones_like(flat, dtype=torch.bool)
    for name, column in ((c.name, j) for j, c in enumerate(encoder.columns)):
        if encoder.space[name].active_if is not None:
            mask[:, column] = torch.as_tensor(active[name], device=X.device)
    values = torch.where(mask, flat, torch.full_like(flat, 0.5))
    indicators = torch.stack([torch.as_tensor(active[g[0]], device=X.device, dtype=X.dtype)
                              for g in encoder.conditions], dim=-1)
    return torch.cat([values, indicators], dim=-1).reshape(*shape[:-1], d + len(encoder.conditions))


class FeaturisedAcquisition(AcquisitionFunction):
    """``acqf(features(X))`` for cube points ``X`` (``batch x q x dim``; module docstring).

    Pending points set by an optimiser (sequential greedy batches) are cube points too: they
    are featurised and appended to the pending points the wrapped acquisition was built with.
    """

    def __init__(self, acqf: Any, encoder: SpaceEncoder) -> None:
        super().__init__(model=acqf.model)
        self.acqf, self.encoder = acqf, encoder
        self._base_pending = getattr(acqf, "X_pending", None)
        self.X_pending: Tensor | None = None

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:  # noqa: N803 (BoTorch's name)
        self.X_pending = X_pending
        parts = [p for p in (self._base_pending,
                             None if X_pending is None else torch_features(X_pending, self.encoder)) if p is not None]
        self.acqf.set_X_pending(torch.cat(parts, dim=-2) if parts else None)

    def forward(self, X: Tensor) -> Tensor:  # noqa: N803
        return self.acqf(torch_features(X, self.encoder))

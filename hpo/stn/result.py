"""The outcome of :func:`hpo.stn.train`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from hpo.errors import StnError

if TYPE_CHECKING:
    import pandas as pd

    from hpo.stn.models import StnModel

__all__ = ["StnResult"]


def mean_loss(loss: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The unregularised mean loss: cross-entropy of logits (B, K) and labels (B,), or the squared error
    of outputs (B, 1) and targets (B,)."""
    if loss == "cross_entropy":
        return F.cross_entropy(logits, y)
    return F.mse_loss(logits.reshape(-1), y.reshape(-1))


@dataclass
class StnResult:
    """A finished (or stopped) STN run.

    Attributes:
        model: the trained model at its final hyperparameters.
        best_val_loss: the lowest validation loss of the evaluations.
        final_values: name -> the hyperparameter's final value.
        schedule: one row per evaluation: ``step`` (weight steps), ``val_loss`` and one column per
            hyperparameter (its value then).
        seconds: the wall-clock of training (summed over resumed parts).
        weight_steps: the number of weight steps taken.
        stopped: why training ended: ``"done"``, ``"early_stopping"``, ``"max_seconds"``, ``"callback"``
            or ``"trial"`` (``trial.should_stop()``).
        loss: the loss used (``"cross_entropy"`` or ``"mse"``).
        extra: ``lr`` (the weights' final learning rate) and ``hyper_steps`` (hyperparameter steps taken).
    """

    model: StnModel
    best_val_loss: float
    final_values: dict[str, float]
    schedule: pd.DataFrame
    seconds: float
    weight_steps: int
    stopped: str = "done"
    loss: str = "cross_entropy"
    extra: dict[str, Any] = field(default_factory=dict)

    @torch.no_grad()
    def predict(self, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Outputs (N, out) at the final hyperparameters, without dropout or augmentation."""
        if not isinstance(X, torch.Tensor) or X.dim() < 2:
            raise StnError(f"X must be a tensor of shape (N, ...), but got {getattr(X, 'shape', type(X).__name__)}")
        self.model.eval()
        device = next(self.model.parameters()).device
        hyper = self.model.hyper.current()
        parts = [self.model(X[i:i + batch_size].to(device), hyper, train=False) for i in range(0, len(X), batch_size)]
        return torch.cat(parts) if parts else torch.empty(0)

    def evaluate(self, X: torch.Tensor, y: torch.Tensor) -> float:
        """The mean loss on ``(X, y)`` (cross-entropy, or squared error for ``loss="mse"``) at the final
        hyperparameters, in evaluation mode."""
        if not isinstance(y, torch.Tensor) or len(y) != len(X):
            raise StnError(f"y must be a tensor with one row per row of X ({len(X)}), but got "
                           f"{getattr(y, 'shape', type(y).__name__)}")
        logits = self.predict(X)
        return float(mean_loss(self.loss, logits, y.to(logits.device)))

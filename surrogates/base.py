"""The surrogate seam: observations in the unit cube -> a BoTorch ``Model``.

A :class:`Surrogate` implements one abstract method, :meth:`Surrogate.fit`,
which takes the observations and returns a fitted BoTorch
:class:`~botorch.models.model.Model`. ``model.posterior(X)`` with ``X`` of shape
``batch x q x d`` is then the only thing acquisition functions use, so every
BoTorch acquisition works with every surrogate.

Conventions (shared by every surrogate):

* ``X`` is ``n x d`` with values in ``[0, 1]`` (:mod:`hpo.encoding`,
  ``onehot=False``); categorical columns hold ``(i + 0.5) / k`` and are named by
  the ``categorical`` argument (column -> ``k``). Inactive conditional
  parameters are imputed as 0.5 by the encoder.
* ``Y`` is ``n x m`` (``m`` outcomes, BoTorch's convention: larger is better for
  an objective; the surrogate does not care), ``Yvar`` an optional ``n x m``
  tensor of known observation-noise variances (>= 0).
* The returned model is in eval mode, on the device and dtype of ``X``, and its
  posterior is in the original scale of ``Y``: ``posterior(X).mean`` is
  ``batch x q x m`` for ``X`` of shape ``batch x q x d``.
* ``seed`` makes the fit deterministic: torch's global generator is seeded inside
  :func:`torch.random.fork_rng`, so the caller's random state is left untouched.
"""

from __future__ import annotations

import contextlib
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from hpo.errors import ValidationError
from hpo.validators import is_int

if TYPE_CHECKING:
    from botorch.models.model import Model

__all__ = [
    "Surrogate",
    "ShapeError",
    "FitFallbackWarning",
    "check_training_data",
    "check_test_inputs",
    "training_subset",
    "seeded",
]


class ShapeError(ValidationError):
    """A tensor given to a surrogate or its model has the wrong shape or values."""


class FitFallbackWarning(UserWarning):
    """Fitting failed and the surrogate fell back to fixed hyperparameters."""


class Surrogate(ABC):
    """Fits observations and returns a BoTorch model with a posterior.

    Class attributes describe what the returned models support:

    - ``supports_multi_output``: ``Y`` may have ``m > 1`` columns (e.g. an
      objective plus outcome constraints);
    - ``supports_yvar``: known noise variances ``Yvar`` are used;
    - ``supports_fantasies``: the model implements ``fantasize`` /
      ``condition_on_observations`` (needed by knowledge gradient and max-value
      entropy search).
    """

    name: ClassVar[str] = "surrogate"
    supports_multi_output: ClassVar[bool] = True
    supports_yvar: ClassVar[bool] = False
    supports_fantasies: ClassVar[bool] = False

    @abstractmethod
    def fit(
        self,
        X: Tensor,
        Y: Tensor,
        Yvar: Tensor | None = None,
        *,
        categorical: Mapping[int, int] | None = None,
        seed: int | None = None,
    ) -> Model:
        """Fit the observations and return a BoTorch model.

        Args:
            X: ``n x d`` inputs in the unit cube.
            Y: ``n x m`` outcomes.
            Yvar: optional ``n x m`` observation-noise variances.
            categorical: column index -> number of categories, for the
                index-encoded categorical columns of ``X``.
            seed: makes the fit deterministic (None: not reproducible).

        Returns:
            A model in eval mode whose posterior over ``X`` of shape
            ``batch x q x d`` has mean ``batch x q x m`` in the scale of ``Y``.
        """

    def reset(self) -> None:
        """Forget any state kept between fits (e.g. warm-start hyperparameters)."""

    def options(self) -> dict[str, Any]:
        """The options this surrogate was built with (JSON-serialisable)."""
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


def _as_tensor(name: str, value: Any, like: Tensor | None) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise ShapeError(f"{name}: expected a torch.Tensor, but got {type(value).__name__}")
    if not value.is_floating_point():
        raise ShapeError(f"{name}: expected a floating-point tensor, but got dtype {value.dtype}")
    return value if like is None else value.to(like)


def check_training_data(
    X: Any,
    Y: Any,
    Yvar: Any = None,
    categorical: Mapping[int, int] | None = None,
    who: str = "surrogate",
) -> tuple[Tensor, Tensor, Tensor | None, dict[int, int]]:
    """Validate training data; return ``(X, Y, Yvar, categorical)`` with ``Y``/``Yvar`` cast to ``X``.

    Raises:
        ShapeError: naming the expected and the actual shape (or the bad values).
    """
    X = _as_tensor(f"{who}.fit: X", X, None)
    Y = _as_tensor(f"{who}.fit: Y", Y, X)
    if X.ndim != 2:
        raise ShapeError(f"{who}.fit: X must have shape (n, d), but got shape {tuple(X.shape)}")
    n, d = X.shape
    if Y.ndim != 2 or Y.shape[0] != n:
        raise ShapeError(f"{who}.fit: Y must have shape ({n}, m) to match X of shape {tuple(X.shape)}, "
                         f"but got shape {tuple(Y.shape)}")
    if n < 1 or d < 1 or Y.shape[1] < 1:
        raise ShapeError(f"{who}.fit: need n >= 1 observations, d >= 1 and m >= 1 outcomes, but got "
                         f"X of shape {tuple(X.shape)} and Y of shape {tuple(Y.shape)}")
    if not torch.isfinite(X).all() or not torch.isfinite(Y).all():
        raise ShapeError(f"{who}.fit: X and Y must be finite, but got NaN/inf in "
                         f"{'X' if not torch.isfinite(X).all() else 'Y'}")
    if X.min() < -1e-6 or X.max() > 1 + 1e-6:
        raise ShapeError(f"{who}.fit: X must lie in the unit cube [0, 1]^d, but got values in "
                         f"[{X.min().item():.6g}, {X.max().item():.6g}]")
    if Yvar is not None:
        Yvar = _as_tensor(f"{who}.fit: Yvar", Yvar, X)
        if Yvar.shape != Y.shape:
            raise ShapeError(f"{who}.fit: Yvar must have the shape of Y {tuple(Y.shape)}, "
                             f"but got shape {tuple(Yvar.shape)}")
        if not torch.isfinite(Yvar).all() or (Yvar < 0).any():
            raise ShapeError(f"{who}.fit: Yvar must be finite and >= 0, but got values in "
                             f"[{Yvar.min().item():.6g}, {Yvar.max().item():.6g}]")
    cats: dict[int, int] = {}
    for col, k in dict(categorical or {}).items():
        if not is_int(col) or not 0 <= col < d:
            raise ShapeError(f"{who}.fit: categorical columns must be integers in [0, {d}), but got {col!r}")
        if not is_int(k) or k < 1:
            raise ShapeError(f"{who}.fit: categorical[{col}] must be a number of categories >= 1, but got {k!r}")
        cats[int(col)] = int(k)
    return X.clamp(0.0, 1.0), Y, Yvar, cats


def check_test_inputs(X: Any, d: int, who: str = "model") -> Tensor:
    """Validate posterior inputs: ``q x d`` or ``batch x q x d`` with the training ``d``."""
    if not isinstance(X, Tensor):
        raise ShapeError(f"{who}.posterior: expected a torch.Tensor, but got {type(X).__name__}")
    if X.ndim < 2 or X.shape[-1] != d:
        raise ShapeError(f"{who}.posterior: X must have shape (batch x) q x {d}, but got shape {tuple(X.shape)}")
    return X


def training_subset(y: Tensor, max_points: int | None, seed: int | None = None) -> Tensor | None:
    """Rows to fit on when there are more than ``max_points`` observations.

    The rule: keep the ``max_points // 3`` best rows (largest ``y``), plus a
    uniform random sample (seeded by ``seed``) of ``max_points - max_points // 3``
    of the remaining rows. The best rows keep the model accurate where the
    optimiser looks; the random rest keeps the density of the observations (and
    so the model's picture of the whole space), unlike a max-min spread, which
    would over-represent the edges.

    Args:
        y: ``n`` values (larger is better), e.g. ``Y[:, 0]``.
        max_points: the cap (None: no cap).
        seed: seeds the random part.

    Returns:
        Sorted row indices (a long tensor on ``y``'s device), or None when every
        row is kept.
    """
    n = int(y.shape[0])
    if max_points is None or n <= max_points:
        return None
    n_best = max_points // 3
    order = torch.argsort(y.detach().cpu(), descending=True, stable=True)
    best, rest = order[:n_best], order[n_best:]
    rng = np.random.default_rng(seed)
    picked = rest[torch.from_numpy(rng.choice(len(rest), size=max_points - n_best, replace=False))]
    return torch.sort(torch.cat([best, picked])).values.to(y.device)


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device | str | None = None) -> Iterator[None]:
    """Seed torch (and Python's ``random``) inside, restoring the caller's state after.

    With ``seed=None`` nothing is seeded (but the state is still restored).
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    devices: list[int] = []
    if device.type == "cuda" or (torch.cuda.is_available() and torch.cuda.is_initialized()):
        devices = list(range(torch.cuda.device_count()))
    py_state = random.getstate()
    try:
        with torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(int(seed) % 2**63)
                random.seed(int(seed))
            yield
    finally:
        random.setstate(py_state)

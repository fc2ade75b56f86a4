"""Gaussian-process surrogate on BoTorch's ``SingleTaskGP``.

* Outcomes are standardised (BoTorch's ``Standardize`` outcome transform, the
  posterior is returned in the original scale); inputs are already in the unit
  cube, so there is no input transform.
* Kernel: Matern-5/2 with ARD and BoTorch's dimension-scaled log-normal
  lengthscale prior; with index-encoded categorical columns, ``categorical_kernel``
  picks ``"hamming"`` (:func:`hpo.kernels.mixed_kernel`: sum + product with BoTorch's
  categorical kernel, as ``MixedSingleTaskGP``) or ``"overlap"`` (one Matern-5/2 over the
  numerical and Hamming distances, as Optuna's GPSampler:
  :class:`hpo.kernels.overlap.HammingMaternKernel`). Measured in
  ``benchmarks/categorical_kernels.py``.
  Integer columns are treated as continuous by the kernel; the acquisition
  optimiser keeps them on their grid.
* Noise: inferred (Gaussian likelihood with BoTorch's log-normal noise prior),
  or fixed per observation when ``Yvar`` is given (heteroscedastic noise).
* ``m > 1`` outcomes give a batched multi-output GP (independent outputs).
* Fitting: L-BFGS-B on the exact marginal log likelihood through
  ``fit_gpytorch_mll``. The first attempt starts from the previous fit's
  hyperparameters (warm start, when the previous fit had the same shapes), the
  next ``max_attempts - 1`` attempts from draws of the priors; if every attempt
  fails, the model keeps its initial (prior-mode) hyperparameters and a
  :class:`~hpo.surrogates.base.FitFallbackWarning` is issued: a fit never
  crashes on bad data.
* Persisted warm start: :meth:`GPSurrogate.state` gives the last fit's
  hyperparameters as JSON data and :meth:`GPSurrogate.load_state` takes them back
  (in another process), so the first fit of a resumed study starts where the
  last one ended (the BO sampler stores it with each trial it suggests,
  :mod:`hpo.samplers.fit_state`).
* Cap: with more than ``max_points`` observations the GP is fitted on a subset
  (:func:`hpo.surrogates.base.training_subset`: the best third plus a seeded
  random sample of the rest), which bounds the cost of a fit and of the
  acquisition however large the study grows.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from botorch.exceptions.errors import BotorchError, ModelFittingError
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from hpo.errors import SurrogateError
from gpytorch.kernels import ScaleKernel

from hpo.kernels.categorical import mixed_kernel
from hpo.kernels.overlap import HammingMaternKernel
from hpo.validators import optional, positive_int
from hpo.surrogates.base import (
    FitFallbackWarning,
    Surrogate,
    check_test_inputs,
    check_training_data,
    seeded,
    training_subset,
)

__all__ = ["GPSurrogate", "HpoSingleTaskGP", "CATEGORICAL_KERNEL"]

_CATEGORICAL_KERNELS = ("hamming", "overlap")
#: The default kernel on unordered categorical columns (chosen by benchmarks/categorical_kernels.py).
CATEGORICAL_KERNEL = "hamming"


class HpoSingleTaskGP(SingleTaskGP):
    """``SingleTaskGP`` whose ``posterior`` checks the input shape first (``batch x q x d``)."""

    def posterior(self, X: Tensor, *args: Any, **kwargs: Any) -> Any:
        check_test_inputs(X, self.train_inputs[0].shape[-1], "gp")
        return super().posterior(X, *args, **kwargs)


class GPSurrogate(Surrogate):
    """Exact GP (``SingleTaskGP``, Matern-5/2 ARD, standardised outcomes).

    Args:
        max_points: fit on at most this many observations (None: all). See the
            module docstring for the rule.
        warm_start: start each fit from the previous fit's hyperparameters.
        max_attempts: fitting attempts (the first from the warm start or the
            defaults, the others from prior draws) before falling back to fixed
            hyperparameters.
        maxiter: L-BFGS-B iterations per attempt.
        categorical_kernel: ``"hamming"`` or ``"overlap"`` (module docstring).
    """

    name: ClassVar[str] = "gp"
    supports_multi_output: ClassVar[bool] = True
    supports_yvar: ClassVar[bool] = True
    supports_fantasies: ClassVar[bool] = True

    def __init__(self, max_points: int | None = 300, warm_start: bool = True, max_attempts: int = 3,
                 maxiter: int = 200, categorical_kernel: str = CATEGORICAL_KERNEL) -> None:
        self.max_points = optional(positive_int, f"{self.name}: max_points", max_points, SurrogateError, minimum=3)
        self.warm_start = bool(warm_start)
        self.max_attempts = positive_int(f"{self.name}: max_attempts", max_attempts, SurrogateError)
        self.maxiter = positive_int(f"{self.name}: maxiter", maxiter, SurrogateError)
        if categorical_kernel not in _CATEGORICAL_KERNELS:
            raise SurrogateError(f"{self.name}: unknown categorical_kernel {categorical_kernel!r}; valid: {list(_CATEGORICAL_KERNELS)}")
        self.categorical_kernel = categorical_kernel
        self._warm: dict[str, Tensor] | None = None
        self._warm_key: tuple | None = None
        #: Whether the last fit fell back to fixed hyperparameters.
        self.last_fit_failed = False

    def options(self) -> dict[str, Any]:
        return {"max_points": self.max_points, "warm_start": self.warm_start,
                "max_attempts": self.max_attempts, "maxiter": self.maxiter, "categorical_kernel": self.categorical_kernel}

    def reset(self) -> None:
        self._warm, self._warm_key = None, None

    def _build(self, X: Tensor, Y: Tensor, Yvar: Tensor | None, categorical: Mapping[int, int]) -> HpoSingleTaskGP:
        m = Y.shape[-1]
        batch = torch.Size([m]) if m > 1 else torch.Size()
        if categorical and self.categorical_kernel == "overlap":
            covar = ScaleKernel(HammingMaternKernel(X.shape[-1], categorical, batch_shape=batch), batch_shape=batch)
        else:
            covar = mixed_kernel(X.shape[-1], categorical, batch_shape=batch)
        return HpoSingleTaskGP(
            X, Y, train_Yvar=Yvar,
            covar_module=covar,
            outcome_transform=Standardize(m=m),
        )

    def fit(
        self,
        X: Tensor,
        Y: Tensor,
        Yvar: Tensor | None = None,
        *,
        categorical: Mapping[int, int] | None = None,
        seed: int | None = None,
    ) -> HpoSingleTaskGP:
        """Fit the GP; see :meth:`hpo.surrogates.Surrogate.fit` for shapes (``X``: ``n x d``, ``Y``: ``n x m``)."""
        X, Y, Yvar, cats = check_training_data(X, Y, Yvar, categorical, who=self.name)
        rows = training_subset(Y[:, 0], self.max_points, seed)
        if rows is not None:
            X, Y = X[rows], Y[rows]
            Yvar = None if Yvar is None else Yvar[rows]
        key = _shape_key(X.shape[-1], Y.shape[-1], cats, Yvar is None)
        with seeded(seed, X.device):
            model = self._build(X, Y, Yvar, cats)
            if self.warm_start and self._warm is not None and self._warm_key == key:
                self._load(model, self._warm)
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", OptimizationWarning)  # retries are ours to report
                    fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": self.maxiter}},
                                     max_attempts=self.max_attempts)
                self._check_finite(model)
            except (ModelFittingError, BotorchError, RuntimeError, ValueError) as exc:  # every attempt failed
                warnings.warn(
                    f"{self.name}: fitting the hyperparameters on {X.shape[0]} observations failed after "
                    f"{self.max_attempts} attempt(s) ({type(exc).__name__}: {exc}); using fixed default "
                    "hyperparameters (the priors' modes) for this fit",
                    FitFallbackWarning, stacklevel=2,
                )
                model = self._build(X, Y, Yvar, cats)
                self._warm, self._warm_key, self.last_fit_failed = None, None, True
            else:
                self._warm = {k: v.detach().clone() for k, v in model.named_parameters()}
                self._warm_key, self.last_fit_failed = key, False
        return model.eval()

    def state(self) -> dict[str, Any] | None:
        """The last successful fit's hyperparameters as JSON data (None: no fit to start from).

        ``{"key": [d, m, [[column, categories], ...], inferred_noise], "params": {name: nested list}}``:
        the raw (unconstrained) parameters by their ``named_parameters`` name, and the shapes they were
        fitted on; :meth:`load_state` takes it back.
        """
        if self._warm is None or self._warm_key is None:
            return None
        return {"key": _key_json(self._warm_key),
                "params": {k: v.detach().cpu().double().tolist() for k, v in self._warm.items()}}

    def load_state(self, state: Any) -> bool:
        """Take a :meth:`state` back as the warm start of the next fit; return whether it was usable.

        A state that is not of that form (or has non-finite values) is ignored (False): the next fit
        then starts from the defaults, as without a state.
        """
        try:
            key = _shape_key(*_key_from_json(state["key"]))
            params = {str(k): torch.as_tensor(v, dtype=torch.float64) for k, v in state["params"].items()}
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError):
            return False
        if not params or not all(bool(torch.isfinite(v).all()) for v in params.values()):
            return False
        self._warm, self._warm_key = params, key
        return True

    @staticmethod
    def _check_finite(model: SingleTaskGP) -> None:
        for name, value in model.named_parameters():
            if not torch.isfinite(value).all():
                raise BotorchError(f"hyperparameter {name} is not finite after fitting")

    @staticmethod
    def _load(model: SingleTaskGP, state: dict[str, Tensor]) -> None:
        with torch.no_grad():
            for name, param in model.named_parameters():
                old = state.get(name)
                if old is not None and old.shape == param.shape and bool(torch.isfinite(old).all()):
                    param.copy_(old)


def _shape_key(d: int, m: int, cats: Mapping[int, int], inferred_noise: bool) -> tuple:
    """What a warm start must match: input dimension, outputs, categorical columns, noise model."""
    return (int(d), int(m), tuple(sorted((int(j), int(n)) for j, n in cats.items())), bool(inferred_noise))


def _key_json(key: tuple) -> list[Any]:
    d, m, cats, inferred_noise = key
    return [d, m, [list(c) for c in cats], inferred_noise]


def _key_from_json(found: Any) -> tuple[int, int, dict[int, int], bool]:
    d, m, cats, inferred_noise = found
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (d, m)) or not isinstance(inferred_noise, bool):
        raise TypeError(f"gp: a stored fit state's key must be [d, m, categorical, inferred_noise], but got {found!r:.120}")
    return d, m, {int(j): int(n) for j, n in cats}, inferred_noise

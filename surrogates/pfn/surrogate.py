"""The ``"pfn"`` surrogate: one forward pass of the shipped PFN instead of a GP fit.

``fit(X, Y)`` stores the observations as the PFN's context; nothing is trained.

Outcome transform (per column, as PFNs4BO): ``Y`` is z-scored, Yeo-Johnson
power-transformed (scikit-learn's ``PowerTransformer``, skipped with fewer than
3 distinct values; ``y_transform="rank"``: normal scores of the ranks, a
piecewise-linear monotone map instead) and standardised again over the context, which is the scale
the PFN was trained on. Inputs are the unit-cube encoding; categorical columns
are fed as their codes (ordinal), and :meth:`PFNModel.suggest` snaps them back.
With more than ``max_context`` observations the context is a subset
(:func:`hpo.surrogates.base.training_subset`: the best third plus a random rest),
because the PFN was trained on at most that many context points.

Posterior (what BoTorch acquisitions see): for each outcome the PFN's bar
distribution is mapped back to the scale of ``Y`` (the bucket borders go through
the inverse transforms; each inner bucket is taken as uniform there, and the
tails through a 5-point quadrature), and its exact mean and variance give an
independent Normal per point and outcome (a diagonal ``GPyTorchPosterior``). The
PFN predicts noisy observations, so ``observation_noise`` changes nothing, and
points in a ``q``-batch are independent (the PFN has no joint predictive).

Exact acquisitions straight from the bar distribution: BoTorch
``AcquisitionFunction`` classes in :mod:`hpo.surrogates.pfn.acquisition` (EI, the
augmented EI, the default of the ``"pfn-ei"`` sampler: with plain EI the search
kept re-sampling next to the incumbent; PI, UCB, the probability of feasibility
and the constrained EI of PFN4sBO, with its CEI+ variant). :meth:`PFNModel.ei`,
:meth:`~PFNModel.aei`, :meth:`~PFNModel.pi`, :meth:`~PFNModel.ucb`,
:meth:`~PFNModel.pof`, :meth:`~PFNModel.cei` and :meth:`~PFNModel.acquisition`
evaluate them on ``N x d`` points, and :meth:`PFNModel.suggest` maximises
one of them over a scrambled Sobol candidate set (plus perturbations of the best
observations) in one batched forward pass, then refines the best candidates by
two rounds of batched local perturbation (gradient steps through the network
cost about ten times more per unit of improvement on a CPU; the classes also
work with ``botorch.optim.optimize_acqf``). The context's keys and values are cached, so
each forward pass costs only its queries.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultitaskMultivariateNormal, MultivariateNormal
from torch import Tensor

from hpo.errors import SurrogateError
from hpo.surrogates.base import Surrogate, check_test_inputs, check_training_data, seeded, training_subset
from hpo.surrogates.pfn.acquisition import (
    ACQUISITIONS,
    PFNConstrainedExpectedImprovement,
    PFNExpectedImprovement,
    PFNProbabilityOfFeasibility,
    PFNProbabilityOfImprovement,
    PFNUpperConfidenceBound,
    make_pfn_acquisition,
)
from hpo.surrogates.pfn.model import PFN, ModelConfig
from hpo.validators import positive_int

__all__ = ["PFNSurrogate", "PFNModel", "load_pfn", "DEFAULT_WEIGHTS", "ACQUISITIONS"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "pfn_gp_d8.pt"
_CACHE: dict[str, tuple[PFN, dict[str, Any]]] = {}
_HN_Q = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9], dtype=torch.float64)  # tail quadrature levels


def load_pfn(weights: str | Path | None = None) -> tuple[PFN, dict[str, Any]]:
    """The PFN in a weights file (float32, eval mode, cached) and its training config.

    Loaded with ``torch.load(..., weights_only=True)``: no pickled code runs.
    """
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    key = str(path.resolve())
    if key not in _CACHE:
        if not path.is_file():
            raise SurrogateError(f"pfn: weights file {str(path)!r} does not exist")
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != "hpo-pfn-v1":
            raise SurrogateError(f"pfn: {str(path)!r} is not an hpo PFN weights file (format 'hpo-pfn-v1')")
        config = payload["config"]
        sd = {k: v.float() for k, v in payload["state_dict"].items()}
        model = PFN(ModelConfig(**config["model"]), sd["bar.borders"])
        model.load_state_dict(sd)
        model.eval().requires_grad_(False)
        _CACHE[key] = (model, config)
    return _CACHE[key]


def _check_precision(precision: str) -> str:
    if precision not in ("float32", "bfloat16"):
        raise SurrogateError(f"pfn: precision must be 'float32' or 'bfloat16', but got {precision!r}")
    return precision


class _RankMap:
    """Monotone piecewise-linear map from z-scores to normal scores of their ranks (linear beyond the ends)."""

    def __init__(self, z: np.ndarray) -> None:
        from scipy.stats import norm, rankdata

        scores = norm.ppf((rankdata(z) - 0.5) / z.size)
        self.z, idx = np.unique(z, return_index=True)
        self.s = np.array([scores[z == v].mean() for v in self.z])
        dz, ds = self.z[-1] - self.z[0], self.s[-1] - self.s[0]
        self.slope = ds / dz if dz > 0 and ds > 0 else 1.0

    def forward(self, z: np.ndarray) -> np.ndarray:
        out = np.interp(z, self.z, self.s)
        out = np.where(z < self.z[0], self.s[0] + (z - self.z[0]) * self.slope, out)
        return np.where(z > self.z[-1], self.s[-1] + (z - self.z[-1]) * self.slope, out)

    def inverse(self, t: np.ndarray) -> np.ndarray:
        out = np.interp(t, self.s, self.z)
        out = np.where(t < self.s[0], self.z[0] + (t - self.s[0]) / self.slope, out)
        return np.where(t > self.s[-1], self.z[-1] + (t - self.s[-1]) / self.slope, out)


class _OutcomeTransform:
    """z-score -> Yeo-Johnson (``"power"``) or rank normal scores (``"rank"``) -> standardise, for one column."""

    def __init__(self, y: np.ndarray, mode: str = "power") -> None:
        self.mu = float(y.mean())
        sd = float(y.std(ddof=1)) if y.size > 1 else 1.0
        self.sd = sd if math.isfinite(sd) and sd > 1e-12 else 1.0
        z = (y - self.mu) / self.sd
        self.pt: Any = None
        if np.unique(np.round(z, 12)).size >= 3:
            if mode == "rank":
                self.pt = _RankMap(z)
                z = self.pt.forward(z)
            else:
                from sklearn.preprocessing import PowerTransformer

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pt = PowerTransformer(method="yeo-johnson", standardize=True).fit(z.reshape(-1, 1))
                t = pt.transform(z.reshape(-1, 1)).ravel()
                if np.isfinite(t).all():
                    self.pt, z = pt, t
        self.mu2 = float(z.mean())
        sd2 = float(z.std(ddof=1)) if z.size > 1 else 1.0
        self.sd2 = sd2 if math.isfinite(sd2) and sd2 > 1e-12 else 1.0
        self.y_min, self.y_max = float(y.min()), float(y.max())

    def forward(self, y: np.ndarray) -> np.ndarray:
        z = (np.asarray(y, dtype=np.float64) - self.mu) / self.sd
        if isinstance(self.pt, _RankMap):
            z = self.pt.forward(z)
        elif self.pt is not None:
            z = self.pt.transform(z.reshape(-1, 1)).ravel()
        return (z - self.mu2) / self.sd2

    def inverse(self, t: np.ndarray) -> np.ndarray:
        """Monotone inverse; values outside the transform's range are clamped to a wide band around the data."""
        t = np.asarray(t, dtype=np.float64)
        z = t * self.sd2 + self.mu2
        if isinstance(self.pt, _RankMap):
            z = self.pt.inverse(z)
        elif self.pt is not None:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                z = self.pt.inverse_transform(z.reshape(-1, 1)).ravel()
        y = z * self.sd + self.mu
        span = max(self.y_max - self.y_min, self.sd, 1e-9)
        lo, hi = self.y_min - 20 * span, self.y_max + 20 * span
        y = np.where(np.isnan(y), np.where(t < 0, lo, hi), y)
        return np.clip(y, lo, hi)


class PFNModel(Model):
    """The PFN conditioned on a context, as a BoTorch model (see the module docstring).

    Args:
        net: the PFN.
        X: ``n x d`` context inputs (unit cube).
        Y: ``n x m`` context outcomes (original scale).
        categorical: column -> number of categories.
        y_transform: ``"power"`` or ``"rank"`` (see :class:`PFNSurrogate`).
        max_context: most context points (observations plus pending points,
            :meth:`add_pending`); default: no limit.
        precision: ``"float32"`` or ``"bfloat16"`` (the queries' matrix products
            under CPU autocast: about twice as fast where the CPU has bfloat16
            instructions, e.g. AVX512-BF16 or AMX; slower where it has not).
    """

    def __init__(self, net: PFN, X: Tensor, Y: Tensor, categorical: Mapping[int, int] | None = None,
                 y_transform: str = "power", max_context: int | None = None, precision: str = "float32") -> None:
        super().__init__()
        self.net = net
        self.dim = int(X.shape[-1])
        self._num_outputs = int(Y.shape[-1])
        self.categorical = dict(categorical or {})
        self._dtype, self._device = X.dtype, X.device
        Yn = Y.detach().cpu().double().numpy()
        self.transforms = [_OutcomeTransform(Yn[:, j], y_transform) for j in range(self._num_outputs)]
        yt = np.stack([tr.forward(Yn[:, j]) for j, tr in enumerate(self.transforms)])  # m x n
        self.X_ctx = X.detach().float().cpu()
        self.Y_ctx = Y.detach().cpu()
        self.y_t = torch.from_numpy(yt).float()  # m x n, the transformed observations
        self.max_context = max_context
        self.precision = _check_precision(precision)
        self.X_pending = self.X_ctx[:0]  # p x d points under evaluation (add_pending)
        self._believed = self.y_t[:, :0]  # m x p their believed values
        self._encode(self.X_ctx, self.y_t)
        self._moments = self._bucket_moments()

    def _encode(self, X: Tensor, y: Tensor) -> None:
        """Cache the context ``X`` (``n x d``) with transformed targets ``y`` (``m x n``)."""
        with torch.no_grad():
            self._cache = self.net.encode_context(X.expand(self._num_outputs, -1, -1), y)

    def add_pending(self, X: Tensor) -> None:
        """Condition on points under evaluation, ``p x d`` (the kriging believer).

        Each pending point joins the context with the PFN's predicted mean (per
        outcome, in the transformed scale) as its value, so the acquisitions drop
        around it and parallel workers, or the points of one batch, spread out.
        Pending points are not observations: the incumbent (``best_f``),
        feasibility and the noise level stay those of the observed points. When
        observations and pending points exceed ``max_context``, the worst
        observations (by outcome 0) leave the context.
        """
        X = X.detach().float().cpu().reshape(-1, self.dim)
        if X.shape[0] == 0:
            return
        self.noise_variance(0)  # measured on the observations alone
        with torch.no_grad():  # believed given the current context (observations and earlier pending points)
            believed = self.net.bar.mean(self.logits(X))  # m x p
        self.X_pending = torch.cat([self.X_pending, X])
        self._believed = torch.cat([self._believed, believed], 1)
        X_obs, y_obs, X_p, y_p = self.X_ctx, self.y_t, self.X_pending, self._believed
        cap = self.max_context
        if cap is not None and X_obs.shape[0] + X_p.shape[0] > cap:
            room = max(1, cap - X_p.shape[0])
            keep = torch.argsort(y_obs[0], descending=True)[:room]
            X_obs, y_obs = X_obs[keep], y_obs[:, keep]
            X_p, y_p = X_p[X_p.shape[0] - (cap - room):], y_p[:, y_p.shape[1] - (cap - room):]
        self._encode(torch.cat([X_obs, X_p]), torch.cat([y_obs, y_p], 1))

    # -- BoTorch Model API -------------------------------------------------------
    @property
    def num_outputs(self) -> int:
        return self._num_outputs

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()

    def _bucket_moments(self) -> tuple[Tensor, Tensor]:
        """First and second moment of each bucket in the original scale: two ``m x K`` tensors."""
        b = self.net.bar.borders.double()
        w0, w1 = b[1] - b[0], b[-1] - b[-2]
        hn = math.sqrt(2.0) * torch.erfinv(_HN_Q)  # half-normal quantiles
        lo_pts = (b[1] - w0 / 0.6744897501960817 * hn).numpy()
        hi_pts = (b[-2] + w1 / 0.6744897501960817 * hn).numpy()
        m1, m2 = [], []
        for tr in self.transforms:
            ob = np.maximum.accumulate(tr.inverse(b.numpy()))  # monotone despite clamping
            left, right = ob[:-1], ob[1:]
            first = 0.5 * (left + right)
            second = (left * left + left * right + right * right) / 3.0
            lo, hi = tr.inverse(lo_pts), tr.inverse(hi_pts)
            first[0], second[0] = lo.mean(), (lo * lo).mean()
            first[-1], second[-1] = hi.mean(), (hi * hi).mean()
            m1.append(first)
            m2.append(second)
        return torch.tensor(np.stack(m1)), torch.tensor(np.stack(m2))

    def logits(self, X: Tensor) -> Tensor:
        """PFN logits ``m x N x K`` at ``X`` (``N x d``), differentiable in ``X``."""
        x = X.to(torch.float32).cpu().unsqueeze(0).expand(self._num_outputs, -1, -1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            logits = self.net.predict(self._cache, x)
        return logits.float()

    def posterior(self, X: Tensor, output_indices: list[int] | None = None, observation_noise: bool | Tensor = False,
                  posterior_transform: Any = None, **kwargs: Any) -> Any:
        """Independent Normal posterior per point and outcome, mean ``batch x q x m`` in the scale of ``Y``."""
        check_test_inputs(X, self.dim, "pfn")
        shape = X.shape[:-1]
        p = torch.softmax(self.logits(X.reshape(-1, self.dim)).double(), -1)  # m x N x K
        m1, m2 = self._moments
        mean = (p * m1.unsqueeze(1)).sum(-1)
        var = ((p * m2.unsqueeze(1)).sum(-1) - mean * mean)
        scale = torch.tensor([tr.sd for tr in self.transforms], dtype=torch.float64).unsqueeze(-1)
        var = var.clamp_min(1e-10 * scale * scale)
        mean = mean.to(X.dtype).to(X.device).T.reshape(*shape, self._num_outputs)
        var = var.to(X.dtype).to(X.device).T.reshape(*shape, self._num_outputs)
        if output_indices is not None:
            mean, var = mean[..., output_indices], var[..., output_indices]
        mvns = [MultivariateNormal(mean[..., j], torch.diag_embed(var[..., j])) for j in range(mean.shape[-1])]
        dist = mvns[0] if len(mvns) == 1 else MultitaskMultivariateNormal.from_independent_mvns(mvns)
        posterior = GPyTorchPosterior(dist)
        return posterior_transform(posterior) if posterior_transform is not None else posterior

    # -- exact acquisitions on the bar distribution ---------------------------------
    def transformed(self, values: Sequence[float] | Tensor | float, output: int) -> Tensor:
        """Values of outcome ``output`` mapped into the PFN's (transformed) scale."""
        arr = np.atleast_1d(np.asarray(torch.as_tensor(values, dtype=torch.float64).cpu(), dtype=np.float64))
        return torch.from_numpy(self.transforms[output].forward(arr)).float()

    def incumbent(self, output: int, feasible: Tensor | None = None) -> Tensor:
        """The best observed value of ``output`` in the transformed scale (a 0-d tensor; pending points excluded).

        Args:
            output: The outcome column.
            feasible: Optional ``n`` bool mask of the observations to consider
                (ignored when none is True).
        """
        y = self.y_t[output]
        if feasible is not None and bool(feasible.any()):
            y = y[feasible]
        return y.max()

    def noise_variance(self, output: int = 0) -> Tensor:
        """The noise variance the PFN implies (transformed scale): its smallest predictive variance at the context."""
        if not hasattr(self, "_noise_var"):
            with torch.no_grad():
                self._noise_var = self.net.bar.variance(self.logits(self.X_ctx)).min(-1).values  # m
        return self._noise_var[output]

    # the exact acquisitions (classes in hpo.surrogates.pfn.acquisition) on ``N x d`` points -> ``N``
    def ei(self, X: Tensor, output: int = 0, best_f: float | None = None) -> Tensor:
        """Exact EI, ``N`` for ``X`` ``N x d`` (:class:`~hpo.surrogates.pfn.acquisition.PFNExpectedImprovement`)."""
        return PFNExpectedImprovement(self, output, best_f).score(X)

    def aei(self, X: Tensor, output: int = 0, best_f: float | None = None) -> Tensor:
        """Augmented EI, ``N`` (:class:`~hpo.surrogates.pfn.acquisition.PFNExpectedImprovement`, ``augmented``)."""
        return PFNExpectedImprovement(self, output, best_f, augmented=True).score(X)

    def pi(self, X: Tensor, output: int = 0, best_f: float | None = None) -> Tensor:
        """Probability of improvement, ``N`` (:class:`~hpo.surrogates.pfn.acquisition.PFNProbabilityOfImprovement`)."""
        return PFNProbabilityOfImprovement(self, output, best_f).score(X)

    def ucb(self, X: Tensor, output: int = 0, rest_prob: float = 0.159) -> Tensor:
        """The ``1 - rest_prob`` quantile, ``N`` (:class:`~hpo.surrogates.pfn.acquisition.PFNUpperConfidenceBound`)."""
        return PFNUpperConfidenceBound(self, output, rest_prob).score(X)

    def pof(self, X: Tensor, output: int, threshold: float = 0.0) -> Tensor:
        """``P(outcome <= threshold)``, ``N`` (:class:`~hpo.surrogates.pfn.acquisition.PFNProbabilityOfFeasibility`)."""
        return PFNProbabilityOfFeasibility(self, output, threshold).score(X)

    def cei(self, X: Tensor, constraints: Mapping[int, float | tuple[str, float]], objective: int = 0,
            plus: bool = False, augmented: bool = False) -> Tensor:
        """Constrained EI, ``N`` (:class:`~hpo.surrogates.pfn.acquisition.PFNConstrainedExpectedImprovement`)."""
        return PFNConstrainedExpectedImprovement(self, constraints, objective, plus, augmented).score(X)

    def acquisition(self, X: Tensor, name: str = "ei", constraints: Mapping[int, Any] | None = None,
                    **options: Any) -> Tensor:
        """``"ei"``, ``"aei"``, ``"pi"``, ``"ucb"``, ``"cei"``, ``"cei+"`` (``"acei"``, ``"acei+"``: with AEI) -> ``N``.

        See :func:`hpo.surrogates.pfn.acquisition.make_pfn_acquisition`.
        """
        return make_pfn_acquisition(self, name, constraints, **options).score(X)

    def snap(self, X: Tensor) -> Tensor:
        """Categorical columns of ``X`` (``N x d``) moved to their category codes ``(i + 0.5) / k``."""
        X = X.clone()
        for col, k in self.categorical.items():
            X[:, col] = (torch.floor(X[:, col] * k).clamp(0, k - 1) + 0.5) / k
        return X

    def suggest(self, n_candidates: int = 1024, acquisition: str = "ei", constraints: Mapping[int, Any] | None = None,
                n_refine: int = 8, refine_rounds: int = 2, n_local: int = 32, seed: int | None = 0,
                chunk: int = 4096) -> tuple[Tensor, Tensor]:
        """Maximise an exact acquisition over a candidate set, then refine locally; no gradients.

        1. ``n_candidates`` points (3/4 scrambled Sobol, 1/4 Gaussian perturbations,
           sd 0.05, of the best observations) scored in one batched forward pass;
        2. ``refine_rounds`` rounds of local search: ``n_local`` perturbations of each
           of the best ``n_refine`` points so far (sd 0.05, halved every round),
           scored in one batched pass per round.

        Returns:
            ``(x, value)``: the best point ``d`` (dtype of the context) and its acquisition value.
        """
        d = self.dim
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        sobol = torch.quasirandom.SobolEngine(d, scramble=True, seed=int(torch.randint(0, 2**31, (1,), generator=gen)))
        cands = sobol.draw(n_candidates).float()
        n_near = n_candidates // 4
        if n_near:  # perturbations of the best observations
            top = torch.argsort(self.y_t[0], descending=True)[: max(1, min(5, self.y_t.shape[1]))]
            base = self.X_ctx[top[torch.randint(0, len(top), (n_near,), generator=gen)]]
            cands[:n_near] = (base + 0.05 * torch.randn(n_near, d, generator=gen)).clamp(0.0, 1.0)
        cands = self.snap(cands)
        acqf = make_pfn_acquisition(self, acquisition, constraints)
        with torch.no_grad():
            values = torch.cat([acqf.score(c) for c in cands.split(chunk)])
            sd = 0.05
            for _ in range(refine_rounds if n_refine and n_local else 0):
                k = min(n_refine, len(cands))
                top = torch.topk(values, k).indices
                local = cands[top].repeat_interleave(n_local, 0)
                local = self.snap((local + sd * torch.randn(local.shape, generator=gen)).clamp(0.0, 1.0))
                cands = torch.cat([cands[top], local])
                values = torch.cat([values[top], acqf.score(local)])
                sd /= 2
        best = int(values.argmax())
        return cands[best].to(self._dtype).to(self._device), values[best]


class PFNSurrogate(Surrogate):
    """Prior-data fitted network (see the module docstring).

    Args:
        weights: weights file (default: the shipped ``weights/pfn_gp_d8.pt``).
        max_context: most observations used as context (default: the
            ``max_context`` the weights were trained with).
        y_transform: ``"power"`` or ``"rank"`` (module docstring).
        precision: ``"float32"`` or ``"bfloat16"`` (see :class:`PFNModel`).
    """

    name: ClassVar[str] = "pfn"
    supports_multi_output: ClassVar[bool] = True
    supports_yvar: ClassVar[bool] = False
    supports_fantasies: ClassVar[bool] = False

    def __init__(self, weights: str | None = None, max_context: int | None = None, y_transform: str = "power",
                 precision: str = "float32") -> None:
        if y_transform not in ("power", "rank"):
            raise SurrogateError(f"pfn: y_transform must be 'power' or 'rank', but got {y_transform!r}")
        self.weights = weights
        self.max_context = None if max_context is None else positive_int("pfn: max_context", max_context, SurrogateError)
        self.y_transform = y_transform
        self.precision = _check_precision(precision)

    def options(self) -> dict[str, Any]:
        return {"weights": self.weights, "max_context": self.max_context, "y_transform": self.y_transform,
                "precision": self.precision}

    @property
    def max_dim(self) -> int:
        return int(load_pfn(self.weights)[1]["model"]["max_dim"])

    def fit(self, X: Tensor, Y: Tensor, Yvar: Tensor | None = None, *, categorical: Mapping[int, int] | None = None,
            seed: int | None = None) -> PFNModel:
        """Condition the PFN on the observations (``X``: ``n x d``, ``Y``: ``n x m``); no training."""
        X, Y, Yvar, cats = check_training_data(X, Y, Yvar, categorical, who="pfn")
        if Yvar is not None:
            raise SurrogateError("pfn: known observation noise (Yvar) is not supported; use the 'gp' surrogate")
        net, config = load_pfn(self.weights)
        limit = int(config["model"]["max_dim"])
        if X.shape[-1] > limit:
            raise SurrogateError(f"pfn: the search space has {X.shape[-1]} dimensions, but the PFN was trained for at "
                               f"most {limit} (max_dim={limit}); use surrogate 'gp' for this space")
        cap = self.max_context if self.max_context is not None else int(config["max_context"])
        rows = training_subset(Y[:, 0], cap, seed=0 if seed is None else seed)
        if rows is not None:
            X, Y = X[rows], Y[rows]
        with seeded(seed, X.device):
            return PFNModel(net, X, Y, cats, y_transform=self.y_transform, max_context=cap,
                            precision=self.precision).eval()

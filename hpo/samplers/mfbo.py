"""Multi-fidelity Bayesian optimisation: the sampler chooses the configuration *and* the budget.

Registered as ``"mfbo"``::

    hpo.create_study(space=..., fidelity=hpo.Fidelity("epochs", 1, 81), sampler="mfbo")

Unlike a scheduler (which gives budgets to configurations someone else chose), this
sampler returns a :class:`~hpo.samplers.Suggestion` with a budget, so it cannot be
combined with a scheduler. Per suggestion of trial ``number``:

1. Initial design: while ``number < n_initial`` (default ``max(5, 2 * d)``, ``d`` the
   encoded dimension) or fewer than three trials have completed, point ``number`` of a
   scrambled Sobol sequence in ``d + 1`` dimensions (seeded by the study seed): the
   first ``d`` coordinates are the configuration, the last is the fidelity in unit scale
   (``Fidelity.to_unit``; 1 = the target fidelity). The initial trials therefore spread
   evenly over cheap and expensive budgets (mean unit fidelity 1/2).
2. Data: the training trials (``context.training_trials()``, COMPLETE trials), encoded by ``space.encoder(onehot=False)`` (categorical and
   integer columns relaxed to the unit interval) with the unit fidelity of their
   ``attrs["budget"]`` (a trial without one counts as evaluated at ``fidelity.max``)
   as the last column: ``n x (d + 1)``. BoTorch maximises, so the outcome is the
   negated loss, standardised (``Standardize``).
3. Model: BoTorch's ``SingleTaskMultiFidelityGP`` fitted with ``fit_gpytorch_mll``;
   ``kernel="linear_truncated"`` (default, ``LinearTruncatedFidelityKernel``),
   ``"exp_decay"`` (``ExponentialDecayKernel``: an iteration fidelity such as epochs)
   or ``"downsampling"`` (``DownsamplingKernel``: a data fraction).
4. Cost (``cost``): ``"affine"``: ``fixed_cost + budget / fidelity.max`` (a full-fidelity
   evaluation costs ``1 + fixed_cost``; ``AffineFidelityCostModel`` on the unit column for
   linear fidelities, the same formula for log fidelities); ``"learned"``: the measured
   trial durations fitted by non-negative least squares as ``a + b * budget / max``
   seconds (:func:`fit_duration_cost`), the affine model until three completed trials
   with durations at two or more budgets exist.
5. Acquisition (``acquisition``), both divided by the cost through
   ``InverseCostWeightedUtility`` and both measuring the value at the target fidelity
   (``project_to_target_fidelity``): ``"kg"``: ``qMultiFidelityKnowledgeGradient``,
   optimised one-shot with ``optimize_acqf``, its ``current_value`` the maximum of the
   posterior mean at the target fidelity (as BoTorch's multi-fidelity tutorial);
   ``"mes"``: ``qMultiFidelityMaxValueEntropy`` over a Sobol candidate set of
   ``mes_candidates`` points. The configuration and the unit fidelity are optimised
   jointly over the ``(d + 1)``-dimensional unit box; the budget is
   ``fidelity.from_unit(u)`` (rounded for integer fidelities).
6. Pending trials (running or waiting; the context gives their params only) are passed
   as ``X_pending`` at the target fidelity (their budgets are unknown; the target is
   the conservative guess: it discounts the most information). A decoded suggestion that
   repeats a pending configuration, or an evaluated configuration at the same budget,
   is replaced by a random configuration (same budget), so concurrent asks never
   coincide. If fitting or optimisation raises, the sampler warns and suggests a random
   configuration at a random budget (never a crash). The initial design / model switch, the
   seeding, the fallback and the de-duplication are
   :class:`~hpo.samplers.model_based.ModelBasedSampler`'s.

:meth:`MultiFidelityBOSampler.recommend` makes the recommendation at the target
fidelity: the evaluated configuration with the highest posterior mean at ``max``.

Determinism: each suggestion fits a fresh model, seeded from (study seed, trial number)
inside ``torch.random.fork_rng``; a seeded study replays the same suggestions, also
when resumed in a new process. One objective only; outcome constraints are refused.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from botorch.models.deterministic import DeterministicModel

from hpo.errors import SamplerError
from hpo.fidelity import Fidelity
from hpo.records import FrozenTrial
from hpo.registry import check_options
from hpo.samplers.base import SamplingContext, Suggestion, trial_rng
from hpo.samplers.model_based import ModelBasedSampler, model_seed
from hpo.validators import is_number, optional, positive_int

__all__ = [
    "MultiFidelityBOSampler",
    "KERNELS",
    "ACQUISITIONS",
    "COSTS",
    "BudgetCostModel",
    "fit_duration_cost",
    "make_mfbo_sampler",
]

#: kernel options (``SingleTaskMultiFidelityGP``: linear-truncated, exponential-decay or downsampling kernel).
KERNELS: tuple[str, ...] = ("linear_truncated", "exp_decay", "downsampling")
#: acquisition option -> BoTorch class.
ACQUISITIONS: dict[str, str] = {"kg": "qMultiFidelityKnowledgeGradient", "mes": "qMultiFidelityMaxValueEntropy"}
COSTS: tuple[str, ...] = ("affine", "learned")
_MIN_DURATIONS = 3
_DTYPE = torch.float64


def _choice(name: str, value: Any, valid: Sequence[str]) -> str:
    if value not in valid:
        raise SamplerError(f"mfbo: unknown {name} {value!r}; valid values: {list(valid)}")
    return value


# -- cost models ---------------------------------------------------------------------
class BudgetCostModel(DeterministicModel):
    """Cost ``fixed + weight * budget(u) / fidelity.max`` of a point with unit fidelity ``u = X[..., dim]``.

    The budget of a log-scaled fidelity is exponential in ``u``
    (``budget / max = (min / max) ** (1 - u)``); a linear one is affine in ``u``, for which
    :func:`budget_cost_model` returns BoTorch's ``AffineFidelityCostModel`` instead.
    """

    def __init__(self, dim: int, fixed: float, weight: float, fidelity: Fidelity) -> None:
        super().__init__()
        self._num_outputs = 1
        self.dim, self.fixed, self.weight = dim, float(fixed), float(weight)
        self.ratio = fidelity.min / fidelity.max
        self.log = fidelity.log

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``batch x q x (d + 1)`` -> ``batch x q x 1``."""
        u = X[..., self.dim].clamp(0.0, 1.0)
        relative = self.ratio ** (1.0 - u) if self.log else self.ratio + (1.0 - self.ratio) * u
        return (self.fixed + self.weight * relative).unsqueeze(-1)


def budget_cost_model(fidelity: Fidelity, dim: int, fixed: float, weight: float = 1.0) -> DeterministicModel:
    """The cost ``fixed + weight * budget / fidelity.max`` as a BoTorch model of column ``dim`` (unit fidelity)."""
    if fidelity.log:
        return BudgetCostModel(dim, fixed, weight, fidelity)
    from botorch.models.cost import AffineFidelityCostModel

    ratio = fidelity.min / fidelity.max  # budget / max = ratio + (1 - ratio) * u
    return AffineFidelityCostModel(fidelity_weights={dim: weight * (1.0 - ratio)}, fixed_cost=fixed + weight * ratio)


def fit_duration_cost(trials: Sequence[FrozenTrial], fidelity: Fidelity) -> tuple[float, float] | None:
    """Fit measured durations as ``a + b * budget / fidelity.max`` seconds (``a, b >= 0``).

    Uses the trials with a duration (``started_at`` and ``finished_at``); a trial without a
    ``budget`` attribute ran at ``fidelity.max``. Non-negative least squares; the fixed part
    ``a`` is floored at 1% of the full-fidelity cost so that the cheapest budget never looks
    free. Returns ``(a, b)``, or None with fewer than three durations or fewer than two
    distinct budgets (the slope is not identified).
    """
    from scipy.optimize import nnls

    rows = [(float(t.attrs.get("budget", fidelity.max)) / fidelity.max, t.duration.total_seconds())
            for t in trials if t.duration is not None]
    if len(rows) < _MIN_DURATIONS or len({r for r, _ in rows}) < 2:
        return None
    relative, seconds = np.array(rows).T  # (n,), (n,)
    (a, b), _ = nnls(np.column_stack([np.ones_like(relative), relative]), np.maximum(seconds, 0.0))
    if a + b <= 0:
        return None
    return max(float(a), 0.01 * float(a + b)), float(b)


# -- the sampler ---------------------------------------------------------------------
class MultiFidelityBOSampler(ModelBasedSampler):
    """Multi-fidelity BO with ``SingleTaskMultiFidelityGP`` and a cost-aware acquisition.

    Args:
        acquisition: ``"kg"`` (default; multi-fidelity knowledge gradient) or ``"mes"``
            (multi-fidelity max-value entropy).
        kernel: ``"linear_truncated"`` (default), ``"exp_decay"`` (iteration fidelity) or
            ``"downsampling"`` (data-fraction fidelity).
        cost: ``"affine"`` (default: ``fixed_cost + budget / max``) or ``"learned"``
            (fitted to the measured trial durations).
        fixed_cost: the affine model's cost of an evaluation on top of its budget, as a
            fraction of a full-fidelity evaluation (default 0.1; > 0).
        n_initial: Sobol trials before the model is used (None: ``max(5, 2 * d)``).
        num_restarts: restarts of the acquisition optimiser.
        raw_samples: raw samples that pick the restarts' starting points.
        num_fantasies: fantasies of KG, and of MES with pending trials.
        mes_candidates: size of MES's Sobol candidate set.
        maxiter: L-BFGS-B iterations per restart of the acquisition optimiser.
    """

    name: ClassVar[str] = "mfbo"
    chooses_budget: ClassVar[bool] = True
    min_trials: ClassVar[int] = 3
    seed_salt: ClassVar[int] = 0xF1

    def __init__(
        self,
        acquisition: str = "kg",
        kernel: str = "linear_truncated",
        cost: str = "affine",
        *,
        fixed_cost: float = 0.1,
        n_initial: int | None = None,
        num_restarts: int = 3,
        raw_samples: int = 64,
        num_fantasies: int = 8,
        mes_candidates: int = 500,
        maxiter: int = 30,
    ) -> None:
        self.acquisition = _choice("acquisition", acquisition, list(ACQUISITIONS))
        self.kernel = _choice("kernel", kernel, KERNELS)
        self.cost = _choice("cost", cost, COSTS)
        ok = is_number(fixed_cost) and 0 < fixed_cost < np.inf
        if not ok:
            raise SamplerError(f"mfbo: `0 < fixed_cost < inf` must hold, but got fixed_cost={fixed_cost!r}")
        self.fixed_cost = float(fixed_cost)
        self.n_initial = optional(positive_int, "mfbo: n_initial", n_initial, SamplerError)
        self.num_restarts = positive_int("mfbo: num_restarts", num_restarts, SamplerError)
        self.raw_samples = positive_int("mfbo: raw_samples", raw_samples, SamplerError)
        self.num_fantasies = positive_int("mfbo: num_fantasies", num_fantasies, SamplerError)
        self.mes_candidates = positive_int("mfbo: mes_candidates", mes_candidates, SamplerError, minimum=2)
        self.maxiter = positive_int("mfbo: maxiter", maxiter, SamplerError)

    def options(self) -> dict[str, Any]:
        return {
            "acquisition": self.acquisition, "kernel": self.kernel, "cost": self.cost,
            "fixed_cost": self.fixed_cost, "n_initial": self.n_initial, "num_restarts": self.num_restarts,
            "raw_samples": self.raw_samples, "num_fantasies": self.num_fantasies,
            "mes_candidates": self.mes_candidates, "maxiter": self.maxiter,
        }

    # -- checks and data ---------------------------------------------------------------
    def check_context(self, context: SamplingContext) -> None:
        self._fidelity(context)

    @staticmethod
    def _fidelity(context: SamplingContext) -> Fidelity:
        """The study's fidelity, after checking that the study fits this sampler."""
        if context.fidelity is None:
            raise SamplerError("mfbo: multi-fidelity BO chooses a budget per trial, so the study needs a fidelity, "
                               "e.g. create_study(..., fidelity=hpo.Fidelity('epochs', 1, 81))")
        if len(context.objectives) != 1:
            raise SamplerError(f"mfbo: multi-fidelity BO handles one objective, but the study has "
                               f"{len(context.objectives)}: {[o.name for o in context.objectives]}; use sampler 'gp' "
                               f"or 'tpe' (with a scheduler) for several objectives")
        if context.constraints:
            raise SamplerError(f"mfbo: outcome constraints {[c.name for c in context.constraints]} are not "
                               f"supported by multi-fidelity BO; use sampler 'gp' (qLogNEI with constraints)")
        return context.fidelity

    @staticmethod
    def _unit(trial: FrozenTrial, fidelity: Fidelity) -> float:
        return min(max(fidelity.to_unit(float(trial.attrs.get("budget", fidelity.max))), 0.0), 1.0)

    def _data(self, context: SamplingContext, fidelity: Fidelity, trials: list[FrozenTrial]
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``X``: ``n x (d + 1)`` (unit fidelity last), ``Y``: ``n x 1`` (maximised)."""
        encoder = context.space.encoder(onehot=False)
        configs = encoder.encode([t.params for t in trials])  # n x d
        units = np.array([[self._unit(t, fidelity)] for t in trials])  # n x 1
        X = torch.as_tensor(np.hstack([configs, units]), dtype=_DTYPE)
        Y = torch.as_tensor(-context.losses(trials), dtype=_DTYPE)  # n x 1
        return X, Y

    def fit_model(self, X: torch.Tensor, Y: torch.Tensor) -> Any:
        """A fitted ``SingleTaskMultiFidelityGP`` on ``X``: ``n x (d + 1)``, ``Y``: ``n x 1``."""
        from botorch.exceptions.errors import ModelFittingError
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskMultiFidelityGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        if X.ndim != 2 or Y.shape != (X.shape[0], 1):
            raise SamplerError(f"mfbo: expected X of shape (n, d + 1) and Y of shape (n, 1), "
                               f"but got {tuple(X.shape)} and {tuple(Y.shape)}")
        column = X.shape[-1] - 1
        kwargs: dict[str, Any] = {"linear_truncated": True, "data_fidelities": [column]}
        if self.kernel == "exp_decay":
            kwargs = {"linear_truncated": False, "iteration_fidelity": column}
        elif self.kernel == "downsampling":
            kwargs = {"linear_truncated": False, "data_fidelities": [column]}
        model = SingleTaskMultiFidelityGP(X, Y, outcome_transform=Standardize(m=1), **kwargs)
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        except ModelFittingError:  # every attempt failed: BoTorch restored the initial (prior) hyperparameters
            warnings.warn(f"mfbo: fitting the GP on {X.shape[0]} trials failed; using its initial "
                          f"hyperparameters", stacklevel=2)
        model.eval()
        return model

    def cost_model(self, context: SamplingContext, dim: int) -> DeterministicModel:
        """The cost of a point whose unit fidelity is column ``dim`` (see the module docstring)."""
        fidelity = self._fidelity(context)
        if self.cost == "learned":
            fitted = fit_duration_cost(context.training_trials(), fidelity)
            if fitted is not None:
                return budget_cost_model(fidelity, dim, fixed=fitted[0], weight=fitted[1])
        return budget_cost_model(fidelity, dim, fixed=self.fixed_cost)

    # -- suggestions (the pipeline is ModelBasedSampler's) --------------------------------
    def suggest(self, context: SamplingContext) -> Suggestion:
        return Suggestion.of(self.suggest_batch(context, 1)[0])

    def model_errors(self) -> tuple[type[BaseException], ...]:
        from botorch.exceptions.errors import ModelFittingError

        return (*super().model_errors(), ModelFittingError, ValueError)

    def same_evaluation(self, context: SamplingContext, trial: FrozenTrial, budget: float | None) -> bool:
        """An evaluated configuration repeats a suggestion only at the same budget."""
        fidelity = self._fidelity(context)
        return budget is None or fidelity.round(float(trial.attrs.get("budget", fidelity.max))) == budget

    def _suggestion(self, context: SamplingContext, point: np.ndarray) -> Suggestion:
        """The configuration and budget of a point ``(d + 1,)`` of the unit box (unit fidelity last)."""
        fidelity = self._fidelity(context)
        encoder = context.space.encoder(onehot=False)
        d = encoder.dim
        config = encoder.decode(point[:d])[0] if d else context.space.validate({})
        return Suggestion(config, budget=fidelity.from_unit(float(point[d])))

    def initial(self, context: SamplingContext, number: int) -> Suggestion:
        """Point ``number`` of the scrambled Sobol sequence in ``d + 1`` dims (unit fidelity last); with a study
        prior, the configuration's coordinates go through the prior's inverse CDF (the budget's do not)."""
        from scipy.stats import qmc

        encoder = context.space.encoder(onehot=False)
        d = encoder.dim
        seed = context.seed if context.seed is not None else int(context.rng.integers(2**31))
        engine = qmc.Sobol(d=d + 1, scramble=True, seed=seed)
        if number:
            engine.fast_forward(number)
        point = engine.random(1)[0]
        if context.prior and d:
            point[:d] = context.prior.transform_unit(encoder, point[None, :d])[0]
        return self.distinct(context, [self._suggestion(context, point)], list(context.pending))[0]

    def random_suggestion(self, context: SamplingContext, number: int) -> Suggestion:
        """A random configuration at a random budget."""
        u = trial_rng(context.seed, number, salt=self.seed_salt).random()
        return Suggestion(super().random_suggestion(context, number), budget=self._fidelity(context).from_unit(u))

    def propose(self, context: SamplingContext, trials: list[FrozenTrial], pending: list[dict[str, Any]],
                q: int, seed: int) -> list[dict[str, Any]]:
        """Fit the multi-fidelity GP once, then maximise the acquisition ``q`` times, each chosen point joining
        ``X_pending`` (pending configurations at the target fidelity)."""
        from hpo.surrogates.base import seeded

        fidelity = self._fidelity(context)
        X, Y = self._data(context, fidelity, trials)
        encoder = context.space.encoder(onehot=False)
        d = encoder.dim
        X_pending = None
        if pending:
            configs = torch.as_tensor(encoder.encode(pending), dtype=_DTYPE)  # p x d
            X_pending = torch.cat([configs, torch.ones(len(pending), 1, dtype=_DTYPE)], dim=-1)  # p x (d + 1)
        out: list[dict[str, Any]] = []
        with seeded(seed), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # BoTorch's input-scaling/fit chatter
            model = self.fit_model(X, Y)
            for i in range(q):
                acqf = self._acquisition(context, model, d, X_pending, seed + i)
                point = self._optimize(acqf, d).detach()  # 1 x (d + 1)
                out.append(self._suggestion(context, point.cpu().numpy().reshape(-1)))
                target = point.clone()
                target[:, -1] = 1.0
                X_pending = target if X_pending is None else torch.cat([X_pending, target])
        return out

    def _acquisition(self, context: SamplingContext, model: Any, d: int, X_pending: torch.Tensor | None,
                     seed: int) -> Any:
        from botorch.acquisition import qMultiFidelityKnowledgeGradient, qMultiFidelityMaxValueEntropy
        from botorch.acquisition.cost_aware import InverseCostWeightedUtility
        from botorch.acquisition.utils import project_to_target_fidelity
        from botorch.sampling import SobolQMCNormalSampler
        from torch.quasirandom import SobolEngine

        def project(X: torch.Tensor) -> torch.Tensor:
            return project_to_target_fidelity(X=X, target_fidelities={d: 1.0}, d=d + 1)

        utility = InverseCostWeightedUtility(cost_model=self.cost_model(context, d))
        if self.acquisition == "kg":
            sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.num_fantasies]), seed=seed)
            return qMultiFidelityKnowledgeGradient(
                model, num_fantasies=self.num_fantasies, sampler=sampler, X_pending=X_pending,
                current_value=self._target_mean_max(model, d), cost_aware_utility=utility, project=project,
            )
        candidates = SobolEngine(d + 1, scramble=True, seed=seed).draw(self.mes_candidates).to(_DTYPE)
        return qMultiFidelityMaxValueEntropy(model, candidate_set=candidates, num_fantasies=self.num_fantasies,
                                             X_pending=X_pending, cost_aware_utility=utility, project=project)

    def _target_mean_max(self, model: Any, d: int, starts: torch.Tensor | None = None) -> torch.Tensor:
        """The maximum of the posterior mean at the target fidelity (KG's ``current_value``)."""
        return self._target_mean_argmax(model, d, starts)[1]

    def _target_mean_argmax(self, model: Any, d: int, starts: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, mean)``: the configuration (``1 x d``) maximising the posterior mean at the target
        fidelity, from random restarts or from ``starts`` (``r x d``)."""
        from botorch.acquisition import PosteriorMean
        from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
        from botorch.optim import optimize_acqf

        acqf = FixedFeatureAcquisitionFunction(PosteriorMean(model), d=d + 1, columns=[d], values=[1.0])
        bounds = torch.tensor([[0.0] * d, [1.0] * d], dtype=_DTYPE)
        initial = None if starts is None else starts.unsqueeze(-2)  # r x 1 x d
        x, value = optimize_acqf(acqf, bounds, q=1, num_restarts=self.num_restarts if initial is None else len(starts),
                                 raw_samples=self.raw_samples, batch_initial_conditions=initial,
                                 options={"batch_limit": 16, "maxiter": self.maxiter})
        return x, value

    def _optimize(self, acqf: Any, d: int) -> torch.Tensor:
        """The maximiser (``1 x (d + 1)``) over the unit box of configuration and fidelity."""
        from botorch.optim import optimize_acqf

        bounds = torch.tensor([[0.0] * (d + 1), [1.0] * (d + 1)], dtype=_DTYPE)
        candidate, _ = optimize_acqf(acqf, bounds, q=1, num_restarts=self.num_restarts,
                                     raw_samples=self.raw_samples,
                                     options={"batch_limit": 8, "maxiter": self.maxiter})
        return candidate

    # -- recommendation --------------------------------------------------------------------
    def recommend(self, context: SamplingContext, evaluated_only: bool = False) -> dict[str, Any]:
        """The configuration to deploy, judged at the target fidelity.

        With enough data (three completed trials), the configuration with the highest
        posterior mean at the target fidelity: the evaluated configurations are scored at
        the target (one seen only at cheap budgets qualifies), and unless ``evaluated_only``
        the posterior mean is also maximised from the best of them (as BoTorch's
        multi-fidelity tutorial recommends), which may give a configuration not evaluated
        yet. Before that (or if the fit fails): the best trial among those at the highest
        budget evaluated.

        Raises:
            SamplerError: no trial has completed.
        """
        fidelity = self._fidelity(context)
        trials = self.training_data(context)
        if not trials:
            raise SamplerError("mfbo: nothing to recommend: no trial has completed")
        units = np.array([self._unit(t, fidelity) for t in trials])
        losses = context.losses(trials)[:, 0]
        top = np.flatnonzero(units >= units.max() - 1e-12)
        fallback = dict(trials[int(top[np.argmin(losses[top])])].params)
        if len(trials) < self.min_trials:
            return fallback
        from botorch.exceptions.errors import BotorchError, ModelFittingError

        from hpo.surrogates.base import seeded

        X, Y = self._data(context, fidelity, trials)
        X_target = X.clone()
        X_target[:, -1] = 1.0  # every evaluated configuration at the target fidelity
        encoder = context.space.encoder(onehot=False)
        try:
            with seeded(model_seed(context.seed, context.number, 0x5EC)), warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                model = self.fit_model(X, Y)
                with torch.no_grad():
                    mean = model.posterior(X_target).mean.reshape(-1)  # (n,)
                best = dict(trials[int(torch.argmax(mean))].params)
                if evaluated_only or encoder.dim == 0:
                    return best
                starts = X[torch.argsort(mean, descending=True)[: self.num_restarts], :-1]  # r x d
                x, value = self._target_mean_argmax(model, encoder.dim, starts)
        except (BotorchError, ModelFittingError, RuntimeError, ValueError):
            return fallback
        if float(value) <= float(mean.max()):
            return best
        return encoder.decode(x.detach().cpu().numpy())[0]


def make_mfbo_sampler(**options: Any) -> MultiFidelityBOSampler:
    """The registry's factory for ``"mfbo"``: unknown options list the valid ones."""
    check_options("mfbo", MultiFidelityBOSampler, options, SamplerError)
    return MultiFidelityBOSampler(**options)

"""Bayesian optimisation: a surrogate (``hpo.surrogates``) plus a BoTorch acquisition.

Registered as ``"gp"`` and ``"ensemble"`` (``make_sampler("gp", acquisition="ucb")``). The
default sampler of studies with one objective (qLogNEI) and with several (qLogNEHVI).

Per suggestion of trial ``number``:

1. Initial design: while ``number < n_initial`` (default ``max(5, 2 * d)``, the
   rule of Ax, with ``d`` the encoded dimension), or while fewer than two
   trials have completed, the configuration is point ``number`` of the scrambled
   Sobol sequence of :class:`~hpo.samplers.SobolSampler` (the same points).
2. Data: the training trials (``context.training_trials()``: COMPLETE trials, or under a
   scheduler the values at its rung level; FAILED/PRUNED are ignored), encoded into the unit
   cube (``space.encoder(onehot=False)``: numeric or ``ordered=True`` Categoricals are ordinal
   columns, other Categoricals index-encoded labels; :mod:`hpo.choices`) on ``device`` in double
   precision. On a space with conditions the GP sees :meth:`~hpo.encoding.SpaceEncoder.features`:
   inactive parameters at 0.5 plus one active/inactive indicator per condition, so an inactive
   parameter is never taken for the value 0.5 (the acquisition maps each candidate to the
   features of the configuration it decodes to: :mod:`hpo.samplers.bo_features`). BoTorch maximises, so the outcome is the
   negated minimisation-signed loss, power-warped (Yeo-Johnson, strictly
   increasing; ``output_warping="none"`` turns it off), one output per
   objective; each outcome constraint adds an output (not warped: its bound
   stays meaningful).
3. The surrogate is fitted and the acquisition (one objective: ``"logei"``:
   qLogNoisyExpectedImprovement, ``"ucb"``: qUpperConfidenceBound, ``"kg"``:
   qKnowledgeGradient, ``"mes"``: qMaxValueEntropy over a Sobol candidate set;
   several objectives: ``"nehvi"``: qLogNoisyExpectedHypervolumeImprovement, ``"ehvi"``:
   qLogExpectedHypervolumeImprovement over the observed front, ``"parego"``: qLogNEI on a random
   Chebyshev scalarisation, see :mod:`hpo.samplers.mo_acquisition`; ``"auto"`` picks ``"logei"`` for
   one objective, ``"nehvi"`` for two, ``"ehvi"`` for three and ``"parego"`` for four or more) is built with the pending trials as ``X_pending``, so parallel
   workers get different points.
4. Optimisation over the unit cube (:mod:`hpo.samplers.bo_optimize`): ``optimize_acqf`` when every column is
   continuous; otherwise categorical columns, ordinal columns (on their listed values) and
   integer columns with at most 20 grid values are discrete: all combinations are enumerated with
   ``optimize_acqf_mixed`` when there are at most 10 of them (and some column is
   continuous), else ``optimize_acqf_mixed_alternating`` is used. Integer
   columns with more values are relaxed and rounded by ``decode``. The
   knowledge gradient (one-shot) always uses ``optimize_acqf`` on the relaxation.
   ``suggest_batch(context, n)`` optimises ``q = n`` points (sequential greedy).
5. A decoded point that repeats an evaluated, pending or already chosen
   configuration is replaced by a random one; if fitting or optimisation raises,
   the sampler warns and suggests random configurations (never a crash). Steps 1,
   2 and 5 and the seeding are :class:`~hpo.samplers.model_based.ModelBasedSampler`'s.

A study prior (``create_study(prior=...)``, ``context.prior``): the even-numbered initial Sobol
points go through the prior's inverse CDF (:meth:`hpo.priors.Prior.transform_unit`), the odd-numbered
ones stay uniform (insurance against a wrong prior: on the Step Law table a prior 10x off in lr cost
about 4x plain BO's evaluations with an all-prior design, under 1x with this one), and the log
acquisitions of ``"logei"`` and ``"parego"`` are weighted by the prior with a decaying exponent,
πBO (Hvarfner et al. 2022): log α(x) + (prior_beta / n) log π(x), ``n`` the training trials,
through BoTorch's ``PriorGuidedAcquisitionFunction`` rebuilt per suggestion
(:mod:`hpo.priors.torch_prior`). ``"ucb"``, ``"kg"``, ``"mes"`` and ``"nehvi"`` use the prior
in the initial design only (UCB can be negative, KG is one-shot, MES and NEHVI take q = 1 only
in BoTorch's wrapper).

Determinism: every random choice is seeded from (study seed, trial number)
(:func:`~hpo.samplers.model_based.model_seed`) inside :func:`torch.random.fork_rng`, so a seeded study replays the same
suggestions and the caller's global random state is untouched. The GP's warm
start makes suggestions depend on the sampler's previous fits, so a study
resumed in a fresh process may differ slightly from an uninterrupted run.

Outcome constraints (``value <= bound`` / ``>= bound``) are modelled as extra
outputs and passed as BoTorch ``constraints`` (the acquisition is weighted by
the probability of feasibility); ``"logei"``, ``"nehvi"`` and ``"parego"``
support them.

Several objectives: the hypervolume's reference point is ``ref_point`` (objective
name -> value in the objective's own units) where given, else inferred from the
data (the observed feasible front's nadir minus 10% of its range, in the model's
space). The GP's hyperparameters are then fitted from its priors' modes at every
suggestion, not warm-started from the previous fit. On DTLZ2 (3 objectives, 6-D, 60
evaluations, seeds 0-5, ``ehvi``, 2 cores) warm-started fits kept two of the six studies
on the faces of the unit cube (final hypervolumes 0.181 and 0.145; median 0.446), while
cold fits reached a median of 0.482 (0.401-0.508), higher on 5 of the 6 seeds; where
compared, the two fits' marginal likelihoods differed by at most 0.11, so the warm start
only made the sequence of fits path-dependent. A cold fit costs little at the sizes a
multi-objective study reaches (a fresh process's first suggestion at 60 observations:
4.4 s, imports included). ``surrogate_options={"warm_start": True}`` keeps warm starts.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hpo.errors import SamplerError
from hpo.records import Constraint, FrozenTrial
from hpo.registry import check_options
from hpo.samplers import fit_state
from hpo.samplers.base import SamplingContext, Suggestion, trial_rng
from hpo.samplers.bo_optimize import constraint_callable, mc_sampler, optimize_acquisition
from hpo.samplers.model_based import ModelBasedSampler
from hpo.samplers.mo_acquisition import MO_ACQUISITIONS
from hpo.samplers.simple import SobolSampler
from hpo.samplers.warping import OUTPUT_WARPINGS, power_warp
from hpo.validators import is_number, optional, positive_int

if TYPE_CHECKING:
    import torch

    from hpo.encoding import SpaceEncoder
    from hpo.surrogates.base import Surrogate

__all__ = ["BOSampler", "ACQUISITIONS", "make_bo_sampler"]

#: Acquisition names -> BoTorch classes (documentation; built in ``_acquisition``).
ACQUISITIONS: dict[str, str] = {
    "logei": "qLogNoisyExpectedImprovement",
    "ucb": "qUpperConfidenceBound",
    "kg": "qKnowledgeGradient",
    "mes": "qMaxValueEntropy",
}
_NEEDS_FANTASIES = ("kg", "mes")
_CONSTRAINED = ("logei", "nehvi", "ehvi", "parego")
_ALL_ACQUISITIONS = ["auto", *sorted(ACQUISITIONS), *sorted(MO_ACQUISITIONS)]


class BOSampler(ModelBasedSampler):
    """Bayesian optimisation with a pluggable surrogate and a BoTorch acquisition.

    Args:
        surrogate: ``"gp"``, ``"ensemble"``, a ``{"name", "options"}`` mapping or a
            :class:`~hpo.surrogates.Surrogate` instance.
        acquisition: ``"auto"`` (default: ``"logei"`` for one objective, ``"nehvi"`` for
            two, ``"ehvi"`` for three, ``"parego"`` for four or more); one objective: ``"logei"``, ``"ucb"``, ``"kg"`` or ``"mes"``;
            several objectives: ``"nehvi"``, ``"ehvi"`` or ``"parego"``.
        n_initial: Sobol trials before the model is used (None: ``max(5, 2 * d)``).
        surrogate_options: options for a surrogate given by name.
        num_restarts: restarts of the acquisition optimiser.
        raw_samples: raw samples that pick the restarts' starting points.
        mc_samples: quasi-MC samples of MC acquisitions (None: 128 with one objective,
            ``MO_MC_SAMPLES`` = 32 with several, where qLogNEHVI builds one box decomposition per
            sample; see :mod:`hpo.samplers.mo_acquisition`).
        beta: UCB's exploration weight.
        num_fantasies: fantasies of ``"kg"`` and of ``"mes"`` with pending points.
        mes_candidates: size of MES's Sobol candidate set.
        output_warping: ``"power"`` (default): the objective is Yeo-Johnson
            warped before the surrogate sees it (:mod:`hpo.samplers.warping`);
            ``"none"``: raw values (the surrogate standardises them).
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``...
        ref_point: several objectives: objective name -> reference value in the
            objective's units (an upper bound of a minimised objective); objectives
            left out (or None) get a reference inferred from the data.
        prior_beta: πBO's β: with a study prior, the acquisition is weighted by
            ``prior^(prior_beta / n)`` (0 turns the weighting off). Default 3: SMAC's rule of
            ``n_trials / 10`` (from πBO's authors) for the 30-trial budgets of expensive runs; use
            about ``n_trials / 10`` for longer studies.
    """

    name: ClassVar[str] = "bo"
    min_trials: ClassVar[int] = 2
    seed_salt: ClassVar[int] = 0xB0

    def __init__(
        self,
        surrogate: Any = "gp",
        acquisition: str = "auto",
        n_initial: int | None = None,
        *,
        surrogate_options: dict[str, Any] | None = None,
        num_restarts: int = 8,
        raw_samples: int = 256,
        mc_samples: int | None = None,
        beta: float = 2.0,
        num_fantasies: int = 8,
        mes_candidates: int = 1000,
        output_warping: str = "power",
        device: str = "auto",
        ref_point: dict[str, float] | None = None,
        prior_beta: float = 3.0,
    ) -> None:
        from hpo.surrogates import make_surrogate

        if acquisition not in _ALL_ACQUISITIONS:
            raise SamplerError(f"bo: unknown acquisition {acquisition!r}; valid acquisitions: {_ALL_ACQUISITIONS}")
        if surrogate_options is not None and not isinstance(surrogate_options, dict):
            raise SamplerError(f"bo: surrogate_options must be a dict, but got {surrogate_options!r}")
        self.surrogate: Surrogate = make_surrogate(surrogate, **(surrogate_options or {}))
        #: several objectives: the GP fits from its priors' modes at every suggestion unless the user asked
        #: for warm starts (module docstring, "Several objectives")
        self._cold_mo_fits = surrogate == "gp" and "warm_start" not in (surrogate_options or {})
        if acquisition in _NEEDS_FANTASIES and not self.surrogate.supports_fantasies:
            valid = sorted(a for a in ACQUISITIONS if a not in _NEEDS_FANTASIES)
            raise SamplerError(f"bo: acquisition {acquisition!r} needs a surrogate that supports fantasies (e.g. 'gp'); "
                               f"the {self.surrogate.name!r} surrogate supports acquisitions {valid}")
        self.acquisition = acquisition
        self.n_initial = optional(positive_int, "bo: n_initial", n_initial, SamplerError)
        self.num_restarts = positive_int("bo: num_restarts", num_restarts, SamplerError)
        self.raw_samples = positive_int("bo: raw_samples", raw_samples, SamplerError)
        given = optional(positive_int, "bo: mc_samples", mc_samples, SamplerError)
        self._mc_given = given  # None: the defaults (128 for one objective, MO_MC_SAMPLES for several)
        self.mc_samples = 128 if given is None else given
        self.num_fantasies = positive_int("bo: num_fantasies", num_fantasies, SamplerError)
        self.mes_candidates = positive_int("bo: mes_candidates", mes_candidates, SamplerError, minimum=2)
        if not is_number(beta) or not 0 <= beta < float("inf"):
            raise SamplerError(f"bo: `0 <= beta < inf` must hold, but got beta={beta!r}")
        self.beta = float(beta)
        if not is_number(prior_beta) or not 0 <= prior_beta < float("inf"):
            raise SamplerError(f"bo: `0 <= prior_beta < inf` must hold, but got prior_beta={prior_beta!r}")
        self.prior_beta = float(prior_beta)
        self._guide: tuple[Any, SpaceEncoder, int] | None = None  # (prior, encoder, n) during a propose()
        if output_warping not in OUTPUT_WARPINGS:
            raise SamplerError(f"bo: unknown output_warping {output_warping!r}; valid: {list(OUTPUT_WARPINGS)}")
        self.output_warping = output_warping
        self.device_name = self._check_device(device)
        self.ref_point = self._check_ref_point(ref_point)
        self._sobol = SobolSampler()
        self._fitted: dict[str, Any] | None = None  # the fit state of the current suggest_batch (fit_state)
        self._fitted_q = 0

    @staticmethod
    def _check_ref_point(ref_point: Any) -> dict[str, float | None] | None:
        if ref_point is None:
            return None
        if not isinstance(ref_point, dict) or not all(isinstance(k, str) for k in ref_point):
            raise SamplerError(f"bo: ref_point must be a dict objective name -> value, but got {ref_point!r}")
        out: dict[str, float | None] = {}
        for name, value in ref_point.items():
            ok = value is None or (is_number(value)
                                   and np.isfinite(value))
            if not ok:
                raise SamplerError(f"bo: ref_point[{name!r}] must be a finite number or None, but got {value!r}")
            out[name] = None if value is None else float(value)
        return out

    @staticmethod
    def _check_device(device: Any) -> str:
        import torch

        if device == "auto":
            return device
        try:
            torch.device(device)
        except (RuntimeError, TypeError):
            raise SamplerError(f"bo: device must be 'auto' or a torch device name such as 'cpu' or 'cuda', "
                               f"but got {device!r}") from None
        return str(device)

    @property
    def device(self) -> torch.device:
        import torch

        if self.device_name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device_name)

    def options(self) -> dict[str, Any]:
        return {
            "surrogate": self.surrogate.name, "surrogate_options": self.surrogate.options(),
            "acquisition": self.acquisition, "n_initial": self.n_initial, "num_restarts": self.num_restarts,
            "raw_samples": self.raw_samples, "mc_samples": self._mc_given, "beta": self.beta,
            "num_fantasies": self.num_fantasies, "mes_candidates": self.mes_candidates,
            "output_warping": self.output_warping, "device": self.device_name, "ref_point": self.ref_point,
            "prior_beta": self.prior_beta,
        }

    def resolved_acquisition(self, n_objectives: int) -> str:
        """The acquisition used for a study with ``n_objectives`` (``"auto"`` resolved: ``"logei"`` for one,
        ``"nehvi"`` for two, ``"ehvi"`` for three and ``"parego"`` for four or more, where even one exact box
        decomposition per suggestion costs several seconds; see :mod:`hpo.samplers.mo_acquisition`)."""
        if self.acquisition == "auto":
            return {1: "logei", 2: "nehvi", 3: "ehvi"}.get(n_objectives, "parego")
        return self.acquisition

    # -- suggestions (the pipeline is ModelBasedSampler's) ------------------------------
    def suggest_batch(self, context: SamplingContext, n: int) -> list[dict[str, Any]]:
        if context.space.encoder(onehot=False).dim == 0:
            self.check_context(context)
            return [context.space.validate({}) for _ in range(n)]
        self._fitted = None
        out = super().suggest_batch(context, n)
        if self._fitted is None:
            return out
        return [Suggestion(c, budget=Suggestion.of(c).budget, attrs={fit_state.STATE_ATTR: self._fitted})
                if i >= n - self._fitted_q else c for i, c in enumerate(out)]

    def initial(self, context: SamplingContext, number: int) -> dict[str, Any]:
        """Point ``number`` of the scrambled Sobol sequence (:class:`~hpo.samplers.SobolSampler`'s points);
        with a study prior, through the prior for even ``number`` and uniform for odd (module docstring)."""
        at = self._at(context, number)
        if context.prior and number % 2:
            at = dataclasses.replace(at, prior=None)
        return self._sobol.suggest(at)

    @staticmethod
    def _at(context: SamplingContext, number: int) -> SamplingContext:
        return dataclasses.replace(context, number=number, rng=trial_rng(context.seed, number))

    def check_context(self, context: SamplingContext) -> None:
        names = [o.name for o in context.objectives]
        acquisition = self.resolved_acquisition(len(names))
        if len(names) == 1 and acquisition in MO_ACQUISITIONS:
            raise SamplerError(f"bo: acquisition {acquisition!r} is for several objectives, but the study has one "
                               f"({names[0]!r}); valid acquisitions for one objective: {['auto', *sorted(ACQUISITIONS)]}")
        if len(names) > 1:
            if acquisition not in MO_ACQUISITIONS:
                raise SamplerError(f"bo: acquisition {acquisition!r} handles one objective, but the study has "
                                   f"{len(names)}: {names}; valid acquisitions for several objectives: "
                                   f"{['auto', *sorted(MO_ACQUISITIONS)]}")
            if not self.surrogate.supports_multi_output:
                raise SamplerError(f"bo: several objectives need a multi-output surrogate, but "
                                   f"{self.surrogate.name!r} has one output")
        unknown = sorted(set(self.ref_point or {}) - set(names))
        if unknown:
            raise SamplerError(f"bo: ref_point names {unknown}, which are not objectives of the study; "
                               f"valid names: {names}")
        if context.constraints:
            if acquisition not in _CONSTRAINED:
                raise SamplerError(f"bo: outcome constraints {[c.name for c in context.constraints]} need a "
                                   f"feasibility-weighted acquisition {list(_CONSTRAINED)}, but got {acquisition!r}")
            if not self.surrogate.supports_multi_output:
                raise SamplerError(f"bo: outcome constraints need a multi-output surrogate, but "
                                   f"{self.surrogate.name!r} has one output")

    def training_data(self, context: SamplingContext) -> list[FrozenTrial]:
        """The training trials (:meth:`SamplingContext.training_trials`) with finite constraint values."""
        trials = context.training_trials()
        if not context.constraints:
            return trials
        out = []
        for t in trials:
            cv = t.constraint_values or {}
            values = [cv.get(c.name) for c in context.constraints]
            if all(v is not None and np.isfinite(v) for v in values):
                out.append(t)
        return out

    def propose(self, context: SamplingContext, trials: list[FrozenTrial], pending: list[dict[str, Any]],
                q: int, seed: int) -> list[dict[str, Any]]:
        import torch

        from hpo.surrogates.base import seeded

        encoder = context.space.encoder(onehot=False)
        device, dtype = self.device, torch.float64
        featurise = self._featurise if self._uses_features(encoder) else self._cube
        X = torch.as_tensor(featurise(encoder.encode([t.params for t in trials]), encoder),  # n x (d + g)
                            dtype=dtype, device=device)
        raw = -context.losses(trials)  # n x k, maximised
        warped = np.column_stack([power_warp(c) if self.output_warping == "power" else c for c in raw.T])  # n x k
        columns = [warped]
        if context.constraints:
            columns.append(np.array([[t.constraint_values[c.name] for c in context.constraints] for t in trials]))
        Y = torch.as_tensor(np.hstack(columns), dtype=dtype, device=device)  # n x (k + n_constraints)
        X_pending = (torch.as_tensor(featurise(encoder.encode(pending), encoder), dtype=dtype, device=device)
                     if pending else None)
        self._guide = (context.prior, encoder, len(trials)) if context.prior and self.prior_beta > 0 else None
        if self._cold_mo_fits and len(context.objectives) > 1:
            self.surrogate.reset()  # no warm start with several objectives (module docstring)
        else:
            fit_state.restore(self.surrogate, context.history)  # a new process: start from the stored fit
        with seeded(seed, device):
            model = self.surrogate.fit(X, Y, categorical=encoder.category_counts, seed=seed)
            self._fitted, self._fitted_q = fit_state.state_of(self.surrogate), q
            if len(context.objectives) > 1:
                candidates = self._multi_objective(context, model, X, Y, raw, warped, trials, X_pending,
                                                   encoder, q, seed)
            else:
                candidates = self.select_candidates(model, X, X_pending, context.constraints, encoder, q, seed)
        self._guide = None
        return encoder.decode(candidates.detach().cpu().numpy())

    def _uses_features(self, encoder: SpaceEncoder) -> bool:
        """Whether the model sees :meth:`SpaceEncoder.features` (conditional spaces, the GP's own acquisition path)."""
        return (bool(encoder.conditions) and self.surrogate.name == "gp" and self.acquisition not in _NEEDS_FANTASIES
                and type(self).select_candidates is BOSampler.select_candidates)

    @staticmethod
    def _featurise(U: np.ndarray, encoder: SpaceEncoder) -> np.ndarray:
        return encoder.features(U)

    @staticmethod
    def _cube(U: np.ndarray, encoder: SpaceEncoder) -> np.ndarray:
        return U

    # -- acquisition ----------------------------------------------------------------
    def select_candidates(self, model: Any, X: torch.Tensor, X_pending: torch.Tensor | None,
                          constraints: tuple[Constraint, ...], encoder: SpaceEncoder, q: int,
                          seed: int) -> torch.Tensor:
        """The next ``q`` points of a study with one objective: ``q x d`` in the unit cube.

        The extension point for a sampler with its own acquisition path (the
        PFN's exact acquisitions over a candidate set,
        :class:`hpo.samplers.pfn.PFNSampler`): it receives the fitted
        ``model`` (outcome 0 the maximised objective, then one outcome per
        constraint), the ``n x d`` observed inputs ``X``, the ``p x d`` pending
        inputs ``X_pending`` (or None), the study's constraints, the space's
        ``encoder`` and the seed of this suggestion; it runs under
        :func:`hpo.surrogates.base.seeded`. The default builds the BoTorch
        acquisition named by ``acquisition`` and maximises it (module docstring,
        steps 3 and 4).
        """
        acqf = self._acquisition(model, X, X_pending, constraints, seed)
        return self._optimize(acqf, encoder, q)

    def _multi_objective(self, context: SamplingContext, model: Any, X: torch.Tensor, Y: torch.Tensor,
                         raw: np.ndarray, warped: np.ndarray, trials: list[FrozenTrial],
                         X_pending: torch.Tensor | None, encoder: SpaceEncoder, q: int, seed: int) -> torch.Tensor:
        """``q x d`` candidates for several objectives (``Y``: ``n x (k + n_constraints)``, ``raw``/``warped``: ``n x k``)."""
        import torch

        from hpo.samplers import mo_acquisition as mo

        k = raw.shape[1]
        constraints = [constraint_callable(k + j, c) for j, c in enumerate(context.constraints)]
        X_baseline = self._baseline(model, X)
        n_mc = mo.MO_MC_SAMPLES if self._mc_given is None else self._mc_given
        sampler = mc_sampler(model, n_mc, seed)
        Y_obj = Y[:, :k]
        acquisition = self.resolved_acquisition(k)
        if acquisition in ("nehvi", "ehvi"):
            feasible = torch.as_tensor([t.is_feasible(context.constraints) for t in trials], device=Y.device)
            given = None
            if self.ref_point:  # the user's values, mapped like the data (negated, warped)
                given = [None if self.ref_point.get(o.name) is None else
                         mo.warp_value(raw[:, j], warped[:, j], -o.sign * self.ref_point[o.name])
                         for j, o in enumerate(context.objectives)]
            ref = mo.model_ref_point(Y_obj, feasible, given)
            acqf = (mo.nehvi(model, X_baseline, ref, k, Y.shape[-1], constraints, X_pending, sampler)
                    if acquisition == "nehvi" else
                    mo.ehvi(model, Y_obj, feasible, ref, Y.shape[-1], constraints, X_pending, sampler))
            return self._optimize(acqf, encoder, q)
        chosen: list[torch.Tensor] = []  # ParEGO: one weight vector per point of the batch
        for i in range(q):
            pending = [p for p in (X_pending, *chosen) if p is not None]
            weights = mo.random_weights(k, seed + i, Y_obj)
            acqf = self._prior_guided(mo.parego(model, X_baseline, Y_obj, weights, constraints,
                                                torch.cat(pending) if pending else None, sampler))
            chosen.append(self._optimize(acqf, encoder, 1))
        return torch.cat(chosen)

    @staticmethod
    def _baseline(model: Any, X: torch.Tensor) -> torch.Tensor:
        """The observed inputs the model was fitted on (``n x d``; a GP may use a capped subset)."""
        train = getattr(model, "train_inputs", None)
        X_baseline = train[0] if train else X
        return X_baseline.reshape(-1, X_baseline.shape[-2], X_baseline.shape[-1])[0]

    def _acquisition(self, model: Any, X: torch.Tensor, X_pending: torch.Tensor | None,
                     constraints: tuple[Constraint, ...], seed: int) -> Any:
        import torch
        from botorch.acquisition import (
            qKnowledgeGradient,
            qLogNoisyExpectedImprovement,
            qMaxValueEntropy,
            qUpperConfidenceBound,
        )
        from botorch.acquisition.objective import GenericMCObjective
        from botorch.sampling import SobolQMCNormalSampler

        sampler = mc_sampler(model, self.mc_samples, seed)
        acquisition = self.resolved_acquisition(1)
        if acquisition == "logei":
            X_baseline = self._baseline(model, X)
            objective = GenericMCObjective(lambda Z, X=None: Z[..., 0]) if constraints else None
            return self._prior_guided(qLogNoisyExpectedImprovement(
                model, X_baseline=X_baseline, sampler=sampler, objective=objective, X_pending=X_pending,
                constraints=[constraint_callable(j + 1, c) for j, c in enumerate(constraints)] or None,
                prune_baseline=True,
            ))
        if acquisition == "ucb":
            return qUpperConfidenceBound(model, beta=self.beta, sampler=sampler, X_pending=X_pending)
        if acquisition == "kg":
            fantasy_sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.num_fantasies]), seed=seed)
            return qKnowledgeGradient(model, num_fantasies=self.num_fantasies, sampler=fantasy_sampler,
                                      X_pending=X_pending)
        from torch.quasirandom import SobolEngine

        sobol = SobolEngine(X.shape[-1], scramble=True, seed=seed).draw(self.mes_candidates).to(X)
        return qMaxValueEntropy(model, candidate_set=torch.cat([sobol, X]), num_fantasies=self.num_fantasies,
                                X_pending=X_pending)

    def _prior_guided(self, acqf: Any) -> Any:
        """A log acquisition weighted by the study prior (πBO), or itself without one."""
        if self._guide is None:
            return acqf
        from hpo.priors.torch_prior import guided

        prior, encoder, n = self._guide
        return guided(acqf, prior, encoder, n, self.prior_beta, log=True)

    def _optimize(self, acqf: Any, encoder: SpaceEncoder, q: int) -> torch.Tensor:
        if self._uses_features(encoder):
            from hpo.samplers.bo_features import FeaturisedAcquisition

            acqf = FeaturisedAcquisition(acqf, encoder)
        return optimize_acquisition(acqf, encoder, q, self.num_restarts, self.raw_samples, self.device)


def make_bo_sampler(sampler_name: str, /, **options: Any) -> BOSampler:
    """The registry's factory for ``"gp"``, ``"ensemble"`` and ``"pfn"``: unknown options list the valid ones."""
    given = options.pop("surrogate", sampler_name)
    if given != sampler_name:
        raise SamplerError(f"{sampler_name}: the surrogate is fixed by the sampler name, but got surrogate={given!r}; "
                           f"use make_sampler({given!r}) or BOSampler(surrogate=...)")
    check_options(sampler_name, BOSampler, options, SamplerError, skip=("self", "surrogate"))
    return BOSampler(surrogate=sampler_name, **options)

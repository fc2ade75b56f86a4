"""The shared base of model-based samplers: data → ``Surrogate.fit`` → propose.

:class:`ModelBasedSampler` is the one place that decides, for every sampler that
fits a model (BO with a GP, an ensemble or the PFN; the PFN's exact acquisitions;
multi-fidelity BO):

- **the data**: :meth:`ModelBasedSampler.training_data`, by default
  :meth:`SamplingContext.training_trials` (under a scheduler: the values at the
  scheduler's rung level), never ``context.history`` directly;
- **the initial design**: while trial ``number < n_initial`` (default
  ``max(5, 2 * d)``, ``d`` the encoded dimension) or fewer than ``min_trials``
  trials are usable, :meth:`initial` gives the configuration (a space-filling
  design of the subclass; with a study prior, ``context.prior``, the design is drawn from
  the prior: BO's Sobol points go through the prior's inverse CDF);
- **the seeding rule**: every model step of trial ``number`` is seeded with
  :func:`model_seed` ``(seed, number, salt)``, the first word of the seed sequence
  of :func:`~hpo.samplers.base.trial_rng` ``(seed, number, salt)``, so a seeded
  study replays its suggestions; :func:`hpo.surrogates.base.seeded` forks the
  torch generators, so the caller's global random state is untouched;
- **the random fallback**: when fitting or proposing raises one of
  :meth:`model_errors`, the sampler warns and suggests random configurations
  (:meth:`random_configs`; never a crash);
- **de-duplication**: a proposal that repeats an evaluated, pending or already
  chosen configuration is replaced by a random one (:meth:`distinct`);
- **numerical chatter**: warnings of BoTorch, GPyTorch and linear_operator that report
  routine numerics of a model step (jitter added to a not-quite-positive-definite
  matrix, an acquisition restart or a fit that stopped early, input-scaling notes)
  go to the ``hpo.samplers`` logger at DEBUG instead of the user's terminal
  (:func:`model_chatter_to_debug`); every other warning passes through unchanged.

A subclass implements :meth:`propose` (fit its model on the given trials and return
``q`` configurations) and :meth:`initial`; it may override :meth:`check_context`,
:meth:`training_data` and :meth:`same_evaluation` (multi-fidelity BO: a
configuration repeats only an evaluation at the same budget).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from abc import abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.samplers.base import Sampler, SamplingContext, Suggestion, trial_rng

if TYPE_CHECKING:
    from hpo.records import FrozenTrial

__all__ = ["ModelBasedSampler", "fingerprint", "model_seed"]

_RETRIES = 10  # random replacements tried for a repeated configuration


def model_seed(seed: int | None, number: int, salt: int) -> int:
    """The seed of trial ``number``'s model step: the first word of ``trial_rng(seed, number, salt)``'s seed
    sequence (a fresh random seed when the study has no seed)."""
    rng = trial_rng(seed, number, salt)
    if seed is None:
        return int(rng.integers(2**31))
    return int(rng.bit_generator.seed_seq.generate_state(1)[0])  # type: ignore[attr-defined]


def fingerprint(config: dict[str, Any]) -> str:
    """A hashable key of a configuration (equal params, equal key)."""
    return repr(sorted(config.items()))


class ModelBasedSampler(Sampler):
    """A sampler that fits a model on the finished trials (see the module docstring).

    Class attributes:
        min_trials: usable trials needed before the model is used (fewer: initial design).
        seed_salt: the ``salt`` of :func:`model_seed` for this sampler's suggestions.

    Instance attribute ``n_initial`` (None: ``max(5, 2 * d)``) is set by the subclass.
    """

    uses_history: ClassVar[bool] = True
    uses_pending: ClassVar[bool] = True
    min_trials: ClassVar[int] = 2
    seed_salt: ClassVar[int] = 0
    n_initial: int | None = None

    # -- hooks -------------------------------------------------------------------------
    def check_context(self, context: SamplingContext) -> None:
        """Hook: raise :class:`hpo.errors.SamplerError` when the study does not fit this sampler."""

    def training_data(self, context: SamplingContext) -> list[FrozenTrial]:
        """The trials the model is fitted on (default :meth:`SamplingContext.training_trials`)."""
        return context.training_trials()

    @abstractmethod
    def initial(self, context: SamplingContext, number: int) -> dict[str, Any]:
        """The initial-design configuration of trial ``number`` (a dict or a :class:`Suggestion`)."""

    @abstractmethod
    def propose(self, context: SamplingContext, trials: list[FrozenTrial], pending: list[dict[str, Any]],
                q: int, seed: int) -> list[dict[str, Any]]:
        """Fit the model on ``trials`` and return ``q`` configurations (dicts or :class:`Suggestion` s).

        ``pending`` holds the configurations being evaluated and those already chosen in this
        batch; ``seed`` is this suggestion's :func:`model_seed`. It may raise one of
        :meth:`model_errors`: the base then falls back to random configurations.
        """

    def model_errors(self) -> tuple[type[BaseException], ...]:
        """The errors of a model step that trigger the random fallback (BoTorch's and torch's)."""
        from botorch.exceptions.errors import BotorchError

        return (BotorchError, RuntimeError)

    def same_evaluation(self, context: SamplingContext, trial: FrozenTrial, budget: float | None) -> bool:
        """Hook: whether ``trial`` counts as an evaluation of a suggestion at ``budget`` (default: always)."""
        return True

    def random_suggestion(self, context: SamplingContext, number: int) -> dict[str, Any]:
        """The random fallback for trial ``number`` (from the study prior when there is one; subclasses
        choosing a budget add one)."""
        rng = trial_rng(context.seed, number, salt=1)
        return context.prior.sample(context.space, rng) if context.prior else context.space.sample(rng)

    # -- the pipeline ------------------------------------------------------------------
    def resolved_n_initial(self, dim: int) -> int:
        """Trials of the initial design for an encoded dimension ``dim``."""
        return self.n_initial if self.n_initial is not None else max(5, 2 * dim)

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        return self.suggest_batch(context, 1)[0]

    def suggest_batch(self, context: SamplingContext, n: int) -> list[dict[str, Any]]:
        self.check_context(context)
        n_initial = self.resolved_n_initial(context.space.encoder(onehot=False).dim)
        trials = self.training_data(context)
        out: list[dict[str, Any]] = []
        while len(out) < n and (context.number + len(out) < n_initial or len(trials) < self.min_trials):
            out.append(self.initial(context, context.number + len(out)))
        if len(out) < n:
            pending = [*context.pending, *out]
            q = n - len(out)
            try:
                with model_chatter_to_debug(self.name, context.number):
                    configs = self.propose(context, trials, pending, q, model_seed(context.seed, context.number,
                                                                                   self.seed_salt))
            except self.model_errors() as exc:
                warnings.warn(f"{self.name}: the model step failed for trial {context.number} "
                              f"({type(exc).__name__}: {exc}); suggesting random configurations instead",
                              stacklevel=3)
                configs = self.random_configs(context, q)
            out += self.distinct(context, configs, pending)
        return out

    def random_configs(self, context: SamplingContext, q: int) -> list[dict[str, Any]]:
        """``q`` random configurations for trials ``number .. number + q - 1`` (the one random fallback)."""
        return [self.random_suggestion(context, context.number + i) for i in range(q)]

    def distinct(self, context: SamplingContext, configs: list[dict[str, Any]],
                 pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``configs`` validated, each one that repeats an evaluated (:meth:`same_evaluation`), pending
        or earlier configuration replaced by a random one (a :class:`Suggestion` keeps its budget)."""
        seen = {fingerprint(p) for p in pending}
        evaluated: dict[float | None, set[str]] = {}  # budget -> evaluated configurations
        out: list[dict[str, Any]] = []
        for i, config in enumerate(configs):
            budget = Suggestion.of(config).budget
            if budget not in evaluated:
                evaluated[budget] = {fingerprint(t.params) for t in context.history
                                     if self.same_evaluation(context, t, budget)}
            key, salt = fingerprint(config), 2
            while (key in seen or key in evaluated[budget]) and salt < 2 + _RETRIES:  # a repeat: explore instead
                config = context.space.sample(trial_rng(context.seed, context.number + len(pending) + i, salt=salt))
                key, salt = fingerprint(config), salt + 1
            seen.add(key)
            params = context.space.validate(dict(config))
            out.append(params if budget is None else Suggestion(params, budget=budget))
        return out


_LOG = logging.getLogger("hpo.samplers")
_CHATTER_MODULES = ("botorch", "gpytorch", "linear_operator")
_REISSUED: dict[Any, Any] = {}  # warnings' once-per-location registry for what we re-issue
_CHATTER_MESSAGES = ("Optimization failed in `gen_candidates_scipy`", "Optimization failed within `scipy")


def _is_chatter(message: warnings.WarningMessage) -> bool:
    category = message.category
    module = getattr(category, "__module__", "") or ""
    if module.split(".")[0] in _CHATTER_MODULES:  # OptimizationWarning, NumericalWarning, InputDataWarning, ...
        return True
    return issubclass(category, RuntimeWarning) and str(message.message).startswith(_CHATTER_MESSAGES)


@contextlib.contextmanager
def model_chatter_to_debug(who: str, number: int) -> Iterator[None]:
    """Run a model step with the model libraries' numerical warnings logged at DEBUG on ``hpo.samplers``
    (one line each, naming the sampler and trial); any other warning is re-issued as it was."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for message in caught:
        if _is_chatter(message):
            _LOG.debug("%s, trial %d: %s: %s", who, number, message.category.__name__, message.message)
        else:
            warnings.warn_explicit(message.message, message.category, message.filename, message.lineno,
                                   registry=_REISSUED, source=message.source)

"""The sampler seam: what configuration to try next.

A sampler implements one abstract method, :meth:`Sampler.suggest`, which gets a
:class:`SamplingContext` (the space, the objectives, the finished trials, the
configurations still pending, and a random generator derived from the study
seed and the trial number) and returns one configuration. Batch suggestion
(:meth:`Sampler.suggest_batch`) and the hooks have defaults. Samplers never
read the store themselves: the study hands them an incrementally maintained
history, so a suggestion costs no full re-read of the trials.

Directions are normalised once: :meth:`SamplingContext.losses` gives values to
minimise, so samplers never branch on minimise/maximise.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hpo.records import Constraint, FrozenTrial, Objective, TrialState

if TYPE_CHECKING:
    from hpo.fidelity import Fidelity
    from hpo.priors import Prior
    from hpo.space import SearchSpace

__all__ = ["Sampler", "SamplingContext", "SchedulerData", "Suggestion", "trial_rng"]


def trial_rng(seed: int | None, number: int, salt: int = 0) -> np.random.Generator:
    """A generator that depends only on (study seed, trial number): replays are exact."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(number), int(salt)])


@dataclass(frozen=True)
class SchedulerData:
    """What a scheduler wants the sampler to learn from (the scheduler→sampler contract).

    Under a scheduler, trials stop at different budgets, so their final values are not
    comparable. The scheduler picks one fidelity ``level`` (the highest that enough
    trials reached, as in BOHB) and gives each trial's value *at that level*.

    The study fills it (:meth:`hpo.Study.sampling_context`) from
    :meth:`hpo.schedulers.Scheduler.sampler_data`; it is the only scheduler-specific
    thing a sampler sees, and :meth:`SamplingContext.losses` is the one place its
    values are signed for minimisation.

    Attributes:
        level: the fidelity level the values were read at (one of the scheduler's
            ``levels(fidelity)``).
        trials: one COMPLETE record per configuration, ``values`` in objective units
            (the study's objective names and directions, not sign-flipped) at
            ``level``, ``attrs["level"] == level``; ``number`` is the configuration's
            latest trial (a promoted configuration is resumed by a new trial). Their
            order is the order the configurations first started; while ``level`` stays
            the same the set only grows and a configuration's value does not change.
    """

    level: float
    trials: tuple[FrozenTrial, ...]


@dataclass
class SamplingContext:
    """Everything a sampler may look at to suggest trial ``number``.

    Attributes:
        space: the study's search space.
        objectives: objective names and directions, in the study's order.
        constraints: outcome constraints (may be empty).
        history: finished trials (COMPLETE, PRUNED, FAILED), in finishing order.
        pending: params of trials that are RUNNING or WAITING (being evaluated).
        number: the number of the trial being suggested.
        seed: the study seed (None: not reproducible).
        rng: a generator derived from (seed, number).
        fidelity: the study's fidelity (None: the study has none). Finished trials
            evaluated at a budget carry it as ``trial.attrs["budget"]``.
        scheduler_data: under a scheduler, the values to learn from at one rung level
            (:class:`SchedulerData`); None without a scheduler. ``history`` stays the
            append-only record of finished trials either way.
        prior: the study's :class:`hpo.priors.Prior` (None: no prior). Model-free samplers
            (random, sobol) and the initial designs draw from it; BO weights its
            acquisition by it (πBO); see :mod:`hpo.priors.densities`.

    Samplers that fit a model read :meth:`training_trials` (and :meth:`losses`), which
    picks ``scheduler_data`` when there is one, so they need no scheduler branch.
    """

    space: SearchSpace
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    history: Sequence[FrozenTrial]
    pending: list[dict[str, Any]]
    number: int
    seed: int | None
    rng: np.random.Generator = field(repr=False)
    fidelity: Fidelity | None = None
    scheduler_data: SchedulerData | None = None
    prior: Prior | None = None

    def completed(self) -> list[FrozenTrial]:
        """COMPLETE trials of ``history`` whose values are all finite (safe to hand to a model)."""
        return [t for t in self.history if t.state is TrialState.COMPLETE and t.values]

    def training_trials(self) -> list[FrozenTrial]:
        """The trials a model should be fitted on: ``scheduler_data.trials`` under a scheduler,
        else :meth:`completed`."""
        if self.scheduler_data is not None:
            return list(self.scheduler_data.trials)
        return self.completed()

    def losses(self, trials: Sequence[FrozenTrial] | None = None) -> np.ndarray:
        """Objective values signed for minimisation (the one sign normalisation), shape
        ``(n_trials, n_objectives)``; ``trials`` defaults to :meth:`training_trials`."""
        trials = self.training_trials() if trials is None else trials
        signs = np.array([o.sign for o in self.objectives])
        values = np.array([[t.values[o.name] for o in self.objectives] for t in trials], dtype=float)
        return values.reshape(len(trials), len(self.objectives)) * signs


class Suggestion(dict):
    """A configuration together with the budget to evaluate it at.

    Samplers that choose the fidelity as well as the configuration (multi-fidelity
    BO) return ``Suggestion(params, budget=...)`` from :meth:`Sampler.suggest`; the
    study stores the budget as the trial's ``attrs["budget"]`` (``trial.budget``).
    It is a dict of the params, so code that expects a dict keeps working. ``attrs`` (JSON data)
    are stored with the trial (the BO sampler's fitted model state, :mod:`hpo.samplers.fit_state`).
    """

    def __init__(self, params: dict[str, Any], budget: float | None = None,
                 attrs: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.budget = budget
        self.attrs: dict[str, Any] = dict(attrs or {})

    @classmethod
    def of(cls, suggestion: dict[str, Any]) -> Suggestion:
        """``suggestion`` as a :class:`Suggestion`: itself, or a plain dict of params with budget None
        (the study then evaluates it at ``fidelity.max``)."""
        return suggestion if isinstance(suggestion, Suggestion) else cls(suggestion)

    def __repr__(self) -> str:
        return f"Suggestion({dict.__repr__(self)}, budget={self.budget!r})"


class Sampler(ABC):
    """Suggests configurations. Subclasses implement :meth:`suggest`.

    Class attributes tell the study what to prepare (so samplers that need
    nothing cost nothing):

    - ``uses_history``: the study keeps ``context.history`` up to date;
    - ``uses_pending``: the study lists running/waiting trials in ``context.pending``;
    - ``suggests_in_transaction`` (default False): a suggestion takes microseconds and
      reads no store (model-free samplers), so the study may make it inside the store's
      write transaction that starts the trial (the store serialises suggestions then).
      It was called ``fast`` before; a subclass that still sets ``fast`` keeps working
      for one release, with a :class:`DeprecationWarning`.

    Optional capabilities, declared here with their defaults:

    - ``chooses_budget`` (default False): :meth:`suggest` returns a :class:`Suggestion`
      with a budget (multi-fidelity BO), so the study needs a fidelity and refuses a
      scheduler. Without it, a suggestion is evaluated at ``fidelity.max`` (or the
      scheduler's budget).
    - :meth:`recommend` (default: None): the configuration to deploy, which
      :meth:`hpo.Study.recommend` returns; None lets the study fall back to its best trial.
    """

    name: ClassVar[str] = "sampler"
    uses_history: ClassVar[bool] = True
    uses_pending: ClassVar[bool] = False
    suggests_in_transaction: ClassVar[bool] = False
    chooses_budget: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "fast" in cls.__dict__:  # the old name of suggests_in_transaction (deprecated)
            warnings.warn(f"{cls.__qualname__}: the sampler attribute `fast` is deprecated and will be removed in "
                          f"the next release; set `suggests_in_transaction = {bool(cls.__dict__['fast'])!r}` instead",
                          DeprecationWarning, stacklevel=2)
            if "suggests_in_transaction" not in cls.__dict__:
                cls.suggests_in_transaction = bool(cls.__dict__["fast"])

    @property
    def fast(self) -> bool:
        """Deprecated alias of :attr:`suggests_in_transaction`."""
        warnings.warn("the sampler attribute `fast` is deprecated; read `suggests_in_transaction` instead",
                      DeprecationWarning, stacklevel=2)
        return type(self).suggests_in_transaction

    def recommend(self, context: SamplingContext) -> dict[str, Any] | None:
        """The configuration to deploy, or None (the default): the study then recommends the params of
        its best trial. Multi-fidelity BO overrides it (the best posterior mean at the target fidelity)."""
        return None

    @abstractmethod
    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        """Return one configuration (a dict that ``context.space.validate`` accepts), or a
        :class:`Suggestion` when the sampler also chooses the budget."""

    def suggest_batch(self, context: SamplingContext, n: int) -> list[dict[str, Any]]:
        """Return ``n`` configurations for trials ``number .. number + n - 1``.

        The default calls :meth:`suggest` ``n`` times, adding each suggestion to
        ``pending`` so that the next one knows about it.
        """
        out: list[dict[str, Any]] = []
        pending = list(context.pending)
        for i in range(n):
            ctx = SamplingContext(
                space=context.space,
                objectives=context.objectives,
                constraints=context.constraints,
                history=context.history,
                pending=pending,
                number=context.number + i,
                seed=context.seed,
                rng=trial_rng(context.seed, context.number + i),
                fidelity=context.fidelity,
                scheduler_data=context.scheduler_data,
                prior=context.prior,
            )
            params = self.suggest(ctx)
            out.append(params)
            pending = [*pending, params]
        return out

    def check_space(self, space: SearchSpace, objectives: tuple[Objective, ...]) -> None:
        """Hook: raise :class:`hpo.errors.SamplerError` when an option does not fit the study's space or
        objectives (called by ``create_study`` before anything is written, and by ``load_study``)."""

    def after_trial(self, trial: FrozenTrial) -> None:
        """Hook: a trial of this study finished (called in the process that told it)."""

    def options(self) -> dict[str, Any]:
        """The options this sampler was built with (recorded in the study settings)."""
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"

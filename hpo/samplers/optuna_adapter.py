"""Optuna's samplers (TPE, CMA-ES, NSGA-II, GP) over this store's trials.

The adapter keeps an in-memory Optuna study that mirrors the hpo study: each
finished hpo trial is added once (incrementally, from the history the study
maintains), and each suggestion is an Optuna ``ask`` whose trial stays RUNNING
in the mirror until the hpo trial finishes, so Optuna sees its own pending
trials (e.g. TPE's ``constant_liar``). The Optuna sampler is re-created for
every suggestion with a seed derived from (study seed, trial number): a seeded
study replays the same suggestions.

Under a scheduler the mirror learns from ``context.scheduler_data`` instead: its
COMPLETE trials are exactly those (one per configuration, the value at
``scheduler_data.level``, in objective units), and every other configuration that
finished (not FAILED) is a PRUNED trial without values: the scheduler stopped it
below the level, and Optuna's TPE ranks such trials after every COMPLETE one (its
treatment of pruned trials), so it learns where not to look without mixing values
of different levels. While the level stays the same, every value held is still the
scheduler's and no PRUNED configuration has reached the level, only the new trials
are added; otherwise the mirror is rebuilt from ``scheduler_data`` and ``history``.
A suggested trial stays RUNNING in the mirror until the hpo trial finishes; a
rebuild drops the RUNNING trials of the old mirror.

Cost on a long history: the finished trials are added to the mirror as
:class:`~optuna.trial.FrozenTrial` objects built directly (one Optuna validation
each, no deep copy, one shared distributions dict per set of parameter names,
logging silenced once per batch), and each new Optuna sampler takes over the
incrementally cached intersection search space of the one before it, so a
suggestion does not rescan the whole history for it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.errors import SamplerError, UnknownNameError
from hpo.records import Constraint, FrozenTrial, TrialState
from hpo.registry import accepted_options, check_options
from hpo.samplers.base import Sampler, SamplingContext, SchedulerData, trial_rng
from hpo.samplers.options import check_option_types

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["OptunaSampler", "OPTUNA_ALGORITHMS", "is_optuna_sampler", "wrap_optuna_sampler"]

#: hpo name -> Optuna sampler class name.
OPTUNA_ALGORITHMS: dict[str, str] = {
    "tpe": "TPESampler",
    "cmaes": "CmaEsSampler",
    "nsga2": "NSGAIISampler",
    "optuna-gp": "GPSampler",
}
#: Optuna samplers that refuse a study with several objectives (checked at create_study, not at every ask).
_SINGLE_OBJECTIVE = frozenset({"cmaes"})

_CONSTRAINT_ATTR = "hpo_constraint_violations"

#: Option -> (lower bound, inclusive): ranges Optuna itself checks only at a suggestion (or never).
_LOWER_BOUNDS: dict[str, tuple[float, bool]] = {
    "n_startup_trials": (0, True),
    "n_ei_candidates": (1, True),
    "prior_weight": (0.0, True),
    "popsize": (1, True),
    "sigma0": (0.0, False),
}
_CHOICES: dict[str, tuple[Any, ...]] = {"restart_strategy": (None, "ipop", "bipop")}


def _check_ranges(algorithm: str, options: dict[str, Any]) -> None:
    """Values of the right type that Optuna would reject only at a suggestion (types are checked before)."""
    for name, value in options.items():
        if name in _LOWER_BOUNDS and value is not None:
            low, inclusive = _LOWER_BOUNDS[name]
            if not (value >= low if inclusive else value > low):
                raise SamplerError(f"{algorithm}: `{name} {'>=' if inclusive else '>'} {low}` must hold, "
                                   f"but got {name}={value!r}")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise SamplerError(f"{algorithm}: option {name!r} must be one of {list(_CHOICES[name])}, "
                               f"but got {value!r}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's per-trial log lines and experimental warnings around mirror calls."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # Optuna 5 deprecates constraints_func (removal planned for v7); we still pass it.
            warnings.filterwarnings("ignore", message=".*constraints_func.*", category=FutureWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _violations(constraints: tuple[Constraint, ...], values: dict[str, float] | None) -> list[float]:
    """Optuna's convention: a value <= 0 per constraint means satisfied."""
    values = values or {}
    out = []
    for c in constraints:
        v = values.get(c.name)
        if v is None or not math.isfinite(v):
            out.append(math.inf)
        else:
            out.append(v - c.bound if c.op == "<=" else c.bound - v)
    return out


def _suggest(otrial: Any, name: str, dist: Any) -> Any:
    """Ask the Optuna trial for one parameter through its public suggest API."""
    import optuna.distributions as od

    if isinstance(dist, od.FloatDistribution):
        return otrial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, od.IntDistribution):
        return otrial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return otrial.suggest_categorical(name, dist.choices)


def _config_key(params: dict[str, Any]) -> str:
    """One configuration, as the scheduler tells configurations apart (``Scheduler.sampler_data``)."""
    return repr(sorted(params.items()))


def _constraints_func(trial: Any) -> list[float]:
    return list(trial.user_attrs.get(_CONSTRAINT_ATTR, []))


@functools.cache
def _handed_over_class() -> type:
    """A FrozenTrial whose deep copy is a plain FrozenTrial sharing its contents.

    ``InMemoryStorage.create_new_trial`` deep-copies the trial ``Study.add_trial``
    gets; for trials built here for the mirror alone (fresh ``params`` and
    ``user_attrs`` dicts; ``distributions`` shared but never changed: Optuna copies a
    trial's dicts before it changes them, and never changes a finished trial) that
    copy only costs time.
    """
    from optuna.trial import FrozenTrial

    class _HandedOver(FrozenTrial):
        def __deepcopy__(self, memo: dict[int, Any]) -> FrozenTrial:
            twin = FrozenTrial.__new__(FrozenTrial)
            twin.__dict__.update(self.__dict__)
            return twin

    return _HandedOver


def _finished_trial(params: dict[str, Any], distributions: dict[str, Any], values: list[float] | None,
                    state: Any, user_attrs: dict[str, Any], now: dt.datetime) -> Any:
    """A finished trial for the mirror, as ``optuna.trial.create_trial`` builds it (``Study.add_trial``
    validates it), that the mirror's storage keeps without deep-copying it."""
    return _handed_over_class()(
        number=-1, trial_id=-1, state=state, value=None, values=values, datetime_start=now,
        datetime_complete=now, params=params, distributions=distributions, user_attrs=user_attrs,
        system_attrs={}, intermediate_values={},
    )


class OptunaSampler(Sampler):
    """Run one of Optuna's samplers as an hpo sampler.

    Args:
        algorithm: one of ``tpe``, ``cmaes``, ``nsga2``, ``optuna-gp``.
        **options: keyword arguments of the Optuna sampler (``seed`` excluded:
            the study seed is used). Unknown options raise ``SamplerError``.
    """

    name: ClassVar[str] = "optuna"
    uses_history: ClassVar[bool] = True
    #: The Optuna sampler object given to :meth:`from_instance` (None: one is built per suggestion).
    _instance: Any = None

    def __init__(self, algorithm: str = "tpe", **options: Any) -> None:
        import optuna

        if algorithm not in OPTUNA_ALGORITHMS:
            raise UnknownNameError(
                f"optuna sampler: unknown algorithm {algorithm!r}; valid: {sorted(OPTUNA_ALGORITHMS)}"
            )
        self.algorithm = algorithm
        self._cls: Callable[..., Any] = getattr(optuna.samplers, OPTUNA_ALGORITHMS[algorithm])
        check_options(algorithm, self._cls, options, SamplerError, skip=("self", "seed", "constraints_func"))
        self._accepts_constraints = "constraints_func" in (accepted_options(self._cls) or ())
        # Check option values now, not at the first suggestion of a study already in the store: Optuna's
        # constructors keep most values unchecked (TPE's n_startup_trials="five" fails only in ask).
        check_option_types(algorithm, self._cls.__init__, options)
        _check_ranges(algorithm, options)
        self._options = dict(options)
        if algorithm == "cmaes":  # conditional and categorical spaces are normal here
            self._options.setdefault("warn_independent_sampling", False)
        try:  # build the real Optuna sampler once, as _make_sampler will (with a seed)
            with _quiet():
                self._cls(seed=0, **self._options)
        except (TypeError, ValueError) as exc:
            raise SamplerError(f"{algorithm}: invalid option value(s) {options!r}: {exc}") from None
        self._reset_state()

    @classmethod
    def from_instance(cls, instance: Any) -> OptunaSampler:
        """Run a given Optuna sampler object (see :func:`wrap_optuna_sampler`)."""
        self = cls.__new__(cls)
        algorithms = {v: k for k, v in OPTUNA_ALGORITHMS.items()}
        cls_name = type(instance).__name__
        self.algorithm = algorithms.get(cls_name, cls_name)
        self._instance = instance
        self._cls = lambda **_: instance
        self._accepts_constraints = False  # the object's own constraints_func, if any, is kept
        self._options = {}
        self._reset_state()
        return self

    def _reset_state(self) -> None:
        self._mirror: Any = None
        self._mirror_key: Any = None
        self._n_synced = 0
        self._pending: dict[int, Any] = {}  # hpo trial number -> Optuna trial (RUNNING in the mirror)
        self._pending_keys: dict[int, str] = {}  # hpo trial number -> its configuration (_config_key)
        # under a scheduler: the level the mirror's trials were read at, and configuration -> value held
        self._level: float | None = None
        self._held: dict[str, list[float]] = {}
        self._below: set[str] = set()  # finished configurations the scheduler gives no value at the level
        self._dists: dict[str, Any] = {}
        self._dists_by_names: dict[tuple[str, ...], dict[str, Any]] = {}
        self._search_spaces: dict[str, Any] = {}  # sampler attribute -> the IntersectionSearchSpace kept

    def options(self) -> dict[str, Any]:
        return dict(self._options)

    def __repr__(self) -> str:
        if self._instance is not None:
            return f"OptunaSampler.from_instance({type(self._instance).__name__}(...))"
        return f"OptunaSampler({self.algorithm!r}, {self._options!r})"

    def check_space(self, space: Any, objectives: Any) -> None:
        """CMA-ES handles one objective, and its ``x0`` must give a value inside the space to every
        parameter that is always active."""
        if self.algorithm in _SINGLE_OBJECTIVE and len(objectives) > 1:
            raise SamplerError(f"{self.algorithm}: handles one objective, but the study has {len(objectives)}: "
                               f"{[o.name for o in objectives]}; for several objectives use 'gp', 'tpe' or 'nsga2'")
        x0 = self._options.get("x0")
        if x0 is None:
            return
        from hpo.space import Fixed

        dists = self._distributions(space)
        unknown = sorted(str(k) for k in x0 if k not in dists)
        missing = sorted(n for n in dists if space[n].active_if is None and n not in x0)
        if unknown or missing:
            raise SamplerError(f"{self.algorithm}: option 'x0' must map every always-active, non-fixed parameter "
                               f"{sorted(n for n in dists if space[n].active_if is None)} to a value, but it lacks "
                               f"{missing} and names unknown parameter(s) {unknown}")
        for name, value in x0.items():
            try:
                dist = dists[name]
                inside = not isinstance(space[name], Fixed) and dist._contains(dist.to_internal_repr(value))
            except (TypeError, ValueError):
                inside = False
            if not inside:
                raise SamplerError(f"{self.algorithm}: option x0[{name!r}] must be a value of parameter {name!r} "
                                   f"({space[name]!r}), but got {value!r}")

    # -- the mirror study ----------------------------------------------------
    @staticmethod
    def _distributions(space: Any) -> dict[str, Any]:
        """Optuna distributions of ``space``'s non-fixed parameters (also used by ``hpo.importance``)."""
        import optuna.distributions as od

        from hpo.space import Categorical, Fixed, Float, Int

        dists: dict[str, Any] = {}
        for name in space.names:
            p = space[name]
            if isinstance(p, Fixed):
                continue
            if isinstance(p, Float):
                dists[name] = od.FloatDistribution(p.low, p.high, log=p.log, step=p.step)
            elif isinstance(p, Int):
                dists[name] = od.IntDistribution(p.low, p.high, log=p.log, step=1 if p.log else p.step)
            elif isinstance(p, Categorical):
                dists[name] = od.CategoricalDistribution(list(p.choices))
        return dists

    def _ensure_mirror(self, context: SamplingContext) -> Any:
        key = (tuple(o.name for o in context.objectives), id(context.space))
        if self._mirror is None or key != self._mirror_key:
            self._new_mirror(context)
            self._mirror_key = key
        return self._mirror

    def _new_mirror(self, context: SamplingContext) -> None:
        """An empty in-memory Optuna study (and empty caches that belonged to the one before)."""
        import optuna

        directions: list[Any] = [o.direction.value for o in context.objectives]
        with _quiet():
            self._mirror = optuna.create_study(directions=directions)
        if self._instance is not None:  # the object's cached search space belongs to the old mirror
            self._fresh_search_spaces(self._instance)
        self._n_synced = 0
        self._pending.clear()
        self._pending_keys.clear()
        self._level = None
        self._held = {}
        self._below = set()
        self._dists = self._distributions(context.space)
        self._dists_by_names = {}
        self._search_spaces = {}

    def _sync(self, context: SamplingContext) -> None:
        if context.scheduler_data is not None:
            self._sync_scheduler(context, context.scheduler_data)
            return
        if self._level is not None:  # the mirror held a scheduler's data: start again from the history
            self._new_mirror(context)
        self._sync_history(context)

    def _states(self, context: SamplingContext, t: FrozenTrial) -> tuple[Any, list[float] | None, dict[str, Any]]:
        """Optuna state, objective values (None unless COMPLETE) and constraint attrs of a finished trial."""
        from optuna.trial import TrialState as OTS

        values = [t.values[o.name] for o in context.objectives] if t.state is TrialState.COMPLETE and t.values else None
        state = {TrialState.COMPLETE: OTS.COMPLETE, TrialState.PRUNED: OTS.PRUNED}.get(t.state, OTS.FAIL)
        if state is OTS.COMPLETE and values is None:
            state = OTS.FAIL
        attrs = {_CONSTRAINT_ATTR: _violations(context.constraints, t.constraint_values)} if context.constraints else {}
        return state, values if state is OTS.COMPLETE else None, attrs

    def _sync_history(self, context: SamplingContext) -> None:
        """Add the trials that finished since the last call (``history`` only grows)."""
        import datetime as dt

        from optuna.trial import TrialState as OTS

        mirror = self._mirror
        new = context.history[self._n_synced :]
        self._n_synced = len(context.history)
        if not new:
            return
        now = dt.datetime.now()
        batch: list[Any] = []  # finished trials to add, in history order
        with _quiet():
            for t in new:
                state, values, attrs = self._states(context, t)
                otrial = self._pending.pop(t.number, None)
                self._pending_keys.pop(t.number, None)
                if otrial is not None:
                    mirror.add_trials(batch)  # keep the order of additions and tells
                    batch = []
                    for k, v in attrs.items():
                        otrial.set_user_attr(k, v)
                    mirror.tell(otrial, values, state=state)
                elif state is not OTS.FAIL:
                    params = {k: v for k, v in t.params.items() if k in self._dists}
                    batch.append(_finished_trial(params, self._dists_for(tuple(params)), values, state, attrs, now))
            mirror.add_trials(batch)

    def _sync_scheduler(self, context: SamplingContext, data: SchedulerData) -> None:
        """Make the mirror hold exactly ``data.trials`` at ``data.level`` as its COMPLETE trials, and every
        other finished configuration as a PRUNED trial without values (see the module docstring)."""
        import datetime as dt

        from optuna.trial import TrialState as OTS

        wanted: dict[str, tuple[FrozenTrial, list[float]]] = {}
        for t in data.trials:
            wanted[_config_key(t.params)] = (t, [float(t.values[o.name]) for o in context.objectives])  # type: ignore[index]
        stale = self._level != float(data.level) or any(
            key not in wanted or wanted[key][1] != values for key, values in self._held.items()
        ) or any(key in wanted for key in self._below)
        if stale:  # a new level, a value no longer the scheduler's, or a configuration that reached the level
            self._new_mirror(context)
            self._level = float(data.level)
        mirror, held, below = self._mirror, self._held, self._below
        new = context.history[self._n_synced :]
        self._n_synced = len(context.history)
        now = dt.datetime.now()
        batch: list[Any] = []
        with _quiet():
            for t in new:  # finished trials: their configuration's value at the level, or PRUNED below it
                otrial, key = self._pending.pop(t.number, None), self._pending_keys.pop(t.number, None)
                key = _config_key(t.params) if key is None else key
                row = wanted.get(key)
                if otrial is not None:
                    mirror.add_trials(batch)  # keep the order of additions and tells
                    batch = []
                    if row is not None and key not in held:
                        if context.constraints:
                            otrial.set_user_attr(_CONSTRAINT_ATTR, _violations(context.constraints,
                                                                               row[0].constraint_values))
                        mirror.tell(otrial, row[1], state=OTS.COMPLETE)
                        held[key] = row[1]
                    elif row is None and key not in below and t.state is not TrialState.FAILED:
                        mirror.tell(otrial, None, state=OTS.PRUNED)
                        below.add(key)
                    else:
                        mirror.tell(otrial, None, state=OTS.FAIL)
                elif row is None and key not in below and t.state is not TrialState.FAILED:
                    params = {k: v for k, v in t.params.items() if k in self._dists}
                    batch.append(_finished_trial(params, self._dists_for(tuple(params)), None, OTS.PRUNED, {}, now))
                    below.add(key)
            for key, (t, values) in wanted.items():
                if key in held:
                    continue
                attrs = {_CONSTRAINT_ATTR: _violations(context.constraints, t.constraint_values)} \
                    if context.constraints else {}
                params = {k: v for k, v in t.params.items() if k in self._dists}
                batch.append(_finished_trial(params, self._dists_for(tuple(params)), values, OTS.COMPLETE, attrs, now))
                held[key] = values
            mirror.add_trials(batch)

    def _dists_for(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The distributions of these parameter names: one dict per set of names, shared by its trials."""
        dists = self._dists_by_names.get(names)
        if dists is None:
            dists = self._dists_by_names[names] = {k: self._dists[k] for k in names}
        return dists

    def _share_search_space(self, sampler: Any) -> None:
        """Hand the previous sampler's intersection search space to ``sampler``.

        Optuna's samplers (TPE, CMA-ES, NSGA-II, GP) cache the intersection search
        space of a study and update it from the trials added since; a sampler made
        for each suggestion would compute it again over the whole history. The
        cache's result does not depend on which sampler built it (it is the same
        intersection), so suggestions are unchanged.
        """
        from optuna.search_space import IntersectionSearchSpace

        for name, value in list(vars(sampler).items()):
            if type(value) is IntersectionSearchSpace:
                kept = self._search_spaces.setdefault(name, value)
                if kept is not value and vars(kept).get("_include_pruned") == vars(value).get("_include_pruned"):
                    setattr(sampler, name, kept)

    @staticmethod
    def _fresh_search_spaces(sampler: Any) -> None:
        from optuna.search_space import IntersectionSearchSpace

        for name, value in list(vars(sampler).items()):
            if type(value) is IntersectionSearchSpace:
                setattr(sampler, name, IntersectionSearchSpace(include_pruned=vars(value).get("_include_pruned", False)))

    def _make_sampler(self, context: SamplingContext) -> Any:
        if self._instance is not None:  # the user's object, with its own seed and state
            return self._instance
        seed = None if context.seed is None else (int(context.seed) * 1_000_003 + context.number) % 2**32
        kwargs = dict(self._options)
        if self._accepts_constraints and context.constraints:
            kwargs["constraints_func"] = _constraints_func
        with _quiet():
            sampler = self._cls(seed=seed, **kwargs)
        self._share_search_space(sampler)
        return sampler

    @staticmethod
    def _prior_startup(context: SamplingContext, mirror: Any) -> dict[str, Any] | None:
        """With a study prior, a start-up trial of a sampler that has a random start-up phase (TPE's first
        ``n_startup_trials`` completed trials) is drawn from the prior instead; None otherwise."""
        from optuna.trial import TrialState

        n_startup = getattr(mirror.sampler, "_n_startup_trials", None)
        if not context.prior or not isinstance(n_startup, int):
            return None
        if len(mirror.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) >= n_startup:
            return None
        return context.prior.sample(context.space, trial_rng(context.seed, context.number, salt=7))

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        from hpo.space import Fixed

        self._ensure_mirror(context)
        self._sync(context)  # may rebuild the mirror (a scheduler's new level)
        mirror = self._mirror
        mirror.sampler = self._make_sampler(context)
        space = context.space
        params: dict[str, Any] = {}
        with _quiet():
            startup = self._prior_startup(context, mirror)
            if startup is not None:  # Optuna takes enqueued values as the trial's fixed parameters
                mirror.enqueue_trial(startup, skip_if_exists=False)
            otrial = mirror.ask()
            for name in space.names:
                if not space.is_active(name, params):
                    continue
                p = space[name]
                if isinstance(p, Fixed):
                    params[name] = p.value
                else:
                    params[name] = _suggest(otrial, name, self._dists[name])
        params = space.validate(params)
        self._pending[context.number] = otrial
        self._pending_keys[context.number] = _config_key(params)
        return params


def is_optuna_sampler(obj: Any) -> bool:
    """Whether ``obj`` is an Optuna sampler object (without importing Optuna if nothing did)."""
    import sys

    optuna = sys.modules.get("optuna")
    return optuna is not None and isinstance(obj, optuna.samplers.BaseSampler)


def wrap_optuna_sampler(instance: Any) -> OptunaSampler:
    """An hpo sampler that asks the given Optuna sampler object (``optuna.samplers.TPESampler(seed=1)``)
    for every suggestion, through the same mirror study as ``sampler="tpe"``.

    The object keeps its own options, seed and state: the study's ``seed`` does not reseed it, and a
    study created with it is stored as a custom sampler, so ``load_study`` needs ``sampler=`` again (a
    sampler name such as ``"tpe"`` with options is stored and rebuilt by itself).
    """
    if not is_optuna_sampler(instance):
        raise SamplerError(f"sampler: expected an optuna.samplers.BaseSampler, but got {type(instance).__name__}")
    return OptunaSampler.from_instance(instance)

"""Creating and loading studies: every argument is validated before anything is written.

:func:`create_study`, :func:`load_study`, :func:`delete_study` and :func:`list_studies`
(re-exported as ``hpo.create_study`` etc. and from :mod:`hpo.study`), the settings
checks (heartbeats, leases, seeds) and the building of the sampler and scheduler from
their specs. The :class:`~hpo.study.Study` itself lives in :mod:`hpo.study`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, HpoError, PriorError, SamplerError, short_repr
from hpo.fidelity import Fidelity, parse_fidelity
from hpo.records import Objective, check_study_name, parse_constraints, parse_objectives
from hpo.samplers import Sampler, make_sampler
from hpo.space import SearchSpace
from hpo.store import StudyStore, open_store
from hpo.validators import is_int, is_number

if TYPE_CHECKING:
    from hpo.study import Study

__all__ = ["create_study", "load_study", "delete_study", "list_studies", "DEFAULT_SAMPLER",
           "DEFAULT_MULTI_OBJECTIVE_SAMPLER", "default_sampler", "check_scheduler", "check_json",
           "resolve_n_workers", "OPTUNA_PRUNERS"]

#: The sampler of a single-objective study that names none: Bayesian optimisation with a GP, which
#: reached lower regret than Optuna's TPE on most problems of ``hpo bench samplers``.
DEFAULT_SAMPLER = "gp"
#: The sampler of a study with several objectives that names none: Bayesian optimisation with a GP
#: and qLogNoisyExpectedHypervolumeImprovement (the ``gp`` sampler's acquisition for several objectives).
DEFAULT_MULTI_OBJECTIVE_SAMPLER = "gp"


def default_sampler(n_objectives: int) -> str:
    """The sampler name a study with ``n_objectives`` objectives gets when it names none."""
    return DEFAULT_SAMPLER if n_objectives == 1 else DEFAULT_MULTI_OBJECTIVE_SAMPLER


#: Seeds are stored in JSON settings and 64-bit integer columns: 0 <= seed < 2**63.
SEED_LIMIT = 2**63
_STALE_POLICIES = ("requeue", "fail")
#: Shortest heartbeat interval, in seconds: below it the store's write latency (a busy SQLite lock, a
#: remote PostgreSQL round trip) is a sizeable part of the interval.
MIN_HEARTBEAT_INTERVAL = 0.05
#: Shortest ``stale_after``, in seconds, and its smallest multiple of ``heartbeat_interval``: a live
#: worker misses its lease only if its heartbeats stall this long (at 1e-3 s a process reclaimed its
#: own live trials).
MIN_STALE_AFTER = 0.5
MIN_STALE_HEARTBEATS = 3
#: Default lease of an ask()/tell() trial (no heartbeat thread): a day, then it may be reclaimed.
DEFAULT_ASK_LEASE = 86400.0




def _seconds(field: str, value: Any) -> float:
    try:
        number = math.nan if not is_number(value) else float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf
    if not 0 < number < math.inf:
        raise ConfigError(f"{field}: must be a positive, finite number of seconds, but got {value!r}")
    return number


def _check_settings(heartbeat_interval: Any, stale_after: Any, stale_policy: Any,
                    ask_lease: Any = DEFAULT_ASK_LEASE) -> dict[str, Any]:
    interval = _seconds("heartbeat_interval", heartbeat_interval)
    if interval < MIN_HEARTBEAT_INTERVAL:
        raise ConfigError(f"heartbeat_interval: must be at least {MIN_HEARTBEAT_INTERVAL} s (the store's write "
                          f"latency would eat a shorter interval), but got {heartbeat_interval!r}")
    stale = 4.0 * interval if stale_after is None else _seconds("stale_after", stale_after)
    if not math.isfinite(stale):
        raise ConfigError(f"heartbeat_interval: 4 x heartbeat_interval (the default stale_after) must be finite, "
                          f"but got heartbeat_interval={heartbeat_interval!r}")
    floor = max(MIN_STALE_AFTER, MIN_STALE_HEARTBEATS * interval)
    if stale < floor:
        raise ConfigError(
            f"stale_after: must be at least max({MIN_STALE_AFTER} s, {MIN_STALE_HEARTBEATS} x heartbeat_interval) "
            f"= {floor:g} s, or live trials would be reclaimed, but got stale_after={stale_after!r}, "
            f"heartbeat_interval={heartbeat_interval!r}"
        )
    if stale_policy not in _STALE_POLICIES:
        raise ConfigError(f"stale_policy: must be one of {_STALE_POLICIES}, but got {stale_policy!r}")
    lease = None if ask_lease is None else _seconds("ask_lease", ask_lease)
    if lease is not None and lease < MIN_STALE_AFTER:
        raise ConfigError(f"ask_lease: must be at least {MIN_STALE_AFTER} s or None (never reclaimed), "
                          f"but got {ask_lease!r}")
    return {"heartbeat_interval": interval, "stale_after": stale, "stale_policy": stale_policy, "ask_lease": lease}




def _sampler_spec(sampler: Sampler, requested: Any) -> dict[str, Any]:
    while isinstance(requested, Mapping):  # {"name": ...} (make_sampler accepted it, so "name" is there)
        requested = requested["name"]
    if isinstance(requested, str):
        return {"name": requested, "options": sampler.options()}
    shown = sampler if isinstance(requested, Sampler) or requested is None else requested  # an Optuna object
    return {"name": f"{type(shown).__module__}.{type(shown).__qualname__}", "options": sampler.options(), "custom": True}


#: Optuna pruner class -> the hpo scheduler that does its job.
OPTUNA_PRUNERS = {"MedianPruner": "median", "SuccessiveHalvingPruner": "asha", "HyperbandPruner": "hyperband"}


def optuna_objectives(objectives: Any, direction: Any, directions: Any) -> Any:
    """``objectives`` from Optuna's ``direction=`` / ``directions=`` (at most one of the three may be given)."""
    given = [n for n, v in (("objectives", objectives), ("direction", direction), ("directions", directions))
             if v is not None]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)}: give one of them (direction= and directions= are Optuna's "
                          f"names for objectives=), but got {', '.join(given)}")
    if direction is not None:
        return _direction_name("direction", direction)
    if directions is None:
        return objectives
    if isinstance(directions, (str, bytes, Mapping)) or not isinstance(directions, Sequence) or not directions:
        raise ConfigError(f"directions: must be a non-empty list such as ['minimize', 'maximize'], "
                          f"but got {short_repr(directions)}")
    names = [_direction_name(f"directions[{i}]", d) for i, d in enumerate(directions)]
    if len(names) == 1:
        return names[0]
    return {f"value_{i}": d for i, d in enumerate(names)}


def _direction_name(field: str, direction: Any) -> Any:
    """A direction string; Optuna's ``StudyDirection.MAXIMIZE`` becomes ``"maximize"``."""
    if type(direction).__name__ == "StudyDirection" and type(direction).__module__.startswith("optuna"):
        return direction.name.lower()
    if not isinstance(direction, str):
        raise ConfigError(f"{field}: must be 'minimize' or 'maximize', but got {short_repr(direction)}")
    return direction


def check_pruner(pruner: Any) -> None:
    """Refuse Optuna's ``pruner=`` with the scheduler that replaces it."""
    if pruner is None:
        return
    mapping = ", ".join(f"{k} -> scheduler={v!r}" for k, v in OPTUNA_PRUNERS.items())
    hint = OPTUNA_PRUNERS.get(type(pruner).__name__)
    first = f"use scheduler={hint!r} for {type(pruner).__name__}, " if hint else ""
    raise ConfigError(f"pruner: hpo has no pruners; early stopping is a scheduler: {first}with a fidelity, e.g. "
                      f"create_study(..., fidelity=hpo.Fidelity('epochs', min=1, max=81), scheduler='asha') "
                      f"({mapping}), but got pruner={short_repr(pruner)}")


def resolve_n_workers(n_workers: Any, n_jobs: Any) -> Any:
    """``optimize``'s ``n_workers`` from Optuna's ``n_jobs`` (``-1``: one per CPU); at most one may be given."""
    if n_jobs is None:
        return 1 if n_workers is None else n_workers
    if n_workers is not None:
        raise ConfigError(f"n_workers and n_jobs: give one of them (n_jobs is Optuna's name for n_workers), "
                          f"but got n_workers={short_repr(n_workers)}, n_jobs={short_repr(n_jobs)}")
    if is_int(n_jobs) and n_jobs == -1:
        import os

        return os.cpu_count() or 1
    return n_jobs


def check_json(field: str, value: Any, error: type[Exception]) -> None:
    """The store keeps definitions as JSON (PostgreSQL: JSONB, which has no NaN or infinity)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise error(f"{field}: must be JSON data (no NaN or infinity), but got {short_repr(value)}: "
                    f"{str(exc)[:200]}") from None


def _build_scheduler(spec: Any) -> Any:
    if spec is None:
        return None
    from hpo.schedulers import make_scheduler

    try:
        return make_scheduler(spec)
    except HpoError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scheduler: cannot build {spec!r}: {exc}") from None


def check_scheduler(scheduler: Any, fidelity: Fidelity | None, objectives: tuple[Objective, ...],
                     sampler: Sampler) -> None:
    from hpo.schedulers import Scheduler

    if not isinstance(scheduler, Scheduler):
        raise ConfigError(f"scheduler: expected a name, a mapping or an hpo.schedulers.Scheduler, but got {scheduler!r}")
    if fidelity is None:
        raise ConfigError(f"scheduler {scheduler.name!r} needs a fidelity, e.g. "
                          "fidelity=hpo.Fidelity('epochs', min=1, max=81)")
    if len(objectives) != 1:
        raise ConfigError(f"scheduler {scheduler.name!r}: schedulers rank trials by one objective, but the study has "
                          f"{[o.name for o in objectives]}")
    if sampler.chooses_budget:
        raise ConfigError(f"scheduler {scheduler.name!r} cannot be combined with sampler {sampler!r}, which chooses "
                          "the budget itself (multi-fidelity BO); use one or the other")


def _build_sampler(spec: Any) -> Sampler:
    """``make_sampler``, with errors from the sampler's constructor turned into ``SamplerError``; an Optuna
    sampler object (``optuna.samplers.TPESampler(...)``) is run through the Optuna adapter."""
    from hpo.samplers.optuna_adapter import is_optuna_sampler, wrap_optuna_sampler

    if is_optuna_sampler(spec):
        return wrap_optuna_sampler(spec)
    try:
        return make_sampler(spec)
    except HpoError:
        raise
    except (TypeError, ValueError) as exc:  # e.g. non-string option names, a constructor rejecting a value
        raise SamplerError(f"sampler: cannot build {spec!r}: {exc}") from None


def create_study(
    name: str | None = None,
    space: SearchSpace | Mapping[str, Any] | None = None,
    objectives: str | Mapping[str, str] | None = None,
    constraints: Mapping[str, Any] | None = None,
    storage: str | StudyStore | None = None,
    sampler: str | Sampler | Mapping[str, Any] | None = None,
    seed: int | None = None,
    load_if_exists: bool = False,
    fidelity: Fidelity | Mapping[str, Any] | None = None,
    scheduler: Any = None,
    checkpoint_root: str | None = None,
    heartbeat_interval: float = 30.0,
    stale_after: float | None = None,
    stale_policy: str = "requeue",
    ask_lease: float | None = DEFAULT_ASK_LEASE,
    prior: Any = None,
    *,
    direction: str | None = None,
    directions: Sequence[str] | None = None,
    pruner: Any = None,
    protocol: Any = None,
) -> Study:
    """Create a study in ``storage`` (default ``sqlite:///hpo.db``) and return it.

    Everything is validated before anything is written; errors name the field.

    Args:
        name: unique name in the store (default: a generated one).
        space: ``{"lr": hpo.Float(1e-5, 1e-1, log=True), ...}`` or a SearchSpace; None: a define-by-run
            study whose space grows from the objective's ``trial.suggest_*`` calls (:mod:`hpo.define_by_run`).
        objectives: ``"minimize"`` (the default), ``"maximize"`` or ``{"loss": "minimize", ...}``.
        constraints: ``{"memory_gb": ("<=", 16)}``.
        storage: a URL or a store; None means ``$HPO_STORAGE`` or ``sqlite:///hpo.db``.
        sampler: a name (see ``hpo.samplers.sampler_names()``), ``{"name", "options"}`` or a Sampler;
            None: ``"gp"`` (Bayesian optimisation: qLogNEI for one objective, qLogNEHVI for several).
        seed: makes the suggestions reproducible.
        load_if_exists: return the existing study of that name instead of failing.
        fidelity: the resource trials may get more or less of, e.g.
            ``hpo.Fidelity("epochs", min=1, max=81)``; the objective reads ``trial.budget``.
        scheduler: ``"asha"``, ``"hyperband"``, ``"median"``, ``"pbt"``, ``{"name", "options"}``
            or an :class:`hpo.schedulers.Scheduler`; needs a fidelity.
        checkpoint_root: folder of the trials' checkpoint folders (``trial.checkpoint_dir``;
            default ``$HPO_CHECKPOINT_ROOT`` or ``./hpo-checkpoints``); shared storage on a cluster.
        heartbeat_interval: seconds between heartbeats of running trials in ``optimize``.
        stale_after: seconds without heartbeat after which a RUNNING trial is reclaimed
            (default 4 x heartbeat_interval).
        stale_policy: ``"requeue"`` (fail it and queue its params again) or ``"fail"``.
        ask_lease: seconds an ``ask()``/``tell()`` trial (one without optimize's heartbeat) may stay
            RUNNING before it may be reclaimed like a stale one (default a day; ``trial.heartbeat()``
            extends it; None: never).
        prior: per-parameter beliefs, ``{"lr": hpo.priors.LogNormal(1e-3, 0.3), ...}``, a
            :class:`hpo.priors.Prior` or its JSON form; stored in ``settings["prior"]``. The initial
            design and model-free samplers draw from it, BO weights its acquisition by it (πBO).
            A user :class:`hpo.priors.Density` is stored by name only: pass it again to ``load_study``.
        direction: Optuna's name: ``direction="maximize"`` is ``objectives="maximize"``.
        directions: Optuna's name for several objectives: ``["minimize", "maximize"]`` is
            ``objectives={"value_0": "minimize", "value_1": "maximize"}`` (the objective returns values in that order).
        pruner: not supported (an error names the scheduler to use instead; Optuna's pruners are schedulers
            here: ``MedianPruner`` -> ``scheduler="median"``, ``SuccessiveHalvingPruner`` -> ``"asha"``,
            ``HyperbandPruner`` -> ``"hyperband"``). ``None`` is accepted and does nothing.
        protocol: a tuning protocol, ``hpo.SeedSplit(tuning=[0, 1, 2, 3, 4], test=[5, 6, 7, 8, 9])`` or
            ``hpo.DatasetSplit(tuning="digits", evaluation="mnist1d", seeds=[0, 1, 2])`` (or its JSON form);
            stored in ``settings["protocol"]`` and enforced by the store (:mod:`hpo.protocols`).
    """
    objectives = optuna_objectives(objectives, direction, directions)
    check_pruner(pruner)
    if name is None:
        name = f"study-{uuid.uuid4().hex[:8]}"
    check_study_name(name)
    define_by_run = space is None  # the space grows from the objective's trial.suggest_* calls
    if define_by_run and (scheduler is not None or prior is not None):
        raise ConfigError("space: a study with a scheduler or a prior needs a declared space, e.g. space={'lr': "
                          "hpo.Float(1e-5, 1e-1, log=True)}; without space= it is define-by-run (trial.suggest_*)")
    space = SearchSpace.empty() if space is None else space if isinstance(space, SearchSpace) else SearchSpace(space)
    objs = parse_objectives(objectives)
    cons = parse_constraints(constraints, tuple(o.name for o in objs))
    if seed is not None and (not is_int(seed) or not 0 <= seed < SEED_LIMIT):
        huge = isinstance(seed, int) and seed.bit_length() > 128  # repr of 10**5000 raises
        shown = f"an integer of {seed.bit_length()} bits" if huge else f"{seed!r:.80}"
        raise ConfigError(f"seed: `0 <= seed < 2**63` must hold for an integer seed (the store keeps seeds as 64-bit "
                          f"integers), or pass None, but got {shown}")
    fid = parse_fidelity(fidelity)
    from hpo.protocols.splits import protocol_from_config

    protocol_obj = protocol_from_config(protocol)
    prior_obj = _prior(prior, space)
    if checkpoint_root is not None and (not isinstance(checkpoint_root, str) or not checkpoint_root.strip()):
        raise ConfigError(f"checkpoint_root: must be a non-empty path string or None, but got {checkpoint_root!r}")
    settings = _check_settings(heartbeat_interval, stale_after, stale_policy, ask_lease)
    requested = default_sampler(len(objs)) if sampler is None else sampler
    sampler_obj = _build_sampler(requested)
    if not define_by_run:  # define-by-run: checked on each intersection space (hpo.define_by_run)
        sampler_obj.check_space(space, objs)
    scheduler_obj = _build_scheduler(scheduler)
    if scheduler_obj is not None:
        check_scheduler(scheduler_obj, fid, objs, sampler_obj)
        scheduler_obj.bind(fid, space)
        settings["scheduler"] = {"name": scheduler_obj.name, "options": scheduler_obj.options()}
        check_json("scheduler.options", settings["scheduler"]["options"], ConfigError)
    elif fid is None and sampler_obj.chooses_budget:
        raise ConfigError(f"sampler {sampler_obj!r} chooses the budget of each trial: the study needs a fidelity, "
                          "e.g. fidelity=hpo.Fidelity('epochs', min=1, max=81)")
    if checkpoint_root is not None:
        settings["checkpoint_root"] = checkpoint_root
    settings.update(seed=seed, sampler=_sampler_spec(sampler_obj, requested))
    if define_by_run:
        settings["define_by_run"] = True
    if protocol_obj is not None:
        settings["protocol"] = protocol_obj.as_settings()
    check_json("sampler.options", settings["sampler"]["options"], SamplerError)
    if prior_obj:
        settings["prior"] = prior_obj.to_dict()
        check_json("prior", settings["prior"], PriorError)
    store = open_store(storage)
    definition = {
        "space": space.to_dict(),
        "objectives": [o.to_dict() for o in objs],
        "constraints": [c.to_dict() for c in cons],
        "protocol": settings.get("protocol"),
    }
    if load_if_exists:
        from hpo.errors import StudyNotFoundError

        try:
            return _load_same(name, store, sampler, definition, prior_obj)
        except StudyNotFoundError:
            pass
    try:
        record = store.create_study(
            name,
            space.to_dict(),
            [o.to_dict() for o in objs],
            [c.to_dict() for c in cons],
            fid.to_dict() if fid is not None else None,
            settings,
        )
    except Exception as exc:
        from hpo.errors import DuplicateStudyError

        if load_if_exists and isinstance(exc, DuplicateStudyError):  # lost a creation race
            return _load_same(name, store, sampler, definition, prior_obj)
        raise
    from hpo.study import Study

    return Study(store, record, sampler_obj, scheduler_obj, prior=prior_obj)


def _prior(prior: Any, space: SearchSpace) -> Any:
    """``prior`` as a :class:`hpo.priors.Prior` validated against ``space`` (None: no prior)."""
    if prior is None:
        return None
    from hpo.priors import as_prior

    return as_prior(prior, space) or None


def _stored_prior(name: str, settings: Mapping[str, Any], space: SearchSpace) -> Any:
    stored = settings.get("prior")
    if not stored:
        return None
    user = sorted(k for k, v in stored.items() if isinstance(v, Mapping) and v.get("type") == "density")
    if user:
        raise PriorError(f"study {name!r} was created with a user density (hpo.priors.Density) for {user}, which is "
                         "not stored as JSON; pass prior=... to load_study")
    return _prior(stored, space)


def _load_same(name: str, store: StudyStore, sampler: Any, definition: dict[str, Any], prior: Any = None) -> Study:
    """Load an existing study, refusing one whose space, objectives or constraints differ."""
    study = load_study(name, store, sampler=sampler, prior=prior)
    stored = {
        "space": study.record.space,
        "objectives": [o.to_dict() for o in study.objectives],
        "constraints": [c.to_dict() for c in study.constraints],
        "protocol": study.record.settings.get("protocol"),
    }
    grown = not definition["space"] and study.record.settings.get("define_by_run")  # its space grew since
    changed = [field for field in definition if definition[field] != stored[field] and not (field == "space" and grown)]
    if changed:
        raise ConfigError(
            f"study {name!r} already exists in {store.url} with a different {' and '.join(changed)}; "
            "its trials would not fit the new definition. Use a new name, or delete the old study "
            f"(hpo delete {name})"
        )
    return study


def load_study(
    name: str,
    storage: str | StudyStore | None = None,
    sampler: str | Sampler | Mapping[str, Any] | None = None,
    scheduler: Any = None,
    prior: Any = None,
) -> Study:
    """Load a stored study; its sampler, scheduler and prior are rebuilt from the stored settings unless given.

    A prior holding a user density (:class:`hpo.priors.Density`) is not stored as JSON: pass ``prior=``
    again, or :class:`~hpo.errors.PriorError` says so.

    A scheduler's decisions depend only on the stored trials and reports, so a study
    loaded after a driver restart promotes, stops and resumes as before.
    """
    store = open_store(storage)
    record = store.get_study(name)
    if sampler is None:
        spec = record.settings.get("sampler") or {"name": default_sampler(len(record.objectives))}
        if spec.get("custom"):
            raise SamplerError(
                f"study {name!r} was created with the custom sampler {spec['name']}; pass sampler=... to load_study"
            )
        sampler = {"name": spec["name"], "options": spec.get("options") or {}}
    if scheduler is None and record.settings.get("scheduler"):
        scheduler = record.settings["scheduler"]
    sampler_obj = _build_sampler(sampler)
    space = SearchSpace.from_dict(record.space) if record.space else SearchSpace.empty()
    if not record.settings.get("define_by_run"):
        sampler_obj.check_space(space, record.objectives)
    prior_obj = _prior(prior, space) if prior is not None else _stored_prior(name, record.settings, space)
    from hpo.study import Study

    return Study(store, record, sampler_obj, _build_scheduler(scheduler), prior=prior_obj)


def delete_study(name: str, storage: str | StudyStore | None = None) -> None:
    """Delete a study with all its trials, reports and evaluations."""
    open_store(storage).delete_study(name)


def list_studies(storage: str | StudyStore | None = None) -> list:
    """Summaries of the studies in the store (name, trials by state, last activity)."""
    return open_store(storage).list_studies()

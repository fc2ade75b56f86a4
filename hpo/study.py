"""Studies: create, load, ask, tell, optimise, and query results."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hpo.errors import (
    ConfigError,
    HpoError,
    LateResultWarning,
    NoCompletedTrialsError,
    ObjectiveError,
    SamplerError,
    TrialStateError,
    WrongStudyError,
    short_repr,
)
from hpo.fidelity import Fidelity, parse_fidelity
from hpo.records import FrozenTrial, Objective, StudyRecord, TrialState, parse_constraints, parse_objectives
from hpo.records import check_study_name
from hpo.samplers import Sampler, SamplingContext, Suggestion, make_sampler, trial_rng
from hpo.samplers.base import SchedulerData
from hpo.space import SearchSpace
from hpo.store import StudyStore, open_store
from hpo.trial import Trial
from hpo.values import check_values

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Study", "create_study", "load_study", "delete_study", "list_studies", "DEFAULT_SAMPLER",
           "DEFAULT_MULTI_OBJECTIVE_SAMPLER", "default_sampler"]

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


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _seconds(field: str, value: Any) -> float:
    try:
        number = math.nan if isinstance(value, bool) or not isinstance(value, (int, float)) else float(value)
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


def _error_text(error: Any) -> str | None:
    """The error text of a told trial: a string (bytes are decoded), else a typed error before any write."""
    if error is None or isinstance(error, str):
        return error
    if isinstance(error, (bytes, bytearray)):
        return bytes(error).decode("utf-8", errors="replace")
    raise ObjectiveError(f"tell: error must be a string (e.g. a traceback) or None, but got {type(error).__name__} "
                         f"{repr(error)[:200]}")


def _sampler_spec(sampler: Sampler, requested: Any) -> dict[str, Any]:
    while isinstance(requested, Mapping):  # {"name": ...} (make_sampler accepted it, so "name" is there)
        requested = requested["name"]
    if isinstance(requested, str):
        return {"name": requested, "options": sampler.options()}
    return {"name": f"{type(sampler).__module__}.{type(sampler).__qualname__}", "options": sampler.options(), "custom": True}


def _check_json(field: str, value: Any, error: type[Exception]) -> None:
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


def _check_scheduler(scheduler: Any, fidelity: Fidelity | None, objectives: tuple[Objective, ...],
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
    """``make_sampler``, with errors from the sampler's constructor turned into ``SamplerError``."""
    try:
        return make_sampler(spec)
    except HpoError:
        raise
    except (TypeError, ValueError) as exc:  # e.g. non-string option names, a constructor rejecting a value
        raise SamplerError(f"sampler: cannot build {spec!r}: {exc}") from None


class Study:
    """A study in a store. Build one with :func:`create_study` or :func:`load_study`.

    Several Study objects (threads, processes, machines) may work on the same
    stored study at once: numbers are allocated by the store, each trial is
    told once, and every object reads what the others finished.
    """

    def __init__(self, store: StudyStore, record: StudyRecord, sampler: Sampler, scheduler: Any = None) -> None:
        self.store = store
        self.record = record
        self.sampler = sampler
        self.space = SearchSpace.from_dict(record.space)
        self.fidelity: Fidelity | None = parse_fidelity(record.fidelity)
        self.scheduler: Any = scheduler
        self._tracker: Any = None
        if scheduler is not None:
            _check_scheduler(scheduler, self.fidelity, self.objectives, sampler)
            scheduler.bind(self.fidelity, self.space)
        self._lock = threading.RLock()
        self._history: list[FrozenTrial] = []
        self._seq = 0
        self._last_reclaim = -math.inf

    # -- description ------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.record.name

    @property
    def study_id(self) -> int:
        return self.record.study_id

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return self.record.objectives

    @property
    def constraints(self) -> tuple:
        return self.record.constraints

    @property
    def directions(self) -> list[str]:
        return [o.direction.value for o in self.objectives]

    @property
    def seed(self) -> int | None:
        return self.record.settings.get("seed")

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.record.settings)

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, storage={self.store.url!r}, sampler={self.sampler!r})"

    # -- history (incremental) -----------------------------------------------------
    def _refresh(self) -> list[FrozenTrial]:
        """Fetch the trials finished since the last refresh; return the whole cached history."""
        with self._lock:
            new, self._seq = self.store.finished_since(self.study_id, self._seq)
            self._history.extend(new)
            return self._history

    def sampling_context(self, number: int) -> SamplingContext:
        """The context the sampler gets to suggest trial ``number``.

        ``history`` is always the append-only list of finished trials in finishing order (empty for a
        sampler with ``uses_history = False``). Under a scheduler, ``scheduler_data`` holds what the
        scheduler wants the sampler to learn from: each configuration's value at one rung level, in
        objective units (:meth:`hpo.schedulers.Scheduler.sampler_data`); without one it is None.
        """
        history = self._refresh() if self.sampler.uses_history else []
        scheduler_data = None
        if self.scheduler is not None and self.sampler.uses_history:
            scheduler_data = self._scheduler_data()
        pending: list[dict[str, Any]] = []
        if self.sampler.uses_pending:
            pending = [t.params for t in self.store.get_trials(self.study_id, [TrialState.RUNNING, TrialState.WAITING])]
        return SamplingContext(
            space=self.space,
            objectives=self.objectives,
            constraints=self.constraints,
            history=history,
            pending=pending,
            number=number,
            seed=self.seed,
            rng=trial_rng(self.seed, number),
            fidelity=self.fidelity,
            scheduler_data=scheduler_data,
        )

    # -- schedulers ----------------------------------------------------------------
    def scheduler_state(self) -> Any:
        """The scheduler's view of the study, brought up to date from the store."""
        if self.scheduler is None:
            raise ConfigError(f"study {self.name!r} has no scheduler")
        if self._tracker is None:
            from hpo.schedulers.tracking import StateTracker

            metric = self.scheduler.metric or self.objectives[0].name
            objective = next((o for o in self.objectives if o.name == metric), None)
            if objective is None:
                raise ConfigError(f"scheduler.metric: {metric!r} is not an objective of study {self.name!r}; "
                                  f"objectives: {[o.name for o in self.objectives]}")
            self._tracker = StateTracker(self.store, self.study_id, self.fidelity, objective)
        return self._tracker.sync()

    def _scheduler_data(self) -> SchedulerData:
        """What the sampler learns from under a scheduler: values at the highest level with enough data
        (see :meth:`hpo.schedulers.Scheduler.sampler_data`), in objective units."""
        min_points = max(self.space.encoder(onehot=False).dim + 2, 6)
        level, trials = self.scheduler.sampler_data(self.scheduler_state(), min_points)
        return SchedulerData(level=float(level), trials=tuple(trials))

    def should_stop(self, number: int) -> bool:
        """Whether the scheduler stops RUNNING trial ``number`` after its latest report."""
        if self.scheduler is None or not self.scheduler.stops_trials:
            return False
        from hpo.schedulers.base import Decision

        with self._lock:
            return self.scheduler.decide(self.scheduler_state(), number) is Decision.STOP

    def checkpoint_path(self, number: int) -> str:
        """The checkpoint folder of trial ``number``: ``<checkpoint_root>/<study id>-<name>/trial-<number:06d>``.

        Absolute and resolved. It is derived only from the study id, the (validated) study name and the
        number, never from a path stored in trial attrs, and it must lie inside the root.

        Raises:
            ConfigError: ``number`` is not an integer ``>= 0``; the stored name or ``checkpoint_root`` is
                not valid; or the resolved folder leads out of the root (e.g. through a symbolic link).
        """
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < 2**63:
            raise ConfigError(f"checkpoint_path: the trial number must be an integer >= 0, but got {number!r:.80}")
        try:
            name = check_study_name(self.name)
        except ConfigError as exc:
            raise ConfigError(f"checkpoint_path: study {self.study_id} has a stored name that cannot name a "
                              f"checkpoint folder; {exc}") from None
        root = self.record.settings.get("checkpoint_root") or os.environ.get("HPO_CHECKPOINT_ROOT") or "hpo-checkpoints"
        if not isinstance(root, str):
            raise ConfigError(f"checkpoint_root: must be a path string, but got {root!r:.80}")
        root = os.path.realpath(root)
        path = os.path.realpath(os.path.join(root, f"{self.study_id}-{name}", f"trial-{number:06d}"))
        if os.path.commonpath([root, path]) != root or os.path.dirname(os.path.dirname(path)) != root:
            raise ConfigError(f"checkpoint_path: the folder of trial {number} resolves to {path!r}, which is not "
                              f"<checkpoint_root>/<study>/<trial> inside checkpoint_root {root!r}")
        return path

    def _planned(self, number: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Params and attrs of trial ``number`` under the scheduler's plan."""
        state = self.scheduler_state()
        plan = self.scheduler.plan(state, number, trial_rng(self.seed, number, salt=0x5C))
        params = plan.params
        if params is None:
            params = self.sampler.suggest(self.sampling_context(number))
        attrs: dict[str, Any] = {k: v for k, v in plan.attrs.items() if v is not None}
        attrs["budget"] = self.fidelity.round(plan.budget)
        attrs["checkpoint_dir"] = self.checkpoint_path(number)
        if plan.resume_from is not None:
            parent = state.trials.get(plan.resume_from)
            attrs["resume_from"] = int(plan.resume_from)
            attrs["resume_dir"] = self.checkpoint_path(plan.resume_from)
            attrs["start_step"] = parent.budget if parent is not None and parent.budget is not None else 0.0
        return self.space.validate(dict(params)), attrs

    # -- ask / tell ----------------------------------------------------------------
    def _suggest(self, number: int) -> dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]:
        with self._lock:
            if self.scheduler is not None:
                return self._planned(number)
            suggestion = Suggestion.of(self.sampler.suggest(self.sampling_context(number)))
            budget = suggestion.budget
            params = self.space.validate(dict(suggestion))
            if self.fidelity is None:
                if budget is not None:
                    raise SamplerError(f"sampler {self.sampler!r} chose budget {budget!r}, but study {self.name!r} "
                                       "declares no fidelity")
                return params
            budget = self.fidelity.max if budget is None else self.fidelity.round(budget)
            return params, {"budget": budget, "checkpoint_dir": self.checkpoint_path(number)}

    def lease(self, heartbeat: bool) -> float | None:
        """Seconds a RUNNING trial's lease lasts: ``stale_after`` for a heart-beating trial, else
        ``ask_lease`` (None: an ask()/tell() trial is never reclaimed)."""
        settings = self.record.settings
        if heartbeat:
            return float(settings.get("stale_after", 120.0))
        lease = settings.get("ask_lease", DEFAULT_ASK_LEASE)
        return None if lease is None else float(lease)

    def ask(self, *, heartbeat: bool = False) -> Trial:
        """Start a trial: an enqueued configuration if one waits, else the sampler's suggestion
        (under a scheduler: the scheduler's plan, e.g. a promotion, at the planned budget).

        Args:
            heartbeat: the caller heartbeats the trial (``study.heartbeat``) every ``heartbeat_interval``
                seconds, as ``optimize`` does; its lease is then ``stale_after``. Without it the trial's
                lease is ``ask_lease`` (default a day; ``trial.heartbeat()`` extends it), after which the
                trial may be reclaimed (a result told later is kept, see :meth:`tell`).

        Raises:
            SamplerExhausted: the sampler (or the scheduler) has nothing left to suggest.
            NothingToRun: the scheduler can start nothing until a running trial finishes.
        """
        self._reclaim_now_and_then()
        in_transaction = self.sampler.suggests_in_transaction and self.scheduler is None
        lease = self.lease(heartbeat)
        frozen = self.store.start_trial(
            self.study_id, _worker_id(), self._suggest, heartbeat=heartbeat, in_transaction=in_transaction,
            lease=lease,
        )
        return Trial(self, frozen, lease=lease)

    def heartbeat(self, numbers: Iterable[int], lease: float | None = None) -> None:
        """Mark RUNNING trials ``numbers`` alive and extend their lease (default ``stale_after``) from now.

        Executors call this for the trials they run; ``trial.heartbeat()`` does it for one trial.
        """
        self.store.heartbeat(self.study_id, sorted(numbers), self.lease(True) if lease is None else lease)

    def enqueue(self, params: Mapping[str, Any], attrs: Mapping[str, Any] | None = None) -> int:
        """Queue a configuration to be evaluated before the sampler's suggestions; return its number."""
        checked = self.space.validate(params)
        extra = dict(attrs or {})
        _check_json("enqueue attrs", extra, ConfigError)
        frozen = self.store.create_trial(self.study_id, checked, TrialState.WAITING, attrs={"enqueued": True, **extra})
        return frozen.number

    def tell(
        self,
        trial: Trial | FrozenTrial | int,
        values: Any = None,
        state: TrialState | str = TrialState.COMPLETE,
        error: str | None = None,
    ) -> FrozenTrial:
        """Finish a trial.

        Args:
            trial: the trial or its number.
            values: a float (one objective), a sequence, or a mapping with every
                objective (and constraint) name. Required for COMPLETE; optional
                for PRUNED (e.g. the last reported value); ignored for FAILED.
            state: COMPLETE (default), PRUNED or FAILED.
            error: text stored with a FAILED trial (e.g. a traceback).

        NaN or infinite values make the trial FAILED (they never reach a model).
        Invalid values raise before anything is written.
        """
        number = self._own_number(trial)
        error = _error_text(error)
        state = TrialState.parse(state)
        if not state.is_finished:
            raise TrialStateError(f"tell: state must be COMPLETE, PRUNED or FAILED, but got {state.value}")
        vals = cvals = None
        if state is TrialState.COMPLETE and values is None:
            raise ObjectiveError(f"tell: trial {number} is told COMPLETE but no values were given")
        if values is not None and state is not TrialState.FAILED:
            checked = check_values(values, self.objectives, self.constraints)
            if checked.not_finite:
                state = TrialState.FAILED
                error = "objective returned non-finite value(s) for " + ", ".join(
                    f"{n}={(checked.values | (checked.constraint_values or {}))[n]}" for n in checked.not_finite
                )
            else:
                vals, cvals = checked.values, checked.constraint_values
        try:
            frozen = self.store.finish_trial(self.study_id, number, state, vals, cvals, error)
        except TrialStateError:
            current = self.store.get_trial(self.study_id, number)
            if not current.attrs.get("reclaimed") or "late_result" in current.attrs:
                raise
            frozen = self.store.record_late_result(self.study_id, number, state, vals, cvals, error)
            where = (f"it completed the retry, trial {frozen.number}" if frozen.number != number
                     else "it is kept in the trial's attrs['late_result']")
            warnings.warn(LateResultWarning(
                f"study {self.name!r}: trial {number} was told {state.value} after the store had reclaimed it "
                f"(its lease ended: the worker was paused or too slow to heartbeat); {where}"
            ), stacklevel=2)
        self.sampler.after_trial(frozen)
        return frozen

    def _own_number(self, trial: Trial | FrozenTrial | int) -> int:
        """The number of ``trial``, refusing a trial of another study (which would finish this study's
        trial of the same number)."""
        if isinstance(trial, int) and not isinstance(trial, bool):
            return trial
        number = getattr(trial, "number", None)
        if not isinstance(number, int) or isinstance(number, bool):
            raise TrialStateError(f"tell: expected a Trial or a trial number, but got {trial!r}")
        if isinstance(trial, Trial):
            other = trial.study
            if other is not self and (other.study_id != self.study_id or other.store.url != self.store.url):
                raise WrongStudyError(
                    f"tell: trial {number} belongs to study {other.name!r} (id {other.study_id} in {other.store.url}), "
                    f"not to study {self.name!r} (id {self.study_id} in {self.store.url}); tell it on its own study"
                )
        elif isinstance(trial, FrozenTrial) and trial.study_id is not None and trial.study_id != self.study_id:
            raise WrongStudyError(
                f"tell: trial {number} belongs to the study with id {trial.study_id}, not to study {self.name!r} "
                f"(id {self.study_id}); tell it on its own study"
            )
        return number

    # -- running -------------------------------------------------------------------
    def optimize(
        self,
        objective: Callable[[Trial], Any],
        n_trials: int | None = None,
        timeout: float | None = None,
        n_workers: int = 1,
        catch: tuple[type[BaseException], ...] = (Exception,),
        callbacks: Iterable[Callable[[Study, FrozenTrial], None]] | None = None,
        show_progress_bar: bool = True,
        backend: Any = "local",
        resources: Mapping[str, float] | None = None,
        max_retries: int | None = None,
    ) -> None:
        """Run ``objective(trial)`` on suggested configurations.

        Args:
            objective: returns a float, a sequence or a mapping of values (see :meth:`tell`);
                raise :class:`hpo.TrialPruned` to stop early.
            n_trials: trials to run in this call (None: until ``timeout``).
            timeout: seconds after which no new trial starts.
            n_workers: trials run at once (threads in the local backend).
            catch: exception types that mark the trial FAILED (with its traceback)
                and let the study go on; others fail the trial and propagate.
            callbacks: called as ``callback(study, frozen_trial)`` after each trial.
            show_progress_bar: a progress bar with the best value so far.
            backend: ``"local"`` (threads here), ``"ray"`` (Ray tasks, see :mod:`hpo.execution.ray_driver`)
                or an :class:`hpo.execution.Executor`.
            resources: per-trial resources of the Ray backend, e.g. ``{"cpu": 1, "gpu": 0.5}``.
            max_retries: times a failed trial's configuration is re-queued (default 0).
        """
        from hpo.execution import RunSpec, get_executor

        spec = RunSpec(n_trials=n_trials, timeout=timeout, n_workers=n_workers, catch=catch,
                       callbacks=tuple(callbacks or ()), show_progress_bar=show_progress_bar)
        options = {k: v for k, v in (("resources", resources), ("max_retries", max_retries)) if v is not None}
        get_executor(backend, **options).run(self, objective, spec)

    def reclaim_stale(self) -> list[int]:
        """Fail (and per ``stale_policy`` re-queue) RUNNING trials whose lease ended: their worker stopped
        heart-beating for ``stale_after`` seconds, or an ask()/tell() trial outlived ``ask_lease``."""
        self._last_reclaim = time.monotonic()
        now = dt.datetime.now(dt.timezone.utc)
        return self.store.reclaim_stale(self.study_id, now, requeue=self.record.settings.get("stale_policy") == "requeue")

    def _reclaim_now_and_then(self) -> None:
        """``ask`` reclaims expired trials at most every quarter lease, so ask()/tell() studies reclaim too."""
        leases = [x for x in (self.lease(True), self.lease(False)) if x is not None]
        if time.monotonic() - self._last_reclaim >= max(min(leases) / 4.0, MIN_STALE_AFTER):
            self.reclaim_stale()

    # -- results -------------------------------------------------------------------
    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, ordered by number."""
        return self.store.get_trials(self.study_id)

    def get_trials(self, states: Iterable[TrialState | str] | None = None) -> list[FrozenTrial]:
        return self.store.get_trials(self.study_id, None if states is None else [TrialState.parse(s) for s in states])

    def _feasible_completed(self) -> list[FrozenTrial]:
        history = self._refresh()
        return [
            t for t in history if t.state is TrialState.COMPLETE and t.values and t.is_feasible(self.constraints)
        ]

    @property
    def best_trial(self) -> FrozenTrial:
        """The best feasible COMPLETE trial (single-objective studies)."""
        if len(self.objectives) != 1:
            raise ObjectiveError(
                f"best_trial is for single-objective studies; this one has {[o.name for o in self.objectives]}: "
                "use pareto_front()"
            )
        done = self._feasible_completed()
        if not done:
            raise NoCompletedTrialsError(f"study {self.name!r} has no completed feasible trial yet")
        if self.fidelity is not None:  # results at the target fidelity count first
            at_max = [t for t in done if float(t.attrs.get("budget", self.fidelity.max)) >= self.fidelity.max]
            done = at_max or done
        obj = self.objectives[0]
        return min(done, key=lambda t: (obj.sign * t.values[obj.name], t.number))

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    def recommend(self) -> dict[str, Any]:
        """The configuration to deploy: the sampler's recommendation at the target fidelity when the
        sampler makes one (multi-fidelity BO: the best posterior mean at ``fidelity.max``, possibly
        never evaluated there), else :attr:`best_params`."""
        with self._lock:
            number = max((t.number for t in self.store.get_trials(self.study_id)), default=-1) + 1
            recommended = self.sampler.recommend(self.sampling_context(number))
        return self.best_params if recommended is None else dict(recommended)

    @property
    def best_value(self) -> float:
        return self.best_trial.values[self.objectives[0].name]

    def pareto_front(self) -> list[FrozenTrial]:
        """Feasible COMPLETE trials that no other one dominates, ordered by number."""
        from hpo.results import non_dominated

        done = self._feasible_completed()
        if not done:
            return []
        keep = non_dominated([[o.sign * t.values[o.name] for o in self.objectives] for t in done])
        return sorted((t for t, k in zip(done, keep) if k), key=lambda t: t.number)

    def hypervolume_history(self, ref_point: Any = None) -> Any:
        """The hypervolume of the feasible Pareto front after each trial (computed incrementally and
        cached; see :func:`hpo.hypervolume.hypervolume_history`). ``ref_point``: objective name -> value
        in the objectives' units (None: inferred from the data)."""
        from hpo.hypervolume import hypervolume_history

        return hypervolume_history(self, ref_point)

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial: number, state, values, params, constraints, times, error."""
        from hpo.results import trials_dataframe

        return trials_dataframe(self)

    def count_done(self) -> int:
        """Trials that count towards a study's budget: finished, and not re-queued."""
        history = self._refresh()
        retried = {t.attrs.get("retry_of") for t in self.store.get_trials(self.study_id) if "retry_of" in t.attrs}
        return sum(
            1
            for t in history
            if t.state is not TrialState.FAILED or ("requeued_as" not in t.attrs and t.number not in retried)
        )


# -- module-level API -------------------------------------------------------------
def create_study(
    name: str | None = None,
    space: SearchSpace | Mapping[str, Any] | None = None,
    objectives: str | Mapping[str, str] = "minimize",
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
) -> Study:
    """Create a study in ``storage`` (default ``sqlite:///hpo.db``) and return it.

    Everything is validated before anything is written; errors name the field.

    Args:
        name: unique name in the store (default: a generated one).
        space: ``{"lr": hpo.Float(1e-5, 1e-1, log=True), ...}`` or a SearchSpace.
        objectives: ``"minimize"``, ``"maximize"`` or ``{"loss": "minimize", ...}``.
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
    """
    if name is None:
        name = f"study-{uuid.uuid4().hex[:8]}"
    check_study_name(name)
    if space is None:
        raise ConfigError("space: a search space is required, e.g. {'lr': hpo.Float(1e-5, 1e-1, log=True)}")
    space = space if isinstance(space, SearchSpace) else SearchSpace(space)
    objs = parse_objectives(objectives)
    cons = parse_constraints(constraints, tuple(o.name for o in objs))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT):
        huge = isinstance(seed, int) and seed.bit_length() > 128  # repr of 10**5000 raises
        shown = f"an integer of {seed.bit_length()} bits" if huge else f"{seed!r:.80}"
        raise ConfigError(f"seed: `0 <= seed < 2**63` must hold for an integer seed (the store keeps seeds as 64-bit "
                          f"integers), or pass None, but got {shown}")
    fid = parse_fidelity(fidelity)
    if checkpoint_root is not None and (not isinstance(checkpoint_root, str) or not checkpoint_root.strip()):
        raise ConfigError(f"checkpoint_root: must be a non-empty path string or None, but got {checkpoint_root!r}")
    settings = _check_settings(heartbeat_interval, stale_after, stale_policy, ask_lease)
    requested = default_sampler(len(objs)) if sampler is None else sampler
    sampler_obj = _build_sampler(requested)
    sampler_obj.check_space(space, objs)
    scheduler_obj = _build_scheduler(scheduler)
    if scheduler_obj is not None:
        _check_scheduler(scheduler_obj, fid, objs, sampler_obj)
        scheduler_obj.bind(fid, space)
        settings["scheduler"] = {"name": scheduler_obj.name, "options": scheduler_obj.options()}
        _check_json("scheduler.options", settings["scheduler"]["options"], ConfigError)
    elif fid is None and sampler_obj.chooses_budget:
        raise ConfigError(f"sampler {sampler_obj!r} chooses the budget of each trial: the study needs a fidelity, "
                          "e.g. fidelity=hpo.Fidelity('epochs', min=1, max=81)")
    if checkpoint_root is not None:
        settings["checkpoint_root"] = checkpoint_root
    settings.update(seed=seed, sampler=_sampler_spec(sampler_obj, requested))
    _check_json("sampler.options", settings["sampler"]["options"], SamplerError)
    store = open_store(storage)
    definition = {
        "space": space.to_dict(),
        "objectives": [o.to_dict() for o in objs],
        "constraints": [c.to_dict() for c in cons],
    }
    if load_if_exists:
        from hpo.errors import StudyNotFoundError

        try:
            return _load_same(name, store, sampler, definition)
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
            return _load_same(name, store, sampler, definition)
        raise
    return Study(store, record, sampler_obj, scheduler_obj)


def _load_same(name: str, store: StudyStore, sampler: Any, definition: dict[str, Any]) -> Study:
    """Load an existing study, refusing one whose space, objectives or constraints differ."""
    study = load_study(name, store, sampler=sampler)
    stored = {
        "space": study.record.space,
        "objectives": [o.to_dict() for o in study.objectives],
        "constraints": [c.to_dict() for c in study.constraints],
    }
    changed = [field for field in definition if definition[field] != stored[field]]
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
) -> Study:
    """Load a stored study; its sampler and scheduler are rebuilt from the stored settings unless given.

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
    sampler_obj.check_space(SearchSpace.from_dict(record.space), record.objectives)
    return Study(store, record, sampler_obj, _build_scheduler(scheduler))


def delete_study(name: str, storage: str | StudyStore | None = None) -> None:
    """Delete a study with all its trials, reports and evaluations."""
    open_store(storage).delete_study(name)


def list_studies(storage: str | StudyStore | None = None) -> list:
    """Summaries of the studies in the store (name, trials by state, last activity)."""
    return open_store(storage).list_studies()


"""The Study: ask, tell, optimise and query results.

Creating and loading studies (``create_study``, ``load_study``, ...) and the
validation of their arguments live in :mod:`hpo.study_setup`; they stay
importable from here.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hpo.errors import (
    ConfigError,
    LateResultWarning,
    NoCompletedTrialsError,
    ObjectiveError,
    SamplerError,
    TrialStateError,
)
from hpo.define_by_run import RELATIVE_ATTR, DefineByRun
from hpo.fidelity import Fidelity, parse_fidelity
from hpo.protocols.study_methods import ProtocolMethods
from hpo.records import FrozenTrial, Objective, StudyRecord, TrialState
from hpo.registry import lazy_exports
from hpo.samplers import Sampler, SamplingContext, Suggestion, trial_rng
from hpo.samplers.base import SchedulerData
from hpo.space import SearchSpace
from hpo.store import StudyStore
from hpo.study_support import checkpoint_folder, error_text, own_number, protocol_values
from hpo.study_meta import DEFAULT_FAIL_FAST, StudyMeta, check_fail_fast
from hpo.study_setup import DEFAULT_ASK_LEASE, MIN_STALE_AFTER, check_json, check_scheduler
from hpo.trial import Trial
from hpo.values import check_values

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Study"]  # and, from hpo.study_setup: create_study, load_study, delete_study, list_studies

# Creation and loading live in hpo.study_setup (kept importable from here).
__getattr__ = lazy_exports(__name__, {name: "hpo.study_setup" for name in (
    "create_study", "load_study", "delete_study", "list_studies", "DEFAULT_SAMPLER",
    "DEFAULT_MULTI_OBJECTIVE_SAMPLER", "default_sampler")})

def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"

class Study(StudyMeta, ProtocolMethods):
    """A study in a store. Build one with :func:`create_study` or :func:`load_study`.

    Metadata and run control (``user_attrs``/``set_user_attr``, ``best_trials``, ``stop()``) come from
    :class:`hpo.study_meta.StudyMeta`; ``protocol``, ``evaluate`` and ``protocol_report`` (tuning protocols)
    from :class:`hpo.protocols.study_methods.ProtocolMethods`.

    Several Study objects (threads, processes, machines) may work on the same
    stored study at once: numbers are allocated by the store, each trial is
    told once, and every object reads what the others finished.
    """

    def __init__(self, store: StudyStore, record: StudyRecord, sampler: Sampler, scheduler: Any = None,
                 prior: Any = None) -> None:
        self.store = store
        self.prior = prior  # hpo.priors.Prior | None: what the samplers draw from and weight by
        self.record = record
        self.sampler = sampler
        self.space = SearchSpace.from_dict(record.space) if record.space else SearchSpace.empty()
        self._dbr: DefineByRun | None = DefineByRun(self) if record.settings.get("define_by_run") else None
        self.fidelity: Fidelity | None = parse_fidelity(record.fidelity)
        self.scheduler: Any = scheduler
        self._tracker: Any = None
        if scheduler is not None:
            check_scheduler(scheduler, self.fidelity, self.objectives, sampler)
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
            prior=self.prior,
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
        return checkpoint_folder(self, number)

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
            if self._dbr is not None:  # define-by-run: the intersection space now, the rest as suggested
                relative = self._dbr.suggest(number)
                attrs = {RELATIVE_ATTR: relative} if relative else {}
                if self.fidelity is not None:
                    attrs.update(budget=self.fidelity.max, checkpoint_dir=self.checkpoint_path(number))
                return {}, attrs
            suggestion = Suggestion.of(self.sampler.suggest(self.sampling_context(number)))
            budget, extra = suggestion.budget, dict(getattr(suggestion, "attrs", None) or {})
            params = self.space.validate(dict(suggestion))
            if self.fidelity is None:
                if budget is not None:
                    raise SamplerError(f"sampler {self.sampler!r} chose budget {budget!r}, but study {self.name!r} "
                                       "declares no fidelity")
                return (params, extra) if extra else params
            budget = self.fidelity.max if budget is None else self.fidelity.round(budget)
            return params, {**extra, "budget": budget, "checkpoint_dir": self.checkpoint_path(number)}

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
        in_transaction = self.sampler.suggests_in_transaction and self.scheduler is None and self._dbr is None
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
        checked = self.space.validate(params) if self._dbr is None else {  # define-by-run: the names known so far
            k: self.space[k].validate(v, k) if k in self.space else v for k, v in params.items()}
        extra = dict(attrs or {})
        check_json("enqueue attrs", extra, ConfigError)
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
        error = error_text(error)
        state = TrialState.parse(state)
        if not state.is_finished:
            raise TrialStateError(f"tell: state must be COMPLETE, PRUNED or FAILED, but got {state.value}")
        vals = cvals = None
        if state is TrialState.COMPLETE and self.record.settings.get("protocol"):  # per-seed -> aggregate
            values = protocol_values(self, number, values)
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
        return own_number(self, trial)

    # -- running -------------------------------------------------------------------
    def optimize(
        self,
        objective: Callable[[Trial], Any],
        n_trials: int | None = None,
        timeout: float | None = None,
        n_workers: int | None = None,
        catch: tuple[type[BaseException], ...] = (Exception,),
        callbacks: Iterable[Callable[[Study, FrozenTrial], None]] | None = None,
        show_progress_bar: bool = True,
        backend: Any = "local",
        resources: Mapping[str, float] | None = None,
        max_retries: int | None = None,
        fail_fast: int | None = DEFAULT_FAIL_FAST,
        *,
        n_jobs: int | None = None,
    ) -> None:
        """Run ``objective(trial)`` on suggested configurations.

        When trials of the call fail, it ends with a :class:`hpo.errors.TrialFailuresWarning` that counts
        them and quotes the first error (each finished trial is also logged on the ``hpo.execution``
        logger, INFO); ``study.stop()`` from the objective or a callback ends the call early.

        Args:
            objective: returns a float, a sequence or a mapping of values (see :meth:`tell`);
                raise :class:`hpo.TrialPruned` to stop early.
            n_trials: trials to run **in this call**, whatever the study already has (None: until
                ``timeout``). A config file's ``n_trials`` and ``hpo run --n-trials`` are the study's
                total instead: ``hpo run`` runs only what is missing.
            timeout: seconds after which no new trial starts.
            n_workers: trials run at once (threads in the local backend; None: 1).
            catch: exception types that mark the trial FAILED (with its traceback)
                and let the study go on; others fail the trial and propagate.
            callbacks: called as ``callback(study, frozen_trial)`` after each trial.
            show_progress_bar: a progress bar with the best value so far.
            backend: ``"local"`` (threads here), ``"ray"`` (Ray tasks, see :mod:`hpo.execution.ray_driver`)
                or an :class:`hpo.execution.Executor`.
            resources: per-trial resources of the Ray backend, e.g. ``{"cpu": 1, "gpu": 0.5}``.
            max_retries: times a failed trial's configuration is re-queued (default 0).
            fail_fast: when the first ``fail_fast`` trials of this call all FAIL with the same error (the
                last line of the traceback), start no more and raise :class:`hpo.errors.AllTrialsFailedError`
                (default 5; None turns the check off).
            n_jobs: Optuna's name for ``n_workers`` (``-1``: one per CPU); give one or the other.
        """
        from hpo.execution import RunSpec, get_executor
        from hpo.study_setup import resolve_n_workers

        fail_fast = check_fail_fast(fail_fast)
        n_workers = resolve_n_workers(n_workers, n_jobs)
        spec = RunSpec(n_trials=n_trials, timeout=timeout, n_workers=n_workers, catch=catch,
                       callbacks=tuple(callbacks or ()), show_progress_bar=show_progress_bar)
        options = {k: v for k, v in (("resources", resources), ("max_retries", max_retries)) if v is not None}
        self._run_watched(get_executor(backend, **options), objective, spec, fail_fast)

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

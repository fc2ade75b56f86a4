"""The store seam: what a study needs from a database.

:class:`StudyStore` is the ABC; :class:`hpo.store.sql.SQLStore` implements it on
SQLAlchemy for SQLite and PostgreSQL. ``hpo.testing.store_suite`` is the
conformance suite every implementation passes.

Invariants every implementation keeps:
- trial numbers are unique per study and allocated atomically;
- a WAITING trial is claimed by exactly one caller;
- state transitions follow ``hpo.records.ALLOWED_TRANSITIONS`` (else
  ``TrialStateError``), so a trial is told at most once;
- each transition to a finished state takes the study's next change number
  (``seq``), in commit order, so ``finished_since(seq)`` never misses a trial;
- study ids are never reused, and every call on a deleted study's id raises
  ``StudyNotFoundError`` instead of reading or writing another study;
- every RUNNING trial has a lease (``expires_at``); only a trial whose lease
  ended is reclaimed, exactly once (see ``hpo.store.leases``), and a result told
  for it afterwards is kept (``record_late_result``), never lost;
- text is stored the same on every backend (NUL replaced, see ``hpo.store.text``).
"""

from __future__ import annotations

import datetime as dt
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.records import Constraint, FrozenTrial, Objective, StudyRecord, TrialState
from hpo.validators import is_number

__all__ = ["StudyStore", "StudySummary", "Report", "Evaluation", "TrialFields", "TrialColumns", "columns_of"]

#: The trial states that may still change (read again on every refresh by a column reader).
LIVE_STATES = (TrialState.RUNNING, TrialState.WAITING)


@dataclass(frozen=True)
class StudySummary:
    name: str
    created_at: dt.datetime | None
    n_trials: int
    states: dict[str, int]
    last_activity: dt.datetime | None


@dataclass(frozen=True)
class Report:
    trial_number: int
    step: float
    values: dict[str, float | None]
    created_at: dt.datetime | None


@dataclass(frozen=True)
class Evaluation:
    trial_number: int
    seed: int
    split: str
    state: TrialState
    values: dict[str, float] | None
    error: str | None
    #: The data set it was computed on (a :class:`hpo.protocols.DatasetSplit` study), else None.
    dataset: str | None = None


@dataclass(frozen=True)
class TrialFields:
    """Which fields of the trials' JSON documents a column read pulls out (see :class:`TrialColumns`).

    ``values`` / ``constraints`` / ``params`` / ``attrs``: keys of the trials' ``values``,
    ``constraint_values``, ``params`` and ``attrs`` documents; ``boolean_params``: the params
    (of ``params``) whose values may be booleans (read back as ``bool``, never as 1 / 0).
    """

    values: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    attrs: tuple[str, ...] = ()
    boolean_params: frozenset[str] = frozenset()

    @classmethod
    def of(cls, record: StudyRecord, attrs: Sequence[str] = ()) -> TrialFields:
        """Every objective, constraint and parameter of a study, and the given trial attributes."""
        booleans = frozenset(
            name for name, spec in record.space.items()
            if any(isinstance(c, bool) for c in (spec.get("choices") or []))
        )
        return cls(
            values=tuple(o.name for o in record.objectives),
            constraints=tuple(c.name for c in record.constraints),
            params=tuple(record.space),
            attrs=tuple(attrs),
            boolean_params=booleans,
        )


@dataclass(frozen=True)
class TrialColumns:
    """Trials as columns (one entry per trial in every column, in the read's order): the cheap
    form of a large read, e.g. a trials table of 100k trials.

    A field missing from a trial's document is None. ``started_at`` / ``finished_at`` are UTC
    timestamps, as ``datetime`` or as ISO 8601 text (a SQL store may hand over the database's text
    unparsed; ``pandas.to_datetime(..., utc=True, format="ISO8601")`` reads both).
    """

    fields: TrialFields
    number: Sequence[int]
    state: Sequence[str]
    values: dict[str, Sequence[Any]]
    constraints: dict[str, Sequence[Any]]
    params: dict[str, Sequence[Any]]
    attrs: dict[str, Sequence[Any]]
    started_at: Sequence[Any]
    finished_at: Sequence[Any]
    worker_id: Sequence[str | None]
    error: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.number)


def columns_of(found: Sequence[FrozenTrial], fields: TrialFields) -> TrialColumns:
    """The :class:`TrialColumns` of frozen trials, in their order (the definition every store's column
    read must agree with)."""

    def column(doc: Callable[[FrozenTrial], dict[str, Any] | None], key: str) -> list[Any]:
        return [(doc(t) or {}).get(key) for t in found]

    return TrialColumns(
        fields=fields,
        number=[t.number for t in found],
        state=[t.state.value for t in found],
        values={k: column(lambda t: t.values, k) for k in fields.values},
        constraints={k: column(lambda t: t.constraint_values, k) for k in fields.constraints},
        params={k: column(lambda t: t.params, k) for k in fields.params},
        attrs={k: column(lambda t: t.attrs, k) for k in fields.attrs},
        started_at=[t.started_at for t in found],
        finished_at=[t.finished_at for t in found],
        worker_id=[t.worker_id for t in found],
        error=[t.error for t in found],
    )


def best_of(found: Sequence[FrozenTrial], objective: Objective, constraints: Sequence[Constraint]) -> float | None:
    """The best value of ``objective`` over the COMPLETE trials of ``found`` that satisfy every constraint
    (NaN and non-numbers never count; None when no trial counts)."""
    best: float | None = None
    for t in found:
        value = (t.values or {}).get(objective.name)
        if t.state is not TrialState.COMPLETE or not is_number(value):
            continue
        if math.isnan(value) or not t.is_feasible(tuple(constraints)):
            continue
        if best is None or objective.sign * value < objective.sign * best:
            best = float(value)
    return best


def split_suggestion(result: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A ``start_trial`` suggestion is params, or ``(params, attrs)`` to store with the trial."""
    if isinstance(result, tuple):
        params, attrs = result
        return params, attrs
    return result, None


class StudyStore(ABC):
    """Persistent storage of studies and their trials."""

    url: str

    # -- studies -------------------------------------------------------------
    @abstractmethod
    def create_study(
        self,
        name: str,
        space: dict[str, Any],
        objectives: list[dict[str, str]],
        constraints: list[dict[str, Any]],
        fidelity: dict[str, Any] | None,
        settings: dict[str, Any],
    ) -> StudyRecord:
        """Insert a study; raises ``DuplicateStudyError`` if the name is taken."""

    @abstractmethod
    def get_study(self, name: str) -> StudyRecord:
        """Raises ``StudyNotFoundError`` listing the names present."""

    @abstractmethod
    def list_studies(self) -> list[StudySummary]: ...

    @abstractmethod
    def delete_study(self, name: str) -> None: ...

    # -- trials --------------------------------------------------------------
    @abstractmethod
    def reserve_numbers(self, study_id: int, n: int = 1) -> int:
        """Atomically reserve ``n`` consecutive trial numbers; return the first.

        A reserved number that is never used leaves a gap, never a duplicate.
        """

    @abstractmethod
    def create_trial(
        self,
        study_id: int,
        params: dict[str, Any],
        state: TrialState,
        worker_id: str | None = None,
        attrs: dict[str, Any] | None = None,
        heartbeat: bool = False,
        number: int | None = None,
        lease: float | None = None,
    ) -> FrozenTrial:
        """Insert a WAITING or RUNNING trial with a reserved ``number`` (or the next one).

        A RUNNING trial's lease ends ``lease`` seconds from now (None: never).
        """

    @abstractmethod
    def claim_waiting(
        self, study_id: int, worker_id: str | None, heartbeat: bool = False, lease: float | None = None
    ) -> FrozenTrial | None:
        """Atomically move the oldest WAITING trial to RUNNING (lease: as in ``create_trial``) and
        return it (None if none)."""

    def start_trial(
        self,
        study_id: int,
        worker_id: str | None,
        suggest: Callable[[int], Any],
        heartbeat: bool = False,
        in_transaction: bool = False,
        lease: float | None = None,
    ) -> FrozenTrial:
        """Start a RUNNING trial: the oldest WAITING one, or a new one with ``suggest(number)``'s params
        (``suggest`` returns params, or ``(params, attrs)``).

        With ``in_transaction`` the suggestion is made inside the transaction that
        allocates the number (one transaction per ask; for fast, model-free
        samplers only, since it holds the study's write lock); otherwise the
        number is reserved first and the trial inserted after ``suggest`` returns.
        If ``suggest`` raises, no trial is created.
        """
        claimed = self.claim_waiting(study_id, worker_id, heartbeat, lease)
        if claimed is not None:
            return claimed
        number = self.reserve_numbers(study_id)
        params, attrs = split_suggestion(suggest(number))
        return self.create_trial(study_id, params, TrialState.RUNNING, worker_id, attrs, heartbeat=heartbeat,
                                 number=number, lease=lease)

    @abstractmethod
    def finish_trial(
        self,
        study_id: int,
        number: int,
        state: TrialState,
        values: dict[str, float] | None = None,
        constraint_values: dict[str, float] | None = None,
        error: str | None = None,
    ) -> FrozenTrial:
        """Move a trial to a finished state, once; raises ``TrialStateError`` otherwise."""

    @abstractmethod
    def get_trial(self, study_id: int, number: int) -> FrozenTrial: ...

    @abstractmethod
    def get_trials(self, study_id: int, states: Iterable[TrialState] | None = None) -> list[FrozenTrial]:
        """All trials of the study (optionally filtered by state), ordered by number."""

    @abstractmethod
    def finished_since(self, study_id: int, seq: int) -> tuple[list[FrozenTrial], int]:
        """Trials that finished after change number ``seq``, and the newest change number.

        This is the incremental read the samplers use: its cost depends on what
        changed, not on the size of the history.
        """

    @abstractmethod
    def heartbeat(self, study_id: int, numbers: Sequence[int], lease: float | None) -> None:
        """Mark RUNNING trials as alive now and extend their lease to ``lease`` seconds from now."""

    @abstractmethod
    def reclaim_stale(self, study_id: int, now: dt.datetime, requeue: bool) -> list[int]:
        """Fail RUNNING trials whose lease ended before ``now`` (``attrs['reclaimed']``), each once.

        With ``requeue`` each one is re-queued as a new WAITING trial with the
        same params (``attrs['retry_of']`` names the old number, the old one gets
        ``attrs['requeued_as']``). Concurrent reclaimers and a concurrent
        ``finish_trial`` never reclaim a trial twice nor overwrite a told one.
        Returns the numbers of the failed trials.
        """

    @abstractmethod
    def record_late_result(
        self,
        study_id: int,
        number: int,
        state: TrialState,
        values: dict[str, float] | None = None,
        constraint_values: dict[str, float] | None = None,
        error: str | None = None,
    ) -> FrozenTrial:
        """Keep the result told for a reclaimed trial (``attrs['late_result']``), once.

        If the result is COMPLETE and the trial's retry is still WAITING, the retry is
        completed with it (``attrs['late_result_of']``) and returned; otherwise the
        reclaimed trial is returned. Raises ``TrialStateError`` for a trial that was
        not reclaimed or whose late result is already kept.
        """

    # -- aggregate and column reads (the dashboard's; defaults re-read the trials) ---------------
    def columns_since(self, study_id: int, seq: int, fields: TrialFields) -> tuple[TrialColumns, int]:
        """:meth:`finished_since` as columns: the trials finished after change number ``seq``, in
        change order, and the newest change number. Its cost depends on what changed."""
        found, newest = self.finished_since(study_id, seq)
        return columns_of(found, fields), newest

    def live_columns(self, study_id: int, fields: TrialFields) -> TrialColumns:
        """The RUNNING and WAITING trials as columns, by number."""
        return columns_of(self.get_trials(study_id, LIVE_STATES), fields)

    def best_value(
        self, study_id: int, objective: Objective, constraints: Sequence[Constraint] = ()
    ) -> float | None:
        """The best value of ``objective`` over the COMPLETE trials satisfying every constraint
        (see :func:`best_of`); SQL stores compute it in the database."""
        return best_of(self.get_trials(study_id, [TrialState.COMPLETE]), objective, constraints)

    def report_counts(self, study_id: int) -> dict[int, int]:
        """Number of intermediate reports per trial number (trials without reports are left out)."""
        counts: dict[int, int] = {}
        for r in self.get_reports(study_id):
            counts[r.trial_number] = counts.get(r.trial_number, 0) + 1
        return counts

    # -- user attributes (no schema: attrs["user_attrs"], settings["user_attrs"]) ---------------
    @abstractmethod
    def set_trial_user_attr(self, study_id: int, number: int, key: str, value: Any) -> None:
        """Merge ``key: value`` (JSON) into ``attrs["user_attrs"]`` of a RUNNING trial (or of a reclaimed
        one, late); ``TrialStateError`` for a WAITING or finished trial. Concurrent sets keep every key."""

    @abstractmethod
    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> dict[str, Any]:
        """Merge ``key: value`` (JSON) into the study's ``settings["user_attrs"]``; return the new settings."""

    def set_trial_attr(self, study_id: int, number: int, key: str, value: Any) -> None:
        """Set ``attrs[key] = value`` (JSON) of a RUNNING trial (e.g. ``"seed_spread"``, written before the
        trial is told); ``TrialStateError`` for a trial that is not RUNNING."""
        from hpo.errors import StorageError

        raise StorageError(f"{type(self).__name__} cannot set trial attributes (set_trial_attr)")

    # -- intermediate results and seeded evaluations ---------------------------
    @abstractmethod
    def add_report(self, study_id: int, number: int, step: float, values: Mapping[str, float | None]) -> None:
        """Store an intermediate result of a RUNNING trial (or of a reclaimed one, late);
        ``TrialStateError`` for a WAITING or finished trial."""

    @abstractmethod
    def get_reports(self, study_id: int, numbers: Sequence[int] | None = None) -> list[Report]: ...

    def reports_since(self, study_id: int, cursor: int) -> tuple[list[Report], int]:
        """Reports written after ``cursor`` (0: all), in writing order, and the new cursor.

        Schedulers follow a study's reports with it: each call costs what was
        written since the last one. The default re-reads every report; SQL stores
        use the report ids.
        """
        everything = self.get_reports(study_id)
        everything.sort(key=lambda r: (r.created_at is None, r.created_at))
        return everything[cursor:], len(everything)

    @abstractmethod
    def add_evaluation(
        self,
        study_id: int,
        number: int,
        seed: int,
        split: str,
        state: TrialState,
        values: Mapping[str, float] | None = None,
        error: str | None = None,
        dataset: str | None = None,
    ) -> None:
        """Store one seed's result of a trial, ``split`` ``"tuning"`` or ``"test"``, on ``dataset``.

        In a study with a protocol (``settings["protocol"]``) the store enforces it and writes nothing
        otherwise (:class:`~hpo.errors.ProtocolError`): a tuning evaluation of a RUNNING trial on a
        tuning seed / the tuning data set, a test evaluation of a COMPLETE trial on a test seed / the
        evaluation data set (:func:`hpo.protocols.splits.check_evaluation`). A seed/split already
        recorded as COMPLETE raises ``TrialStateError``; a FAILED one is replaced (a rerun).
        """

    @abstractmethod
    def get_evaluations(self, study_id: int, numbers: Sequence[int] | None = None) -> list[Evaluation]: ...

    # -- hooks ---------------------------------------------------------------
    def close(self) -> None:
        """Release connections (no-op by default)."""

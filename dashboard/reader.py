"""Read-only access to a study store for the dashboard, through the store's read API.

The dashboard never writes: it opens the store with ``open_store(url, read_only=True)`` (SQLite files
are opened with a read-only URI, PostgreSQL sessions are read-only transactions, and the store's writing
methods refuse). It never creates tables or runs migrations either: a store whose schema is missing or of
another revision is refused with an error naming the URL.

Trials are read incrementally: :class:`TrialFrame` keeps the finished trials it has read and, on each
refresh, fetches only the trials that finished since its last change number
(``StudyStore.columns_since``, see ``hpo.store.base``) plus the few that are RUNNING or WAITING
(``StudyStore.live_columns``). The table itself is ``hpo.results.trials_frame``, the one definition
``Study.trials_dataframe`` uses too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pandas as pd

from hpo.records import Objective, StudyRecord, TrialState
from hpo.results import trials_frame
from hpo.store import open_store
from hpo.store.base import Evaluation, Report, TrialColumns, TrialFields, columns_of

__all__ = ["DashboardReader", "TrialFrame", "DECISION_KEY", "PARENT_KEY"]

#: The trial attribute read as a scheduler's decision for a trial (e.g. "stop", "promote").
DECISION_KEY = "decision"
#: The trial attribute naming the trial whose checkpoint a trial resumed (PBT, promotion ASHA): its parent.
PARENT_KEY = "resume_from"


class TrialFrame:
    """A study's trials as a DataFrame, refreshed by reading only what changed.

    Finished trials never change again, so they are read once (by change
    number); RUNNING and WAITING trials are read on every refresh.
    """

    def __init__(self, reader: DashboardReader, record: StudyRecord) -> None:
        self.reader = reader
        self.record = record
        self.fields = TrialFields.of(record, attrs=(DECISION_KEY, PARENT_KEY))
        self._seq = 0
        self._done = self._table(columns_of([], self.fields))
        self._frame = self._done
        self._version: tuple[Any, ...] = ()
        self.last_read = 0  # trial rows read by the last refresh
        self._lock = threading.Lock()

    @property
    def version(self) -> tuple[Any, ...]:
        """Changes whenever the frame does: a cache key for what is computed from it."""
        return self._version

    def _table(self, columns: TrialColumns) -> pd.DataFrame:
        return trials_frame(columns, self.record.constraints)

    def refresh(self) -> pd.DataFrame:
        """Read the trials that changed since the last refresh; return every trial, by number."""
        store, sid = self.reader.store, self.record.study_id
        with self._lock:
            # Live trials first: one that finishes in between is then also read as finished.
            live = store.live_columns(sid, self.fields)
            new, seq = store.columns_since(sid, self._seq, self.fields)
            self.last_read = len(live) + len(new)
            if len(new):
                self._seq = seq
                fresh = self._table(new)
                self._done = pd.concat([self._done, fresh], ignore_index=True) if len(self._done) else fresh
            live_frame = self._table(live)
            if len(live_frame):
                live_frame = live_frame[~live_frame["number"].isin(self._done["number"])]
            version = (self._seq, tuple(zip(live_frame["number"], live_frame["state"])))
            if version != self._version or len(new):
                parts = [f for f in (self._done, live_frame) if len(f)]
                frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else self._done)
                self._frame = frame.sort_values("number", kind="stable", ignore_index=True)
                self._version = version
            return self._frame


class DashboardReader:
    """Everything the dashboard reads from one store, through the store's read-only API.

    Raises:
        StorageError: the SQLite file does not exist, the database holds no hpo schema, or the
            store cannot be opened (see ``hpo.store.errors``).
        SchemaVersionError: the schema is of another revision (older: run ``hpo db upgrade``; newer:
            upgrade hpo; the dashboard never migrates), or the database is an Optuna storage.
    """

    def __init__(self, storage: str) -> None:
        # A missing file, a folder, a non-database or an unreachable server: StorageError; a newer hpo's
        # store ("upgrade hpo"), an older one ("run hpo db upgrade"), an Optuna storage or a foreign
        # database: SchemaVersionError / StorageError. The dashboard never creates or migrates.
        self.store = open_store(storage, read_only=True)
        self.url = self.store.url
        self._frames: dict[str, TrialFrame] = {}
        self._lock = threading.Lock()

    # -- studies ---------------------------------------------------------------
    def study_names(self) -> list[str]:
        return [s.name for s in self.store.list_studies()]

    def study(self, name: str) -> StudyRecord:
        return self.store.get_study(name)

    def best_value(self, record: StudyRecord, objective: Objective) -> float | None:
        """The best value of ``objective`` over feasible COMPLETE trials (an aggregate of the store)."""
        return self.store.best_value(record.study_id, objective, record.constraints)

    def studies_frame(self) -> pd.DataFrame:
        """One row per study: name, objectives, trials by state, best value, last activity."""
        summaries = self.store.list_studies()
        rows = []
        for s in summaries:
            record = self.study(s.name)
            best: Any = None
            if len(record.objectives) == 1:
                best = self.best_value(record, record.objectives[0])
            row: dict[str, Any] = {
                "study": s.name,
                "objectives": ", ".join(f"{o.name} ({o.direction.value[:3]})" for o in record.objectives),
                "state": "running" if s.states.get("RUNNING") or s.states.get("WAITING") else (
                    "empty" if not s.n_trials else "idle"),
                "trials": s.n_trials,
            }
            row["best value"] = best
            row["last activity"] = s.last_activity
            for state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED, TrialState.FAILED,
                          TrialState.WAITING):
                row[state.value] = s.states.get(state.value, 0)
            row["created"] = s.created_at
            rows.append(row)
        return pd.DataFrame(rows)

    def trial_frame(self, name: str) -> TrialFrame:
        """The shared, incrementally refreshed trial frame of a study.

        The study is looked up on every call (one small query), so a study deleted and created again
        under the same name gets a new frame, and a deleted one raises ``StudyNotFoundError``.
        """
        record = self.study(name)
        with self._lock:
            frame = self._frames.get(name)
            same = frame is not None and (frame.record.study_id, frame.record.created_at) == (
                record.study_id, record.created_at)  # SQLite can reuse a deleted study's id
            if not same:
                frame = self._frames[name] = TrialFrame(self, record)
            return frame

    # -- reports and evaluations -------------------------------------------------
    def report_counts(self, record: StudyRecord) -> pd.Series:
        """Number of intermediate reports per trial number (an aggregate of the store; no report rows)."""
        return pd.Series(self.store.report_counts(record.study_id), dtype="int64")

    def reports(self, record: StudyRecord, numbers: Sequence[int]) -> list[Report]:
        """The reports of the given trials only."""
        if not numbers:
            return []
        return self.store.get_reports(record.study_id, list(numbers))

    def evaluations(self, record: StudyRecord) -> list[Evaluation]:
        return self.store.get_evaluations(record.study_id)

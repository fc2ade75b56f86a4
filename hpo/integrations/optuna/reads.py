"""The trial reads of :class:`~hpo.integrations.optuna.HpoStorage`, with a cache of finished trials.

Optuna's samplers read every trial of the study at each ask (``get_all_trials``). A finished trial never
changes (Optuna refuses to update one), and every trial that finishes takes the study's next change number
(``trials.seq``, hpo's store invariant), so a read fetches only the RUNNING / WAITING trials and the trials
finished since the last read; the finished ones are kept in memory per study. Its database cost depends on
what changed, not on the size of the history. (hpo's own late results, kept on trials its store reclaimed,
are not read again by a storage that has already read the trial as FAILED.)
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Container, Sequence
from typing import Any, cast

import sqlalchemy as sa
from optuna.trial import FrozenTrial, TrialState

from hpo.errors import TrialNotFoundError
from hpo.integrations.optuna import codec
from hpo.store import rows as _rows

__all__ = ["TrialReads", "studies", "trials", "reports", "evaluations"]

# The store's tables (typed as Tables: the ORM declares them as FromClauses).
studies = cast(sa.Table, _rows.studies)
trials = cast(sa.Table, _rows.trials)
reports = cast(sa.Table, _rows.reports)
evaluations = cast(sa.Table, _rows.evaluations)

_FINISHED = ("COMPLETE", "PRUNED", "FAILED")
_REPORTS_OF = (sa.select(reports.c.trial_id, reports.c.step, reports.c["values"])
               .where(reports.c.trial_id == sa.bindparam("tid")).order_by(reports.c.id))
_WAITING = (sa.select(trials).where((trials.c.study_id == sa.bindparam("sid")) & (trials.c.state == "WAITING"))
            .order_by(trials.c.number))
_LIVE = sa.select(trials).where((trials.c.study_id == sa.bindparam("sid"))
                                & trials.c.state.in_(["RUNNING", "WAITING"]))
_FINISHED_SINCE = sa.select(trials).where((trials.c.study_id == sa.bindparam("sid"))
                                          & (trials.c.seq > sa.bindparam("seq")))


class TrialReads:
    """Mixin: the reads of trials (needs the storage's ``_store``, ``_names``, ``_study_row``, ``_trial_row``,
    ``_require_study``)."""

    _store: Any

    def _init_reads(self) -> None:
        self._reads_lock = threading.Lock()
        #: study id -> (newest change number read, {number: finished trial}); trial id -> finished trial
        self._finished: dict[int, tuple[int, dict[int, FrozenTrial]]] = {}
        self._finished_by_id: dict[int, FrozenTrial] = {}

    def _forget_study(self, study_id: int) -> None:
        with self._reads_lock:
            _, done = self._finished.pop(study_id, (0, {}))
            for t in done.values():
                self._finished_by_id.pop(t._trial_id, None)

    def _frozen(self, conn: sa.Connection, rows: Sequence[Any], study_id: int) -> list[FrozenTrial]:
        from hpo.integrations.optuna.trials import frozen_trial

        if not rows:
            return []
        ids = [r.id for r in rows]
        stmt = sa.select(reports.c.trial_id, reports.c.step, reports.c["values"]).order_by(reports.c.id)
        binds: dict[str, Any] = {}
        if len(ids) == 1:
            stmt, binds = _REPORTS_OF, {"tid": ids[0]}
        elif len(ids) <= 500:
            stmt = stmt.where(reports.c.trial_id.in_(ids))
        else:
            stmt = stmt.join(trials, trials.c.id == reports.c.trial_id).where(trials.c.study_id == study_id)
        found: dict[int, list[tuple[float, Any]]] = {}
        wanted = set(ids)
        for tid, step, vals in conn.execute(stmt, binds):
            if tid in wanted:
                found.setdefault(tid, []).append((step, vals))
        names = self._names(conn, study_id)  # type: ignore[attr-defined]
        study: Any = None
        if any(not isinstance((r.attrs or {}).get("optuna"), dict) for r in rows):  # written by hpo itself
            study = self._study_row(conn, study_id)  # type: ignore[attr-defined]
        return [frozen_trial(r, names, found.get(r.id, []), study) for r in rows]

    def get_trial(self, trial_id: int) -> FrozenTrial:
        cached = self._finished_by_id.get(trial_id)
        if cached is not None:
            return copy.deepcopy(cached)
        with self._store.engine.connect() as conn:
            row = self._trial_row(conn, trial_id)  # type: ignore[attr-defined]
            return self._frozen(conn, [row], row.study_id)[0]

    def _all(self, conn: sa.Connection, study_id: int) -> list[FrozenTrial]:
        """Every trial of the study by number: the live ones read now, the finished ones from the cache."""
        self._require_study(conn, study_id)  # type: ignore[attr-defined]
        with self._reads_lock:
            seq, done = self._finished.get(study_id, (0, {}))
        # Live trials first, then those finished since: a trial finishing in between is in the second read.
        live_rows = conn.execute(_LIVE, {"sid": study_id}).all()
        new_rows = conn.execute(_FINISHED_SINCE, {"sid": study_id, "seq": seq}).all()
        frozen = self._frozen(conn, list(new_rows) + list(live_rows), study_id)
        newest = seq
        done = dict(done)
        for row, trial in zip(new_rows, frozen):
            if row.state in _FINISHED:
                done[trial.number] = trial
                newest = max(newest, int(row.seq))
        live = {t.number: t for t in frozen[len(new_rows):] if t.number not in done}
        with self._reads_lock:
            if newest > self._finished.get(study_id, (0, {}))[0]:
                self._finished[study_id] = (newest, done)
                self._finished_by_id.update({t._trial_id: t for t in done.values()})
        merged = {**done, **live}
        return [merged[n] for n in sorted(merged)]

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        if states is not None and [s for s in TrialState if s in states] == [TrialState.WAITING]:
            with self._store.engine.connect() as conn:  # Optuna's read at every ask: only the WAITING trials
                rows = conn.execute(_WAITING, {"sid": study_id}).all()
                if not rows:
                    self._require_study(conn, study_id)  # type: ignore[attr-defined]
                out = self._frozen(conn, rows, study_id)
        else:
            with self._store.engine.connect() as conn:
                out = self._all(conn, study_id)
            if states is not None:
                out = [t for t in out if t.state in states]
        return copy.deepcopy(out) if deepcopy else out

    def get_n_trials(self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(trials).where(trials.c.study_id == study_id)
        if state is not None:
            chosen = (state,) if isinstance(state, TrialState) else tuple(state)
            stmt = stmt.where(trials.c.state.in_([codec.STATE_TO_HPO[s.name] for s in chosen]))
        with self._store.engine.connect() as conn:
            self._require_study(conn, study_id)  # type: ignore[attr-defined]
            return int(conn.execute(stmt).scalar() or 0)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        with self._store.engine.connect() as conn:
            found = conn.execute(sa.select(trials.c.id).where((trials.c.study_id == study_id)
                                                              & (trials.c.number == trial_number))).scalar()
        if found is None:
            raise TrialNotFoundError(f"trial_number: study id {study_id} has no trial number {trial_number}")
        return int(found)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        with self._store.engine.connect() as conn:
            found = conn.execute(sa.select(trials.c.number).where(trials.c.id == trial_id)).scalar()
        if found is None:
            raise TrialNotFoundError(f"trial_id: no trial with id {trial_id} in {self._store.url}")
        return int(found)

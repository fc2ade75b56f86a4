"""The SQL store's reads: studies, trials, reports and evaluations, and the column and aggregate reads of
the dashboard (:mod:`hpo.store.columns`).

:class:`SQLReads` is the read half of :class:`hpo.store.sql.SQLStore`; it needs only ``engine`` and ``url``,
so it works on a read-only engine too. Every read is one short read transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hpo.errors import StudyNotFoundError, TrialNotFoundError
from hpo.records import (
    Constraint,
    FrozenTrial,
    Objective,
    StudyRecord,
    TrialState,
    parse_constraints,
    parse_objectives,
)
from hpo.store import columns as _columns
from hpo.store.base import LIVE_STATES, Evaluation, Report, StudyStore, StudySummary, TrialColumns, TrialFields
from hpo.store.rows import aware as _aware, evaluations, frozen_trial as _trial, reports, studies, trials

__all__ = ["SQLReads"]


class SQLReads(StudyStore):
    """The read methods of the SQL store (see :class:`hpo.store.sql.SQLStore`)."""

    url: str
    engine: Engine

    # -- helpers -------------------------------------------------------------
    def _gone(self, study_id: int) -> StudyNotFoundError:
        return StudyNotFoundError(
            f"study id {study_id} no longer exists in {self.url} (it was deleted); nothing was written. "
            "Study ids are never reused, so a handle on a deleted study cannot write into another one"
        )

    def _require_study(self, conn: sa.Connection, study_id: int) -> None:
        if conn.execute(sa.select(studies.c.id).where(studies.c.id == study_id)).first() is None:
            raise self._gone(study_id)

    def get_study(self, name: str, _study_id: int | None = None) -> StudyRecord:
        cond = studies.c.id == _study_id if _study_id is not None else studies.c.name == name
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(studies).where(cond)).first()
            if row is None:
                names = conn.execute(sa.select(studies.c.name).order_by(studies.c.name).limit(20)).scalars().all()
        if row is None:
            raise StudyNotFoundError(f"no study named {name!r} in {self.url}; studies present: {list(names)}")
        objectives = parse_objectives(row.objectives)
        return StudyRecord(
            study_id=row.id,
            name=row.name,
            space=row.space,
            objectives=objectives,
            constraints=parse_constraints(row.constraints, tuple(o.name for o in objectives)),
            fidelity=row.fidelity,
            settings=row.settings or {},
            created_at=_aware(row.created_at),
        )

    def list_studies(self) -> list[StudySummary]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(studies.c.id, studies.c.name, studies.c.created_at).order_by(studies.c.id)).all()
            counts = conn.execute(
                sa.select(trials.c.study_id, trials.c.state, sa.func.count(), sa.func.max(trials.c.created_at), sa.func.max(trials.c.finished_at))
                .group_by(trials.c.study_id, trials.c.state)
            ).all()
        by_study: dict[int, dict[str, int]] = {}
        last: dict[int, dt.datetime] = {}
        for study_id, state, n, created, finished in counts:
            by_study.setdefault(study_id, {})[state] = n
            for stamp in (_aware(created), _aware(finished)):
                if stamp is not None and (study_id not in last or stamp > last[study_id]):
                    last[study_id] = stamp
        return [
            StudySummary(
                name=r.name,
                created_at=_aware(r.created_at),
                n_trials=sum(by_study.get(r.id, {}).values()),
                states=by_study.get(r.id, {}),
                last_activity=last.get(r.id),
            )
            for r in rows
        ]

    def get_trial(self, study_id: int, number: int) -> FrozenTrial:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(trials).where((trials.c.study_id == study_id) & (trials.c.number == number))
            ).first()
        if row is None:
            raise TrialNotFoundError(f"study id {study_id} has no trial number {number}")
        return _trial(row)

    def get_trials(self, study_id: int, states: Iterable[TrialState] | None = None) -> list[FrozenTrial]:
        stmt = sa.select(trials).where(trials.c.study_id == study_id)
        if states is not None:
            stmt = stmt.where(trials.c.state.in_([TrialState.parse(s).value for s in states]))
        with self.engine.connect() as conn:
            found = [_trial(r) for r in conn.execute(stmt.order_by(trials.c.number))]
            if not found:
                self._require_study(conn, study_id)
        return found

    def finished_since(self, study_id: int, seq: int) -> tuple[list[FrozenTrial], int]:
        stmt = (
            sa.select(trials)
            .where((trials.c.study_id == study_id) & (trials.c.seq > seq))
            .order_by(trials.c.seq)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                self._require_study(conn, study_id)
        return [_trial(r) for r in rows], (int(rows[-1].seq) if rows else seq)

    def get_reports(self, study_id: int, numbers: Sequence[int] | None = None) -> list[Report]:
        stmt = (
            sa.select(trials.c.number, reports.c.step, reports.c["values"], reports.c.created_at)
            .join(trials, trials.c.id == reports.c.trial_id)
            .where(trials.c.study_id == study_id)
        )
        if numbers is not None:
            stmt = stmt.where(trials.c.number.in_(list(numbers)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(trials.c.number, reports.c.step, reports.c.id)).all()
        return [Report(r.number, r.step, r.values, _aware(r.created_at)) for r in rows]

    def reports_since(self, study_id: int, cursor: int) -> tuple[list[Report], int]:
        stmt = (
            sa.select(reports.c.id, trials.c.number, reports.c.step, reports.c["values"], reports.c.created_at)
            .join(trials, trials.c.id == reports.c.trial_id)
            .where((trials.c.study_id == study_id) & (reports.c.id > cursor))
            .order_by(reports.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = [Report(r.number, r.step, r.values, _aware(r.created_at)) for r in rows]
        return out, (int(rows[-1].id) if rows else cursor)

    def get_evaluations(self, study_id: int, numbers: Sequence[int] | None = None) -> list[Evaluation]:
        stmt = (
            sa.select(trials.c.number, evaluations)
            .join(trials, trials.c.id == evaluations.c.trial_id)
            .where(trials.c.study_id == study_id)
        )
        if numbers is not None:
            stmt = stmt.where(trials.c.number.in_(list(numbers)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(trials.c.number, evaluations.c.id)).all()
        return [Evaluation(r.number, r.seed, r.split, TrialState(r.state), r.values, r.error, r.dataset) for r in rows]


    # -- column and aggregate reads --------------------------------------------
    def columns_since(self, study_id: int, seq: int, fields: TrialFields) -> tuple[TrialColumns, int]:
        where = (trials.c.study_id == study_id) & (trials.c.seq > seq)
        with self.engine.connect() as conn:
            found, newest = _columns.read_columns(conn, where, fields, trials.c.seq)
            if not len(found):
                self._require_study(conn, study_id)
        return found, max(newest, seq)

    def live_columns(self, study_id: int, fields: TrialFields) -> TrialColumns:
        where = (trials.c.study_id == study_id) & trials.c.state.in_([s.value for s in LIVE_STATES])
        with self.engine.connect() as conn:
            found, _ = _columns.read_columns(conn, where, fields, trials.c.number)
            if not len(found):
                self._require_study(conn, study_id)
        return found

    def best_value(
        self, study_id: int, objective: Objective, constraints: Sequence[Constraint] = ()
    ) -> float | None:
        value = _columns.best_value(self.engine, study_id, objective, constraints)
        if value is None:
            with self.engine.connect() as conn:
                self._require_study(conn, study_id)
        return value

    def report_counts(self, study_id: int) -> dict[int, int]:
        with self.engine.connect() as conn:
            counts = _columns.report_counts(conn, study_id)
            if not counts:
                self._require_study(conn, study_id)
        return counts

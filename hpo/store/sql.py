"""The SQLAlchemy implementation of the store, for SQLite and PostgreSQL.

The hot path (ask and tell) is one short write transaction each, written with
SQLAlchemy Core:

- ``create_trial``: ``UPDATE studies SET next_number = next_number + 1 ...
  RETURNING`` (the study row lock makes the allocation atomic) then ``INSERT``;
- ``finish_trial``: ``UPDATE studies SET seq = seq + 1 ... RETURNING`` then a
  conditional ``UPDATE trials ... WHERE state IN (allowed predecessors)``; if
  no row matched, the transaction is rolled back and the error names the state.

Because every finish bumps ``studies.seq`` under the study row lock, change
numbers are handed out in commit order and ``finished_since`` is exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hpo.errors import (
    DuplicateStudyError,
    TrialNotFoundError,
    TrialStateError,
    ValidationError,
)
from hpo.records import (
    ALLOWED_TRANSITIONS,
    FrozenTrial,
    StudyRecord,
    TrialState,
)
from hpo.store.base import split_suggestion
from hpo.store.engine import get_engine, normalize_url, write_connection
from hpo.store.migrate import ensure_schema
from hpo.store.reads import SQLReads
from hpo.store.rows import (
    evaluations,
    expiry as _expiry,
    frozen_trial as _trial,
    late_reportable as _reclaimable,
    reports,
    studies,
    trials,
)
from hpo.store.schema import utcnow
from hpo.store.text import scrub, scrub_text

__all__ = ["SQLStore"]


#: An evaluation is either part of tuning or a held-out test.
EVALUATION_SPLITS = ("tuning", "test")

_FROM_STATES: dict[TrialState, list[str]] = {
    target: [src.value for src, targets in ALLOWED_TRANSITIONS.items() if target in targets]
    for target in TrialState
}


# Statements of the hot path, built once (bind parameters are filled per call).
_NEXT_NUMBER = (
    sa.update(studies)
    .where(studies.c.id == sa.bindparam("sid"))
    .values(next_number=studies.c.next_number + sa.bindparam("n"))
    .returning(studies.c.next_number)
)
_NEXT_SEQ = (
    sa.update(studies).where(studies.c.id == sa.bindparam("sid")).values(seq=studies.c.seq + 1).returning(studies.c.seq)
)
_INSERT_TRIAL = sa.insert(trials).returning(trials.c.id)
_FINISH = (
    sa.update(trials)
    .where(
        (trials.c.study_id == sa.bindparam("sid"))
        & (trials.c.number == sa.bindparam("num"))
        & trials.c.state.in_(sa.bindparam("from_states", expanding=True))
    )
    .values(
        state=sa.bindparam("new_state"),
        values=sa.bindparam("new_values", type_=trials.c["values"].type),
        constraint_values=sa.bindparam("new_cvalues", type_=trials.c.constraint_values.type),
        error=sa.bindparam("new_error"),
        finished_at=sa.bindparam("new_finished_at", type_=trials.c.finished_at.type),
        seq=sa.bindparam("new_seq"),
    )
    .returning(*trials.c)
)
_WAITING = (
    sa.select(trials.c.id)
    .where((trials.c.study_id == sa.bindparam("sid")) & (trials.c.state == TrialState.WAITING.value))
    .order_by(trials.c.number)
    .limit(1)
)
_WAITING_PG = _WAITING.with_for_update(skip_locked=True)


class SQLStore(SQLReads):
    """Study store on a SQLAlchemy engine (SQLite file or PostgreSQL server)."""

    def __init__(self, url: str | sa.URL, engine: Engine | None = None, read_only: bool = False) -> None:
        parsed = normalize_url(url)
        self.url = parsed.render_as_string(hide_password=True)
        self.engine = engine if engine is not None else get_engine(parsed, read_only=read_only)
        self._pg = self.engine.dialect.name == "postgresql"
        ensure_schema(self.engine)

    # -- helpers -------------------------------------------------------------
    def _write(self) -> sa.Connection:
        return write_connection(self.engine)

    def _next_number(self, conn: sa.Connection, study_id: int, n: int = 1) -> int:
        value = conn.execute(_NEXT_NUMBER, {"sid": study_id, "n": n}).scalar()
        if value is None:
            raise self._gone(study_id)
        return int(value) - n

    def _next_seq(self, conn: sa.Connection, study_id: int) -> int:
        """Take the study's next change number; this also takes the study's row lock (PostgreSQL)."""
        value = conn.execute(_NEXT_SEQ, {"sid": study_id}).scalar()
        if value is None:
            raise self._gone(study_id)
        return int(value)

    def _insert_trial(
        self,
        conn: sa.Connection,
        study_id: int,
        params: dict[str, Any],
        state: TrialState,
        worker_id: str | None,
        attrs: dict[str, Any] | None,
        heartbeat: bool,
        number: int | None = None,
        lease: float | None = None,
    ) -> FrozenTrial:
        if number is None:
            number = self._next_number(conn, study_id)
        now = utcnow()
        running = state is TrialState.RUNNING
        values = {
            "study_id": study_id,
            "number": number,
            "state": state.value,
            "params": scrub(params),
            "attrs": scrub(attrs or {}),
            "worker_id": scrub_text(worker_id, 256) if running else None,
            "created_at": now,
            "started_at": now if running else None,
            "heartbeat_at": now if running and heartbeat else None,
            "expires_at": _expiry(now, lease) if running else None,
        }
        trial_id = conn.execute(_INSERT_TRIAL, values).scalar_one()
        return FrozenTrial(
            number=number,
            state=state,
            params=values["params"],
            created_at=now,
            started_at=values["started_at"],
            heartbeat_at=values["heartbeat_at"],
            worker_id=values["worker_id"],
            attrs=values["attrs"],
            trial_id=trial_id,
            study_id=study_id,
            expires_at=values["expires_at"],
        )

    # -- studies -------------------------------------------------------------
    def create_study(
        self,
        name: str,
        space: dict[str, Any],
        objectives: list[dict[str, str]],
        constraints: list[dict[str, Any]],
        fidelity: dict[str, Any] | None,
        settings: dict[str, Any],
    ) -> StudyRecord:
        from hpo.records import check_study_name  # the one name rule; the name becomes a checkpoint folder

        check_study_name(name)
        try:
            with self._write() as conn, conn.begin():
                study_id = conn.execute(
                    sa.insert(studies)
                    .values(
                        name=name,
                        space=scrub(space),
                        objectives=scrub(objectives),
                        constraints=scrub(constraints),
                        fidelity=scrub(fidelity),
                        settings=scrub(settings),
                        next_number=0,
                        seq=0,
                        created_at=utcnow(),
                    )
                    .returning(studies.c.id)
                ).scalar_one()
        except IntegrityError:
            raise DuplicateStudyError(
                f"study {name!r} already exists in {self.url}; pass load_if_exists=True to reuse it "
                "or choose another name"
            ) from None
        return self.get_study(name, _study_id=study_id)

    def delete_study(self, name: str) -> None:
        record = self.get_study(name)
        with self._write() as conn, conn.begin():
            trial_ids = sa.select(trials.c.id).where(trials.c.study_id == record.study_id)
            conn.execute(sa.delete(reports).where(reports.c.trial_id.in_(trial_ids)))
            conn.execute(sa.delete(evaluations).where(evaluations.c.trial_id.in_(trial_ids)))
            conn.execute(sa.delete(trials).where(trials.c.study_id == record.study_id))
            conn.execute(sa.delete(studies).where(studies.c.id == record.study_id))

    # -- trials --------------------------------------------------------------
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
        if state not in (TrialState.WAITING, TrialState.RUNNING):
            raise TrialStateError(f"a new trial must be WAITING or RUNNING, but got {state.value}")
        with self._write() as conn, conn.begin():
            return self._insert_trial(conn, study_id, params, state, worker_id, attrs, heartbeat, number, lease)

    def reserve_numbers(self, study_id: int, n: int = 1) -> int:
        if n < 1:
            raise TrialStateError(f"reserve_numbers: `n >= 1` must hold, but got n={n}")
        with self._write() as conn, conn.begin():
            return self._next_number(conn, study_id, n)

    def _claim(
        self, conn: sa.Connection, study_id: int, worker_id: str | None, heartbeat: bool, lease: float | None
    ) -> FrozenTrial | None:
        pick = _WAITING_PG if self._pg else _WAITING
        trial_id = conn.execute(pick, {"sid": study_id}).scalar()
        if trial_id is None:
            return None
        now = utcnow()
        row = conn.execute(
            sa.update(trials)
            .where((trials.c.id == trial_id) & (trials.c.state == TrialState.WAITING.value))
            .values(state=TrialState.RUNNING.value, worker_id=scrub_text(worker_id, 256), started_at=now,
                    heartbeat_at=now if heartbeat else None, expires_at=_expiry(now, lease))
            .returning(*trials.c)
        ).first()
        return _trial(row) if row is not None else None

    def claim_waiting(
        self, study_id: int, worker_id: str | None, heartbeat: bool = False, lease: float | None = None
    ) -> FrozenTrial | None:
        with self._write() as conn, conn.begin():
            return self._claim(conn, study_id, worker_id, heartbeat, lease)

    def start_trial(
        self,
        study_id: int,
        worker_id: str | None,
        suggest: Callable[[int], dict[str, Any]],
        heartbeat: bool = False,
        in_transaction: bool = False,
        lease: float | None = None,
    ) -> FrozenTrial:
        with self._write() as conn, conn.begin():
            claimed = self._claim(conn, study_id, worker_id, heartbeat, lease)
            if claimed is not None:
                return claimed
            number = self._next_number(conn, study_id)
            if in_transaction:
                params, attrs = split_suggestion(suggest(number))
                return self._insert_trial(
                    conn, study_id, params, TrialState.RUNNING, worker_id, attrs, heartbeat, number, lease
                )
        params, attrs = split_suggestion(suggest(number))
        return self.create_trial(study_id, params, TrialState.RUNNING, worker_id, attrs, heartbeat=heartbeat,
                                 number=number, lease=lease)

    def finish_trial(
        self,
        study_id: int,
        number: int,
        state: TrialState,
        values: dict[str, float] | None = None,
        constraint_values: dict[str, float] | None = None,
        error: str | None = None,
    ) -> FrozenTrial:
        if not state.is_finished:
            raise TrialStateError(f"trial {number}: finish_trial needs a finished state, but got {state.value}")
        conn = self._write()
        try:
            txn = conn.begin()
            seq = self._next_seq(conn, study_id)
            row = conn.execute(
                _FINISH,
                {
                    "sid": study_id,
                    "num": number,
                    "from_states": _FROM_STATES[state],
                    "new_state": state.value,
                    "new_values": scrub(values),
                    "new_cvalues": scrub(constraint_values),
                    "new_error": scrub_text(error),
                    "new_finished_at": utcnow(),
                    "new_seq": seq,
                },
            ).first()
            if row is None:
                txn.rollback()
                current = self.get_trial(study_id, number)  # raises TrialNotFoundError
                raise TrialStateError(
                    f"trial {number} is {current.state.value}; it can become {state.value} only from "
                    f"{_FROM_STATES[state]} (a trial is told once)"
                )
            txn.commit()
            return _trial(row)
        finally:
            conn.close()

    def heartbeat(self, study_id: int, numbers: Sequence[int], lease: float | None) -> None:
        if not numbers:
            return
        now = utcnow()
        with self._write() as conn, conn.begin():
            result = conn.execute(
                sa.update(trials)
                .where(
                    (trials.c.study_id == study_id)
                    & trials.c.number.in_(list(numbers))
                    & (trials.c.state == TrialState.RUNNING.value)
                )
                .values(heartbeat_at=now, expires_at=_expiry(now, lease))
            )
            if result.rowcount == 0:
                self._require_study(conn, study_id)

    def reclaim_stale(self, study_id: int, now: dt.datetime, requeue: bool) -> list[int]:
        from hpo.store.leases import reclaim_expired

        return reclaim_expired(self, study_id, now, requeue)

    def record_late_result(
        self,
        study_id: int,
        number: int,
        state: TrialState,
        values: dict[str, float] | None = None,
        constraint_values: dict[str, float] | None = None,
        error: str | None = None,
    ) -> FrozenTrial:
        from hpo.store.leases import record_late_result

        return record_late_result(self, study_id, number, state, values, constraint_values, error)

    # -- user attributes ------------------------------------------------------
    def set_trial_user_attr(self, study_id: int, number: int, key: str, value: Any) -> None:
        from hpo.store.user_attrs import set_trial_user_attr

        set_trial_user_attr(self, study_id, number, key, value)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> dict[str, Any]:
        from hpo.store.user_attrs import set_study_user_attr

        return set_study_user_attr(self, study_id, key, value)

    def set_trial_attr(self, study_id: int, number: int, key: str, value: Any) -> None:
        from hpo.store.user_attrs import locked_trial

        with self._write() as conn, conn.begin():
            row = locked_trial(self, conn, study_id, number, trials.c.attrs)
            if row.state != TrialState.RUNNING.value:
                raise TrialStateError(f"trial {number} is {row.state}: attrs are set only while it is RUNNING; "
                                      f"nothing was written for key {key!r}")
            conn.execute(sa.update(trials).where(trials.c.id == row.id)
                         .values(attrs=scrub({**(row.attrs or {}), key: value})))

    # -- reports and evaluations ----------------------------------------------
    def _trial_id(self, study_id: int, number: int) -> sa.ScalarSelect[Any]:
        return (
            sa.select(trials.c.id)
            .where((trials.c.study_id == study_id) & (trials.c.number == number))
            .scalar_subquery()
        )

    def add_report(self, study_id: int, number: int, step: float, values: Mapping[str, float | None]) -> None:
        with self._write() as conn, conn.begin():
            row = conn.execute(
                sa.select(trials.c.id, trials.c.state, trials.c.attrs)
                .where((trials.c.study_id == study_id) & (trials.c.number == number))
            ).first()
            if row is None:
                self._require_study(conn, study_id)
                raise TrialNotFoundError(f"study id {study_id} has no trial number {number}")
            if row.state != TrialState.RUNNING.value and not _reclaimable(row):
                raise TrialStateError(
                    f"trial {number} is {row.state}: reports are accepted only while a trial is RUNNING "
                    "(or late, from the worker of a trial the store reclaimed); nothing was written"
                )
            conn.execute(
                sa.insert(reports).values(trial_id=row.id, step=float(step), values=scrub(dict(values)),
                                          created_at=utcnow())
            )

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
        from hpo.protocols.splits import check_evaluation, protocol_from_settings

        if split not in EVALUATION_SPLITS:
            raise ValidationError(f"evaluation split must be one of {EVALUATION_SPLITS}, but got {split!r}")
        with self._write() as conn, conn.begin():
            row = conn.execute(
                sa.select(trials.c.id, trials.c.state, studies.c.settings)
                .join(studies, studies.c.id == trials.c.study_id)
                .where((trials.c.study_id == study_id) & (trials.c.number == number))
            ).first()
            if row is None:
                self._require_study(conn, study_id)
                raise TrialNotFoundError(f"study id {study_id} has no trial number {number}")
            check_evaluation(protocol_from_settings(row.settings), number, split, int(seed), dataset, row.state)
            key = (evaluations.c.trial_id == row.id) & (evaluations.c.seed == int(seed)) & (evaluations.c.split == split)
            fields = {
                "state": state.value,
                "values": scrub(dict(values)) if values is not None else None,
                "error": scrub_text(error),
                "dataset": dataset,
                "created_at": utcnow(),
            }
            # A FAILED (or unfinished) result of this seed/split is replaced by a rerun; a COMPLETE one is kept.
            old = conn.execute(sa.select(evaluations.c.id, evaluations.c.state).where(key)).first()
            if old is not None and old.state == TrialState.COMPLETE.value:
                raise TrialStateError(
                    f"trial {number}: the {split} evaluation for seed {seed} is already recorded as COMPLETE; "
                    "nothing was written"
                )
            try:
                if old is not None:
                    conn.execute(sa.update(evaluations).where(evaluations.c.id == old.id).values(**fields))
                else:
                    conn.execute(sa.insert(evaluations).values(trial_id=row.id, seed=int(seed), split=split, **fields))
            except IntegrityError:
                raise TrialStateError(
                    f"trial {number}: the {split} evaluation for seed {seed} was recorded concurrently; "
                    "nothing was written"
                ) from None

"""Leases of RUNNING trials: reclaiming expired ones, and keeping the late result of a reclaimed one.

Every RUNNING trial has a lease (``trials.expires_at``): a heart-beating trial
(``study.optimize``) extends it by ``stale_after`` at each heartbeat, an
``ask()``/``tell()`` trial gets ``ask_lease`` seconds (extended by
``trial.heartbeat()``). A trial whose lease ended is *reclaimed*: FAILED with
``attrs["reclaimed"]`` and, under ``stale_policy="requeue"``, its params queued
again as a new WAITING trial (``attrs["retry_of"]``; the old one gets
``attrs["requeued_as"]``).

Concurrency rules (SQLite serialises writers; these matter on PostgreSQL):
- a reclaimer takes the study's row lock first (as ``finish_trial`` does), so a
  tell and a reclaim of the same trial never interleave, and there is one lock
  order (study, then trials): no deadlock;
- expired rows are selected ``FOR UPDATE SKIP LOCKED`` (a row a heartbeat or a
  tell is writing right now is not expired for long), and the transition is
  conditional (still RUNNING, still expired), so each expired trial is reclaimed
  and re-queued exactly once, and a told result is never overwritten.

A worker that was only paused (SIGSTOP, laptop sleep, VM pause) tells its trial
after the reclaim. :func:`record_late_result` keeps that result on the reclaimed
trial (``attrs["late_result"]``) and, when the retry is still WAITING and the
result is COMPLETE, completes the retry with it so that nobody runs it again.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hpo.errors import TrialNotFoundError, TrialStateError
from hpo.records import FrozenTrial, TrialState
from hpo.store.rows import frozen_trial, late_reportable, trials
from hpo.store.schema import utcnow
from hpo.store.text import scrub, scrub_text

if TYPE_CHECKING:
    from hpo.store.sql import SQLStore

__all__ = ["reclaim_expired", "record_late_result", "LATE_ERROR_CHARS"]

#: Characters of a late FAILED result's error text kept in ``attrs["late_result"]``.
LATE_ERROR_CHARS = 4096


def _expired(study_id: int, now: dt.datetime) -> Any:
    return (
        (trials.c.study_id == study_id)
        & (trials.c.state == TrialState.RUNNING.value)
        & trials.c.expires_at.is_not(None)
        & (trials.c.expires_at < now)
    )


def reclaim_expired(store: SQLStore, study_id: int, now: dt.datetime, requeue: bool) -> list[int]:
    """Reclaim the study's RUNNING trials whose lease ended before ``now``; return their numbers."""
    expired = _expired(study_id, now)
    with store.engine.connect() as conn:  # the common case, nothing expired, takes no write lock
        if conn.execute(sa.select(trials.c.id).where(expired).limit(1)).first() is None:
            return []
    reclaimed: list[int] = []
    with store._write() as conn, conn.begin():
        seq = store._next_seq(conn, study_id)  # the study's row lock, before any trial row
        pick = sa.select(trials).where(expired).order_by(trials.c.number)
        if store._pg:
            pick = pick.with_for_update(skip_locked=True)
        for row in conn.execute(pick).all():
            old = frozen_trial(row)
            if old.heartbeat_at is not None:
                note = (f"reclaimed: worker {old.worker_id!r} stopped sending heartbeats (last at "
                        f"{old.heartbeat_at.isoformat()}); its lease ended at {old.expires_at.isoformat()}")
            else:
                started = old.started_at.isoformat() if old.started_at else "?"
                note = (f"reclaimed: the ask()/tell() lease of worker {old.worker_id!r} (started {started}, no "
                        f"heartbeat) ended at {old.expires_at.isoformat()}")
            attrs: dict[str, Any] = {**old.attrs, "reclaimed": True}
            if reclaimed:
                seq = store._next_seq(conn, study_id)
            failed = conn.execute(
                sa.update(trials)
                .where((trials.c.id == old.trial_id) & (trials.c.state == TrialState.RUNNING.value)
                       & (trials.c.expires_at < now))
                .values(state=TrialState.FAILED.value, error=note, attrs=attrs, finished_at=utcnow(), seq=seq)
                .returning(trials.c.id)
            ).first()
            if failed is None:  # told or heart-beaten since it was read
                continue
            if requeue:
                retry_attrs = {k: v for k, v in old.attrs.items() if k not in ("reclaimed", "requeued_as")}
                retry = store._insert_trial(
                    conn, study_id, old.params, TrialState.WAITING, None,
                    {**retry_attrs, "retry_of": old.number, "retries": int(old.attrs.get("retries", 0)) + 1}, False,
                )
                conn.execute(
                    sa.update(trials).where(trials.c.id == old.trial_id)
                    .values(error=f"{note}; re-queued as trial {retry.number}",
                            attrs={**attrs, "requeued_as": retry.number})
                )
            reclaimed.append(old.number)
    return reclaimed


def record_late_result(
    store: SQLStore,
    study_id: int,
    number: int,
    state: TrialState,
    values: dict[str, float] | None,
    constraint_values: dict[str, float] | None,
    error: str | None,
) -> FrozenTrial:
    """Keep the result a worker told after its trial was reclaimed.

    Returns the trial that now holds the result: the retry, completed, when it was still
    WAITING and the result is COMPLETE; otherwise the reclaimed trial, with the result in
    ``attrs["late_result"]``.

    Raises:
        TrialStateError: the trial was not reclaimed (it was told, or is still RUNNING), or
            its late result is already recorded.
    """
    if not state.is_finished:
        raise TrialStateError(f"trial {number}: a late result needs a finished state, but got {state.value}")
    locking = store._pg
    with store._write() as conn, conn.begin():
        seq = store._next_seq(conn, study_id)
        pick = sa.select(trials).where((trials.c.study_id == study_id) & (trials.c.number == number))
        row = conn.execute(pick.with_for_update() if locking else pick).first()
        if row is None:
            raise TrialNotFoundError(f"study id {study_id} has no trial number {number}")
        old = frozen_trial(row)
        if not late_reportable(row) or "late_result" in old.attrs:
            raise TrialStateError(
                f"trial {number} is {old.state.value}; it can become {state.value} only from RUNNING "
                "(a trial is told once)"
            )
        now = utcnow()
        late: dict[str, Any] = {
            "state": state.value,
            "values": scrub(values),
            "constraint_values": scrub(constraint_values),
            "error": scrub_text(error, LATE_ERROR_CHARS),
            "told_at": now.isoformat(),
        }
        completed: FrozenTrial | None = None
        retry_number = old.attrs.get("requeued_as")
        if state is TrialState.COMPLETE and isinstance(retry_number, int):
            pick = sa.select(trials).where((trials.c.study_id == study_id) & (trials.c.number == retry_number))
            retry = conn.execute(pick.with_for_update() if locking else pick).first()
            if retry is not None and retry.state == TrialState.WAITING.value:
                done = conn.execute(
                    sa.update(trials)
                    .where((trials.c.id == retry.id) & (trials.c.state == TrialState.WAITING.value))
                    .values(state=TrialState.COMPLETE.value, values=late["values"],
                            constraint_values=late["constraint_values"], worker_id=old.worker_id,
                            started_at=old.started_at, finished_at=now, seq=seq,
                            attrs={**(retry.attrs or {}), "late_result_of": number})
                    .returning(*trials.c)
                ).first()
                if done is not None:
                    completed = frozen_trial(done)
                    late["completed_retry"] = retry_number
        updated = conn.execute(
            sa.update(trials).where(trials.c.id == old.trial_id)
            .values(attrs={**old.attrs, "late_result": late}).returning(*trials.c)
        ).first()
    return completed if completed is not None else frozen_trial(updated)

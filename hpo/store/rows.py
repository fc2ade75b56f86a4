"""Row <-> record helpers shared by the SQL store's modules (tables, timestamps, trial snapshots)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hpo.records import FrozenTrial, TrialState
from hpo.store.schema import EvaluationRow, ReportRow, StudyRow, TrialRow

__all__ = ["studies", "trials", "reports", "evaluations", "aware", "frozen_trial", "expiry", "late_reportable"]

studies = StudyRow.__table__
trials = TrialRow.__table__
reports = ReportRow.__table__
evaluations = EvaluationRow.__table__


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; every timestamp we write is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def frozen_trial(row: Any) -> FrozenTrial:
    return FrozenTrial(
        number=row.number,
        state=TrialState(row.state),
        params=row.params,
        values=row.values,
        constraint_values=row.constraint_values,
        created_at=aware(row.created_at),
        started_at=aware(row.started_at),
        finished_at=aware(row.finished_at),
        heartbeat_at=aware(row.heartbeat_at),
        worker_id=row.worker_id,
        error=row.error,
        attrs=row.attrs or {},
        trial_id=row.id,
        study_id=row.study_id,
        expires_at=aware(row.expires_at),
    )


def expiry(now: dt.datetime, lease: float | None) -> dt.datetime | None:
    return None if lease is None else now + dt.timedelta(seconds=float(lease))


def late_reportable(row: Any) -> bool:
    """A FAILED trial the store took from its worker (lease ended), whose late result it may keep."""
    return row.state == TrialState.FAILED.value and bool((row.attrs or {}).get("reclaimed"))

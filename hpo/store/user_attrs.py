"""User attributes: ``trial.set_user_attr`` and ``study.set_user_attr`` in the SQL store.

No schema change: a trial's user attributes live in its ``attrs`` JSON under
``"user_attrs"``, a study's in its ``settings`` JSON under ``"user_attrs"``.
Each set is one write transaction that reads the document and writes it back
with the key merged in; on PostgreSQL the row is locked (``FOR UPDATE``) so two
concurrent sets (or a set and a reclaim) never lose each other's keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hpo.errors import TrialNotFoundError, TrialStateError
from hpo.records import USER_ATTRS, TrialState
from hpo.store.rows import late_reportable, studies, trials
from hpo.store.text import scrub

if TYPE_CHECKING:
    from hpo.store.sql import SQLStore

__all__ = ["set_trial_user_attr", "set_study_user_attr", "locked_trial"]


def locked_trial(store: SQLStore, conn: Any, study_id: int, number: int, *columns: Any) -> Any:
    """Trial ``number``'s row (``id``, ``state`` and ``columns``) read in ``conn``'s transaction, locked
    ``FOR UPDATE`` on PostgreSQL; ``StudyNotFoundError`` / ``TrialNotFoundError`` when it is not there."""
    pick = sa.select(trials.c.id, trials.c.state, *columns).where(
        (trials.c.study_id == study_id) & (trials.c.number == number))
    if store._pg:
        pick = pick.with_for_update()
    row = conn.execute(pick).first()
    if row is None:
        store._require_study(conn, study_id)
        raise TrialNotFoundError(f"study id {study_id} has no trial number {number}")
    return row


def _merged(document: Any, key: str, value: Any) -> dict[str, Any]:
    document = dict(document or {})
    found = document.get(USER_ATTRS)
    document[USER_ATTRS] = {**(found if isinstance(found, dict) else {}), key: value}
    return scrub(document)


def set_trial_user_attr(store: SQLStore, study_id: int, number: int, key: str, value: Any) -> None:
    """Store ``attrs["user_attrs"][key] = value`` on a RUNNING trial (or a reclaimed one, late)."""
    with store._write() as conn, conn.begin():
        row = locked_trial(store, conn, study_id, number, trials.c.attrs)
        if row.state != TrialState.RUNNING.value and not late_reportable(row):
            raise TrialStateError(
                f"trial {number} is {row.state}: user attributes are set only while a trial is RUNNING "
                f"(from its objective); nothing was written for key {key!r}")
        conn.execute(sa.update(trials).where(trials.c.id == row.id).values(attrs=_merged(row.attrs, key, value)))


def set_study_user_attr(store: SQLStore, study_id: int, key: str, value: Any) -> dict[str, Any]:
    """Store ``settings["user_attrs"][key] = value``; return the study's new settings."""
    with store._write() as conn, conn.begin():
        pick = sa.select(studies.c.settings).where(studies.c.id == study_id)
        if store._pg:
            pick = pick.with_for_update()
        row = conn.execute(pick).first()
        if row is None:
            raise store._gone(study_id)
        settings = _merged(row.settings, key, value)
        conn.execute(sa.update(studies).where(studies.c.id == study_id).values(settings=settings))
        return settings

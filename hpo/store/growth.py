"""Define-by-run writes in the SQL store: a study's space grows, a RUNNING trial's params grow.

No schema change: the space is the ``studies.space`` JSON, the params the ``trials.params`` JSON. Each
write is one transaction that reads the document and writes it back with the key merged in (on
PostgreSQL the row is locked, ``FOR UPDATE``), so concurrent workers never lose each other's keys and
the first definition of a parameter stays (see :mod:`hpo.define_by_run`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hpo.errors import StorageError, TrialStateError
from hpo.records import TrialState
from hpo.store.rows import studies, trials
from hpo.store.user_attrs import locked_trial

if TYPE_CHECKING:
    from hpo.store.sql import SQLStore

__all__ = ["grow_space", "add_trial_param", "sql_store"]


def sql_store(store: Any) -> SQLStore:
    """``store`` as the SQL store these writes need (StorageError for another kind of store)."""
    from hpo.store.sql import SQLStore

    if not isinstance(store, SQLStore):
        raise StorageError(f"define-by-run trials need the SQL store (SQLite or PostgreSQL), but the study's store "
                           f"is a {type(store).__name__}")
    return store


def grow_space(store: SQLStore, study_id: int, name: str, definition: dict[str, Any]) -> dict[str, Any]:
    """Add ``name: definition`` to the study's stored space unless ``name`` is there already; return the
    stored space (whose ``name`` may hold another definition: the caller compares)."""
    with store._write() as conn, conn.begin():
        pick = sa.select(studies.c.space).where(studies.c.id == study_id)
        if store._pg:
            pick = pick.with_for_update()
        row = conn.execute(pick).first()
        if row is None:
            raise store._gone(study_id)
        space = dict(row.space or {})
        if name not in space:
            space[name] = definition
            conn.execute(sa.update(studies).where(studies.c.id == study_id).values(space=space))  # type: ignore[arg-type]
        return space


def add_trial_param(store: SQLStore, study_id: int, number: int, name: str, value: Any) -> None:
    """Store ``params[name] = value`` on a RUNNING trial (``TrialStateError`` otherwise)."""
    with store._write() as conn, conn.begin():
        row = locked_trial(store, conn, study_id, number, trials.c.params)
        if row.state != TrialState.RUNNING.value:
            raise TrialStateError(f"trial {number} is {row.state}: parameters are suggested only while a trial is "
                                  f"RUNNING (from its objective); nothing was written for parameter {name!r}")
        params = {**(row.params or {}), name: value}
        conn.execute(sa.update(trials).where(trials.c.id == row.id).values(params=params))  # type: ignore[arg-type]

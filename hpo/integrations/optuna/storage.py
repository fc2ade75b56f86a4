"""``HpoStorage``: hpo's study store as an Optuna storage.

    import optuna
    from hpo.integrations.optuna import HpoStorage

    study = optuna.create_study(storage=HpoStorage("sqlite:///hpo.db"), study_name="mine")

The study then shows in ``hpo studies``, ``hpo status mine``, ``hpo export mine`` and the dashboard.
Optuna's semantics are kept exactly (Optuna's own ``StorageTestCase`` runs in hpo's test suite, on SQLite
and PostgreSQL); what goes where is :mod:`hpo.integrations.optuna.codec`. Each call is one short
transaction on hpo's store (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: row locks), so many threads and
processes can share one study. Ids are never reused: a handle on a deleted study never writes another one.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from optuna.distributions import (
    BaseDistribution,
    check_distribution_compatibility,
    distribution_to_json,
    json_to_distribution,
)
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._base import DEFAULT_STUDY_NAME_PREFIX
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import IntegrityError

from hpo.errors import StudyNotFoundError, TrialNotFoundError, ValidationError
from hpo.integrations.optuna import codec
from hpo.records import USER_ATTRS
from hpo.store.base import StudyStore
from hpo.integrations.optuna.reads import TrialReads, evaluations, reports, studies, trials
from hpo.store.schema import utcnow
from hpo.store.text import scrub

__all__ = ["HpoStorage"]

_SYSTEM = "system_attrs"
_DISTS = "distributions"


# Statements of the hot path, built once (SQLAlchemy then reuses their compiled form).
_TRIAL = sa.select(trials).where(trials.c.id == sa.bindparam("tid"))
_TRIAL_LOCKED = _TRIAL.with_for_update()
_TRIAL_STUDY = sa.select(trials.c.study_id).where(trials.c.id == sa.bindparam("tid"))
_UPDATE_TRIAL = sa.update(trials).where(trials.c.id == sa.bindparam("tid"))  # SET: the execute's other keys
_DELETE_REPORT = sa.delete(reports).where((reports.c.trial_id == sa.bindparam("tid"))
                                          & (reports.c.step == sa.bindparam("at")))
_INSERT_REPORT = sa.insert(reports)
_INSERT_TRIAL = sa.insert(trials).returning(trials.c.id)
_STUDY_EXISTS = sa.select(studies.c.id).where(studies.c.id == sa.bindparam("sid"))


def _optuna_doc(document: Any) -> dict[str, Any]:
    found = (document or {}).get("optuna")
    return dict(found) if isinstance(found, dict) else {}


class HpoStorage(TrialReads, BaseStorage, BaseHeartbeat):
    """An ``optuna.storages.BaseStorage`` on hpo's store (a SQLite file or a PostgreSQL database).

    Args:
        url_or_store: a store URL (``sqlite:///hpo.db``, ``postgresql+psycopg://user@host/db``) or an open
            :class:`hpo.store.StudyStore` (a SQL store); the store is created or migrated like any hpo store.
        heartbeat_interval, grace_period, heartbeat_stale_trial_callback: Optuna's heartbeat, as for
            ``RDBStorage``: ``study.optimize`` records a heartbeat of each running trial every
            ``heartbeat_interval`` seconds (in ``trials.heartbeat_at``; its lease ``expires_at`` is
            ``grace_period`` later, default twice the interval), and a trial whose lease ended is failed by the
            next ``optimize`` of the study (then the callback runs, e.g. ``RetryFailedTrialCallback``).

    Raises:
        StorageURLError, StorageError, SchemaVersionError: as :func:`hpo.store.open_store`.
        ValidationError: ``url_or_store`` is a store that is not on SQL; a heartbeat setting that is not a
            positive integer.
    """

    def __init__(self, url_or_store: str | StudyStore, *, heartbeat_interval: int | None = None,
                 grace_period: int | None = None,
                 heartbeat_stale_trial_callback: Callable[[Any, FrozenTrial], None] | None = None) -> None:
        from hpo.store import open_store
        from hpo.validators import is_int

        for field, value in (("heartbeat_interval", heartbeat_interval), ("grace_period", grace_period)):
            if value is not None and (not is_int(value) or value <= 0):
                raise ValidationError(f"HpoStorage: {field} must be None or a positive integer, but got {value!r}")
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback

        store = open_store(url_or_store)
        if not hasattr(store, "engine"):
            raise ValidationError(f"HpoStorage: needs hpo's SQL store, but got {type(store).__name__}")
        self._store: Any = store
        self._url = store.url if isinstance(url_or_store, StudyStore) else url_or_store
        self._pg = store.engine.dialect.name == "postgresql"
        self._init_caches()

    def _init_caches(self) -> None:
        self._lock = threading.Lock()
        self._objectives: dict[int, list[str]] = {}  # study id -> objective names (never change)
        self._known: dict[tuple[int, str], BaseDistribution] = {}  # first distribution of each param
        self._constraints: set[tuple[int, str]] = set()  # constraints the study row already has
        self._init_reads()

    # Optuna pickles storages (e.g. to hand them to worker processes): the URL travels, connections do not.
    def __getstate__(self) -> dict[str, Any]:
        return {"url": self._url if isinstance(self._url, str) else self._store.url,
                "heartbeat_interval": self.heartbeat_interval, "grace_period": self.grace_period,
                "heartbeat_stale_trial_callback": self.heartbeat_stale_trial_callback}

    def __setstate__(self, state: dict[str, Any]) -> None:
        url = state.pop("url")
        self.__init__(url, **state)  # type: ignore[misc]

    # -- Optuna's heartbeat (BaseHeartbeat) ---------------------------------------
    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[Any, FrozenTrial], None] | None:
        return self.heartbeat_stale_trial_callback

    def _grace(self) -> float:
        return float(self.grace_period or 2 * (self.heartbeat_interval or 0))

    def record_heartbeat(self, trial_id: int) -> None:
        """Mark a RUNNING trial alive now; its lease (``expires_at``) ends a grace period from now."""
        import datetime as dt

        now = utcnow()
        with self._write() as conn, conn.begin():
            conn.execute(sa.update(trials).where((trials.c.id == trial_id) & (trials.c.state == "RUNNING"))
                         .values(heartbeat_at=now, expires_at=now + dt.timedelta(seconds=self._grace())))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """RUNNING trials that recorded a heartbeat and whose lease has ended."""
        with self._store.engine.connect() as conn:
            found = conn.execute(sa.select(trials.c.id).where(
                (trials.c.study_id == study_id) & (trials.c.state == "RUNNING") & trials.c.heartbeat_at.is_not(None)
                & (trials.c.expires_at < utcnow()))).scalars().all()
        return [int(i) for i in found]

    @property
    def store(self) -> StudyStore:
        """The hpo store underneath."""
        return self._store

    # -- helpers ---------------------------------------------------------------
    def _write(self) -> sa.Connection:
        return self._store._write()

    def _lock_sel(self, stmt: Any) -> Any:
        return stmt.with_for_update() if self._pg else stmt

    def _study_row(self, conn: sa.Connection, study_id: int, lock: bool = False) -> Any:
        stmt = sa.select(studies).where(studies.c.id == study_id)
        row = conn.execute(self._lock_sel(stmt) if lock else stmt).first()
        if row is None:
            raise StudyNotFoundError(f"study_id: no study with id {study_id} in {self._store.url}")
        return row

    def _require_study(self, conn: sa.Connection, study_id: int) -> None:
        if conn.execute(_STUDY_EXISTS, {"sid": study_id}).first() is None:
            raise StudyNotFoundError(f"study_id: no study with id {study_id} in {self._store.url}")

    def _trial_row(self, conn: sa.Connection, trial_id: int, lock: bool = False) -> Any:
        row = conn.execute(_TRIAL_LOCKED if lock and self._pg else _TRIAL, {"tid": trial_id}).first()
        if row is None:
            raise TrialNotFoundError(f"trial_id: no trial with id {trial_id} in {self._store.url}")
        return row

    def _names(self, conn: sa.Connection | None, study_id: int) -> list[str]:
        names = self._objectives.get(study_id)
        if names is None:
            if conn is None:
                with self._store.engine.connect() as c:
                    row = self._study_row(c, study_id)
            else:
                row = self._study_row(conn, study_id)
            names = [o["name"] for o in row.objectives]
            self._objectives[study_id] = names
        return names

    @staticmethod
    def _check_updatable(row: Any) -> None:
        if row.state in ("COMPLETE", "PRUNED", "FAILED"):
            raise UpdateFinishedTrialError(
                f"Trial#{row.number} has already finished and can not be updated (it is {row.state})."
            )

    def _next_seq(self, conn: sa.Connection, study_id: int) -> int:
        return self._store._next_seq(conn, study_id)

    # -- studies ---------------------------------------------------------------
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        if study_name is None:
            study_name = f"{DEFAULT_STUDY_NAME_PREFIX}{uuid.uuid4()}"
        if not directions or any(d not in (StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE) for d in directions):
            raise ValidationError(f"directions: each must be MINIMIZE or MAXIMIZE, but got {list(directions)!r}"[:300])
        names = codec.objective_names(len(directions))
        objectives = [{"name": n, "direction": "minimize" if d == StudyDirection.MINIMIZE else "maximize"}
                      for n, d in zip(names, directions)]
        settings = {"created_by": "optuna", "optuna": {_SYSTEM: {}, _DISTS: {}}}
        try:
            with self._write() as conn, conn.begin():
                study_id = conn.execute(
                    sa.insert(studies).values(name=scrub(study_name), space={}, objectives=objectives, constraints=[],
                                              fidelity=None, settings=settings, next_number=0, seq=0,
                                              created_at=utcnow()).returning(studies.c.id)
                ).scalar_one()
        except IntegrityError:
            raise DuplicatedStudyError(
                f"study_name: a study named {study_name!r} already exists in {self._store.url}"[:400]
            ) from None
        self._objectives[study_id] = names
        return int(study_id)

    def delete_study(self, study_id: int) -> None:
        with self._write() as conn, conn.begin():
            self._study_row(conn, study_id, lock=True)
            ids = sa.select(trials.c.id).where(trials.c.study_id == study_id)
            conn.execute(sa.delete(reports).where(reports.c.trial_id.in_(ids)))
            conn.execute(sa.delete(evaluations).where(evaluations.c.trial_id.in_(ids)))
            conn.execute(sa.delete(trials).where(trials.c.study_id == study_id))
            conn.execute(sa.delete(studies).where(studies.c.id == study_id))
        with self._lock:
            self._objectives.pop(study_id, None)
            for key in [k for k in self._known if k[0] == study_id]:
                del self._known[key]
            self._constraints = {k for k in self._constraints if k[0] != study_id}
        self._forget_study(study_id)

    def _set_study_attr(self, study_id: int, system: bool, key: str, value: Any) -> None:
        with self._write() as conn, conn.begin():
            row = self._study_row(conn, study_id, lock=True)
            settings = dict(row.settings or {})
            if system:
                doc = _optuna_doc(settings)
                doc[_SYSTEM] = {**doc.get(_SYSTEM, {}), key: codec.encode(value)}
                settings["optuna"] = doc
            else:
                settings[USER_ATTRS] = {**(settings.get(USER_ATTRS) or {}), key: codec.encode(value)}
            conn.execute(sa.update(studies).where(studies.c.id == study_id).values(settings=scrub(settings)))

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, False, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, True, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._store.engine.connect() as conn:
            found = conn.execute(sa.select(studies.c.id).where(studies.c.name == study_name)).scalar()
        if found is None:
            raise StudyNotFoundError(f"study_name: no study named {study_name!r} in {self._store.url}"[:400])
        return int(found)

    def get_study_name_from_id(self, study_id: int) -> str:
        with self._store.engine.connect() as conn:
            return str(self._study_row(conn, study_id).name)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        with self._store.engine.connect() as conn:
            row = self._study_row(conn, study_id)
        return [StudyDirection.MINIMIZE if o["direction"] == "minimize" else StudyDirection.MAXIMIZE
                for o in row.objectives]

    @staticmethod
    def _attrs(settings: Any, system: bool) -> dict[str, Any]:
        found = _optuna_doc(settings).get(_SYSTEM) if system else (settings or {}).get(USER_ATTRS)
        return {k: codec.decode(v) for k, v in (found or {}).items()}

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        with self._store.engine.connect() as conn:
            return self._attrs(self._study_row(conn, study_id).settings, False)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        with self._store.engine.connect() as conn:
            return self._attrs(self._study_row(conn, study_id).settings, True)

    def get_all_studies(self) -> list[FrozenStudy]:
        with self._store.engine.connect() as conn:
            rows = conn.execute(sa.select(studies).order_by(studies.c.id)).all()
        out = []
        for row in rows:
            directions = [StudyDirection.MINIMIZE if o["direction"] == "minimize" else StudyDirection.MAXIMIZE
                          for o in row.objectives]
            out.append(FrozenStudy(study_name=row.name, direction=None, directions=directions,
                                   user_attrs=self._attrs(row.settings, False),
                                   system_attrs=self._attrs(row.settings, True), study_id=row.id))
        return out

    # -- trials: writes --------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        from hpo.integrations.optuna.trials import template_row

        with self._write() as conn, conn.begin():
            number = self._store._next_number(conn, study_id)  # StudyNotFoundError (a KeyError) if gone
            names = self._names(conn, study_id)
            values, iv = template_row(template_trial, names)
            if template_trial is not None:
                for name, dist in template_trial.distributions.items():
                    self._known_distribution(conn, study_id, name, dist)
            state = values["state"]
            if state in ("COMPLETE", "PRUNED", "FAILED"):
                values["seq"] = self._next_seq(conn, study_id)
            trial_id = conn.execute(_INSERT_TRIAL, {"study_id": study_id, "number": number, **values}).scalar_one()
            if iv:
                conn.execute(_INSERT_REPORT, [{"trial_id": trial_id, "step": float(s), "values": {"value": v},
                                               "created_at": values["created_at"]} for s, v in iv])
            if values.get("constraint_values"):
                self._grow_constraints(conn, study_id, values["constraint_values"])
        return int(trial_id)

    def _known_distribution(self, conn: sa.Connection, study_id: int, name: str,
                            distribution: BaseDistribution) -> None:
        """Check ``distribution`` against the study's first one for ``name`` (ValueError), recording it if new."""
        known = self._known.get((study_id, name))
        if known is None:
            row = self._study_row(conn, study_id, lock=True)
            settings = dict(row.settings or {})
            doc = _optuna_doc(settings)
            stored = (doc.get(_DISTS) or {}).get(name)
            if stored is not None:
                known = json_to_distribution(stored)
            else:
                known = codec.distribution_from_space((row.space or {}).get(name))
            if known is None:
                doc[_DISTS] = {**(doc.get(_DISTS) or {}), name: distribution_to_json(distribution)}
                settings["optuna"] = doc
                space = dict(row.space or {})
                entry = codec.space_entry(distribution)
                if entry is not None and name not in space:
                    space[name] = entry
                conn.execute(sa.update(studies).where(studies.c.id == study_id)
                             .values(settings=scrub(settings), space=scrub(space)))
                known = distribution
            with self._lock:
                self._known[(study_id, name)] = known
        check_distribution_compatibility(known, distribution)

    def _grow_constraints(self, conn: sa.Connection, study_id: int, names: Any) -> None:
        """Add ``name <= 0`` to the study's constraints for each of ``names`` it lacks (hpo's feasibility)."""
        if all((study_id, n) in self._constraints for n in names):
            return
        row = self._study_row(conn, study_id, lock=True)
        have = list(row.constraints or [])
        taken = {c["name"] for c in have} | {o["name"] for o in row.objectives}
        new = [{"name": n, "op": "<=", "bound": 0.0} for n in names if n not in taken]
        if new:
            conn.execute(sa.update(studies).where(studies.c.id == study_id).values(constraints=scrub(have + new)))
        with self._lock:
            self._constraints.update((study_id, n) for n in names)

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        with self._write() as conn, conn.begin():
            row = self._trial_row(conn, trial_id, lock=True)
            self._check_updatable(row)
            self._known_distribution(conn, row.study_id, param_name, distribution)
            params = dict(row.params or {})
            params[param_name] = codec.encode(distribution.to_external_repr(param_value_internal))
            attrs = dict(row.attrs or {})
            doc = _optuna_doc(attrs)
            doc[_DISTS] = {**(doc.get(_DISTS) or {}), param_name: distribution_to_json(distribution)}
            attrs["optuna"] = doc
            conn.execute(_UPDATE_TRIAL, {"tid": trial_id, "params": scrub(params), "attrs": scrub(attrs)})

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        from hpo.integrations.optuna.trials import values_columns

        finished = state.is_finished()
        with self._write() as conn:
            txn = conn.begin()
            try:
                study_id = conn.execute(_TRIAL_STUDY, {"tid": trial_id}).scalar()
                if study_id is None:
                    raise TrialNotFoundError(f"trial_id: no trial with id {trial_id} in {self._store.url}")
                seq = self._next_seq(conn, study_id) if finished else None  # study lock first, as hpo's tell
                row = self._trial_row(conn, trial_id, lock=True)
                self._check_updatable(row)
                if state == TrialState.RUNNING and row.state != "WAITING":
                    txn.rollback()
                    return False
                update: dict[str, Any] = {"state": codec.STATE_TO_HPO[state.name]}
                if values is not None:
                    update.update(values_columns(values, self._names(conn, study_id), row.attrs))
                now = utcnow()
                if state == TrialState.RUNNING:
                    update["started_at"] = now
                if finished:
                    update["finished_at"] = now
                    update["seq"] = seq
                    update["expires_at"] = None
                conn.execute(_UPDATE_TRIAL, {"tid": trial_id, **update})
                txn.commit()
            except BaseException:
                if txn.is_active:
                    txn.rollback()
                raise
        return True

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        from hpo.integrations.optuna.trials import intermediate_attrs

        with self._write() as conn, conn.begin():
            row = self._trial_row(conn, trial_id, lock=True)
            self._check_updatable(row)
            value = float(intermediate_value)
            conn.execute(_DELETE_REPORT, {"tid": trial_id, "at": float(step)})
            conn.execute(_INSERT_REPORT, {"trial_id": trial_id, "step": float(step), "created_at": utcnow(),
                                          "values": {"value": value if math.isfinite(value) else None}})
            attrs = intermediate_attrs(row.attrs, step, value)
            if attrs is not None:
                conn.execute(_UPDATE_TRIAL, {"tid": trial_id, "attrs": attrs})

    def _set_trial_attr(self, trial_id: int, system: bool, key: str, value: Any) -> None:
        with self._write() as conn, conn.begin():
            row = self._trial_row(conn, trial_id, lock=True)
            self._check_updatable(row)
            attrs = dict(row.attrs or {})
            update: dict[str, Any] = {}
            if system:
                doc = _optuna_doc(attrs)
                doc[_SYSTEM] = {**(doc.get(_SYSTEM) or {}), key: codec.encode(value)}
                attrs["optuna"] = doc
                found = codec.constraint_values({key: value})
                if found:
                    update["constraint_values"] = scrub({**(row.constraint_values or {}), **found})
                    self._grow_constraints(conn, row.study_id, list(found))
            else:
                attrs[USER_ATTRS] = {**(attrs.get(USER_ATTRS) or {}), key: codec.encode(value)}
            update["attrs"] = scrub(attrs)
            conn.execute(_UPDATE_TRIAL, {"tid": trial_id, **update})

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(trial_id, False, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(trial_id, True, key, value)

    def remove_session(self) -> None:
        """Optuna calls this when a study is closed; hpo's pooled connections need nothing."""

"""Read-only access to a study store for the dashboard.

The dashboard never writes: SQLite files are opened with a read-only URI
(``mode=ro``) and PostgreSQL sessions are read-only transactions
(``hpo.store.engine.get_engine(url, read_only=True)``). It never creates tables
or runs migrations either: a store whose schema is missing or of another
revision is refused with an error naming the URL.

Trials are read incrementally: :class:`TrialFrame` keeps the finished trials it
has read and, on each refresh, fetches only the trials that finished since its
last change number (``studies.seq``, see ``hpo.store.base``) plus the few that
are RUNNING or WAITING.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hpo.records import Objective, StudyRecord, TrialState
from hpo.store.base import Evaluation, Report
from hpo.store.engine import get_engine, normalize_url
from hpo.store.migrate import check_schema
from hpo.store.schema import ReportRow, StudyRow, TrialRow
from hpo.store.sql import SQLStore

__all__ = ["DashboardReader", "TrialFrame", "DECISION_KEY", "trial_columns"]

#: The trial attribute read as a scheduler's decision for a trial (e.g. "stop", "promote").
DECISION_KEY = "decision"

trials = TrialRow.__table__
reports = ReportRow.__table__
studies = StudyRow.__table__

_LIVE = (TrialState.RUNNING.value, TrialState.WAITING.value)


#: Names SQLite's JSON path syntax quotes the same way in every version: printable ASCII without ``"`` or ``\\``
#: (a ``$."name"`` label is compared with the key's escaped JSON text, and ``"`` ends the label).
_PLAIN_NAME = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
#: The trials' JSON columns the frame reads fields from, in the order their raw text follows the fields.
_JSON_COLUMNS = ("values", "constraint_values", "params", "attrs")


def _fields(record: StudyRecord) -> list[tuple[str, str]]:
    """``(JSON column, key)`` of every field of the frame pulled out of a JSON column, in :func:`_select`'s order."""
    return (
        [("values", o.name) for o in record.objectives]
        + [("constraint_values", c.name) for c in record.constraints]
        + [("params", n) for n in record.space]
    )


def _raw_columns(record: StudyRecord) -> dict[str, bool]:
    """SQLite: the JSON columns whose raw text is read too -> whether for every row (a key SQLite's path syntax
    cannot name) or only for rows SQLite cannot parse (``NaN`` / ``Infinity`` tokens, which Python wrote)."""
    raw: dict[str, bool] = {column: False for column in _JSON_COLUMNS}
    for column, key in _fields(record) + [("attrs", DECISION_KEY)]:
        raw[column] = raw[column] or not _PLAIN_NAME.fullmatch(key)
    return raw


def _sqlite_field(column: Any, key: str) -> Any:
    """``json_extract`` of a plain key, NULL where SQLite cannot parse the document (it raises otherwise) or the
    key is not plain (the value is then taken from the raw text in Python, see :func:`_fix_fields`)."""
    if not _PLAIN_NAME.fullmatch(key):
        return sa.null()
    return sa.case((sa.func.json_valid(column) == 1, sa.func.json_extract(column, '$."' + key + '"')), else_=None)


def _select(record: StudyRecord, sqlite: bool) -> list[Any]:
    """The trial columns, with JSON fields pulled out by the database (no JSON parsing in Python on SQLite,
    except for documents SQLite cannot parse and keys its path syntax cannot name).

    The order is that of :func:`trial_columns` (less ``duration_s``), then on SQLite the raw JSON text of each
    column of :func:`_raw_columns` (NULL where not needed), then ``seq``. Labels are positional: names may hold
    any character (even NUL, which SQL text cannot carry); every key is a bound parameter.
    """

    def field(column: Any, key: str) -> Any:
        if sqlite:  # JSON_EXTRACT returns SQL scalars (REAL, INTEGER, TEXT, NULL)
            return _sqlite_field(column, key)
        return column[key]  # PostgreSQL: ``column -> %(key)s``, the key bound

    def stamp(column: Any) -> Any:
        return sa.type_coerce(column, sa.Text) if sqlite else column  # ISO text on SQLite, parsed by pandas

    cols: list[Any] = [trials.c.number, trials.c.state]
    cols += [field(trials.c[column], key) for column, key in _fields(record)]
    cols += [
        stamp(trials.c.started_at),
        stamp(trials.c.finished_at),
        trials.c.worker_id,
        field(trials.c.attrs, DECISION_KEY),
        trials.c.error,
    ]
    if sqlite:
        for column, always in _raw_columns(record).items():
            raw = sa.type_coerce(trials.c[column], sa.Text)
            cols.append(raw if always else sa.case((sa.func.json_valid(raw) == 0, raw), else_=None))
    cols.append(trials.c.seq)
    return [c.label(f"c{i}") for i, c in enumerate(cols)]


def _loads(text: Any) -> dict[str, Any]:
    """A JSON object from raw text (Python's parser: ``NaN``, ``Infinity`` and ``-Infinity`` are floats)."""
    if isinstance(text, dict):
        return text
    try:
        doc = json.loads(text) if isinstance(text, (str, bytes)) else None
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _number(value: Any) -> float | None:
    """A JSON number as a float (None for anything else, booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _fix_fields(data: list[list[Any]], record: StudyRecord) -> None:
    """Fill in, from the raw JSON text read by :func:`_select` (SQLite only), the fields SQLite could not extract.

    ``data`` is column-wise: the fields of :func:`trial_columns` (less ``duration_s``), the raw columns, ``seq``.
    """
    raw_cols = list(_raw_columns(record))
    first_raw = len(data) - 1 - len(raw_cols)
    fields = _fields(record)
    positions = {("attrs", DECISION_KEY): first_raw - 2}  # ..., decision, error | raw columns | seq
    positions.update({f: 2 + i for i, f in enumerate(fields)})
    for j, column in enumerate(raw_cols):
        raws = data[first_raw + j]
        wanted = [(key, pos) for (col, key), pos in positions.items() if col == column]
        for row, text in enumerate(raws):
            if text is None:
                continue
            doc = _loads(text)
            for key, pos in wanted:
                if not isinstance(data[pos], list):
                    data[pos] = list(data[pos])
                data[pos][row] = doc.get(key)


class _ReadOnlySQLStore(SQLStore):
    """The SQL store's read methods on a read-only engine, without schema creation or migration."""

    def __init__(self, url: sa.URL, engine: sa.Engine) -> None:  # noqa: D107 (no super(): no ensure_schema)
        self.url = url.render_as_string(hide_password=True)
        self.engine = engine
        self._pg = engine.dialect.name == "postgresql"


def trial_columns(record: StudyRecord) -> list[str]:
    """Columns of a study's trial frame, in display order."""
    return (
        ["number", "state"]
        + [f"values_{o.name}" for o in record.objectives]
        + [f"constraints_{c.name}" for c in record.constraints]
        + [f"params_{n}" for n in record.space]
        + ["datetime_start", "datetime_complete", "duration_s", "worker_id", DECISION_KEY, "error"]
    )


def _fetch(conn: sa.Connection, stmt: Any) -> list[tuple[Any, ...]]:
    """Plain tuples from the driver's cursor: the columns of :func:`_select` need no SQLAlchemy result
    processing (SQLite gives SQL scalars and ISO text, psycopg parses JSON and timestamps itself)."""
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _frame(rows: Sequence[Any], record: StudyRecord) -> pd.DataFrame:
    """Rows of :func:`_select` -> one row per trial (columns: :func:`trial_columns`)."""
    columns = trial_columns(record)
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    labels = [c for c in columns if c != "duration_s"]  # the order of _select
    data: list[Any] = list(zip(*rows))  # column-wise: much faster than building a frame from Row objects
    if len(data) > len(labels) + 1:  # SQLite: raw JSON text of the documents it could not read
        _fix_fields(data, record)
    frame = pd.DataFrame({label: pd.Series(col, dtype=object) for label, col in zip(labels, data)})
    for name in ("number",):
        frame[name] = frame[name].astype("int64")
    for name in [f"values_{o.name}" for o in record.objectives] + [f"constraints_{c.name}" for c in record.constraints]:
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    for name, spec in record.space.items():
        choices = spec.get("choices") or []
        if any(isinstance(c, bool) for c in choices):  # SQLite's JSON_EXTRACT gives 1/0 for true/false
            frame[f"params_{name}"] = frame[f"params_{name}"].map(lambda v: bool(v) if v in (0, 1) else v)
    for name in ("datetime_start", "datetime_complete"):
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    frame["duration_s"] = (frame["datetime_complete"] - frame["datetime_start"]).dt.total_seconds()
    return frame[columns]


class TrialFrame:
    """A study's trials as a DataFrame, refreshed by reading only what changed.

    Finished trials never change again, so they are read once (by change
    number); RUNNING and WAITING trials are read on every refresh.
    """

    def __init__(self, reader: DashboardReader, record: StudyRecord) -> None:
        self.reader = reader
        self.record = record
        self._seq = 0
        self._done = _frame([], record)
        self._frame = self._done
        self._version: tuple[Any, ...] = ()
        self.last_read = 0  # trial rows read by the last refresh
        self._lock = threading.Lock()

    @property
    def version(self) -> tuple[Any, ...]:
        """Changes whenever the frame does: a cache key for what is computed from it."""
        return self._version

    def refresh(self) -> pd.DataFrame:
        """Read the trials that changed since the last refresh; return every trial, by number."""
        sid = self.record.study_id
        cols = _select(self.record, self.reader.engine.dialect.name == "sqlite")
        with self._lock, self.reader.engine.connect() as conn:
            # Live trials first: one that finishes in between is then also read as finished.
            live = _fetch(conn, sa.select(*cols).where((trials.c.study_id == sid) & trials.c.state.in_(_LIVE)))
            new = _fetch(conn, sa.select(*cols).where((trials.c.study_id == sid) & (trials.c.seq > self._seq))
                         .order_by(trials.c.seq))
            self.last_read = len(live) + len(new)
            if new:
                self._seq = int(new[-1][-1])
                fresh = _frame(new, self.record)
                self._done = pd.concat([self._done, fresh], ignore_index=True) if len(self._done) else fresh
            live_frame = _frame(live, self.record)
            if len(live_frame):
                live_frame = live_frame[~live_frame["number"].isin(self._done["number"])]
            version = (self._seq, tuple(zip(live_frame["number"], live_frame["state"])))
            if version != self._version or new:
                parts = [f for f in (self._done, live_frame) if len(f)]
                frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else self._done)
                self._frame = frame.sort_values("number", kind="stable", ignore_index=True)
                self._version = version
            return self._frame


class DashboardReader:
    """Everything the dashboard reads from one store, through a read-only connection.

    Raises:
        StorageError: the SQLite file does not exist, the database holds no hpo schema, or the
            store cannot be opened (see ``hpo.store.errors``).
        SchemaVersionError: the schema is of another revision (older: run ``hpo db upgrade``; newer:
            upgrade hpo; the dashboard never migrates), or the database is an Optuna storage.
    """

    def __init__(self, storage: str) -> None:
        url = normalize_url(storage)
        # A missing file, a folder, a non-database or an unreachable server: StorageError from the
        # engine; a newer hpo's store ("upgrade hpo"), an older one ("run hpo db upgrade"), an Optuna
        # storage or a foreign database: from check_schema. The dashboard never creates or migrates.
        self.engine = get_engine(url, read_only=True)
        self.url = url.render_as_string(hide_password=True)
        check_schema(self.engine, read_only=True)
        self.store = _ReadOnlySQLStore(url, self.engine)
        self._frames: dict[str, TrialFrame] = {}
        self._lock = threading.Lock()

    # -- studies ---------------------------------------------------------------
    def study_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(studies.c.name).order_by(studies.c.id)).scalars())

    def study(self, name: str) -> StudyRecord:
        return self.store.get_study(name)

    def best_value(self, record: StudyRecord, objective: Objective) -> float | None:
        """The best value of ``objective`` over feasible COMPLETE trials (one SQL aggregate).

        On SQLite, documents it cannot parse (``NaN`` tokens) and names its JSON path syntax cannot hold are read
        in Python instead (those trials' raw JSON only); NaN values never count as best.
        """
        done = (trials.c.study_id == record.study_id) & (trials.c.state == TrialState.COMPLETE.value)
        if self.engine.dialect.name != "sqlite":
            column = trials.c["values"][objective.name].as_float()
            agg = sa.func.min(column) if objective.sign > 0 else sa.func.max(column)
            cond = done
            for c in record.constraints:
                cv = trials.c.constraint_values[c.name].as_float()
                cond &= cv <= c.bound if c.op == "<=" else cv >= c.bound
            with self.engine.connect() as conn:
                value = conn.execute(sa.select(agg).where(cond)).scalar()
            return None if value is None else float(value)
        names = [objective.name] + [c.name for c in record.constraints]
        candidates: list[float] = []
        valid = sa.func.json_valid(trials.c["values"]) == 1
        if record.constraints:
            valid &= sa.func.coalesce(sa.func.json_valid(trials.c.constraint_values), 1) == 1
        raw_where = done
        if all(_PLAIN_NAME.fullmatch(n) for n in names):
            def number(column: Any, key: str) -> Any:
                return sa.cast(sa.func.json_extract(column, '$."' + key + '"'), sa.Float)

            column = number(trials.c["values"], objective.name)
            cond = done & valid
            for c in record.constraints:
                cv = number(trials.c.constraint_values, c.name)
                cond &= cv <= c.bound if c.op == "<=" else cv >= c.bound
            agg = sa.func.min(column) if objective.sign > 0 else sa.func.max(column)
            with self.engine.connect() as conn:
                value = conn.execute(sa.select(agg).where(cond)).scalar()
            if value is not None:
                candidates.append(float(value))
            raw_where = done & ~valid
        stmt = sa.select(sa.type_coerce(trials.c["values"], sa.Text),
                         sa.type_coerce(trials.c.constraint_values, sa.Text))
        with self.engine.connect() as conn:
            rows = _fetch(conn, stmt.where(raw_where))
        for values_text, constraints_text in rows:
            value = _number(_loads(values_text).get(objective.name))
            if value is None or math.isnan(value):
                continue
            cvs = _loads(constraints_text)
            ok = True
            for c in record.constraints:
                cv = _number(cvs.get(c.name))
                ok = ok and cv is not None and (cv <= c.bound if c.op == "<=" else cv >= c.bound)
            if ok:
                candidates.append(value)
        if not candidates:
            return None
        return min(candidates) if objective.sign > 0 else max(candidates)

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
        """Number of intermediate reports per trial number (an SQL aggregate; no report rows)."""
        stmt = (
            sa.select(trials.c.number, sa.func.count(reports.c.id))
            .join(reports, reports.c.trial_id == trials.c.id)
            .where(trials.c.study_id == record.study_id)
            .group_by(trials.c.number)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return pd.Series({int(n): int(c) for n, c in rows}, dtype="int64")

    def reports(self, record: StudyRecord, numbers: Sequence[int]) -> list[Report]:
        """The reports of the given trials only."""
        if not numbers:
            return []
        return self.store.get_reports(record.study_id, list(numbers))

    def evaluations(self, record: StudyRecord) -> list[Evaluation]:
        return self.store.get_evaluations(record.study_id)

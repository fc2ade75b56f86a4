"""The SQL store's column reads: trials as columns and best values, with the JSON fields pulled out by the
database (:class:`hpo.store.base.TrialColumns`).

No JSON parsing in Python on SQLite, except for the documents SQLite cannot parse (``NaN`` / ``Infinity``
tokens, which Python's json writes) and the keys SQLite's JSON path syntax cannot name: those rows' raw
text is read too and parsed by Python's json, so every backend reads what :func:`hpo.store.base.columns_of`
reads from the frozen trials. PostgreSQL's ``->`` operator takes every key as a bound parameter.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hpo.records import Constraint, Objective, TrialState
from hpo.store.base import TrialColumns, TrialFields
from hpo.store.rows import reports, trials
from hpo.validators import is_number

__all__ = ["read_columns", "best_value", "report_counts"]

#: Names SQLite's JSON path syntax quotes the same way in every version: printable ASCII without ``"`` or ``\\``
#: (a ``$."name"`` label is compared with the key's escaped JSON text, and ``"`` ends the label).
_PLAIN_NAME = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
#: The trials' JSON columns fields are read from, in the order their raw text follows the fields.
_JSON_COLUMNS = ("values", "constraint_values", "params", "attrs")


def _fields(fields: TrialFields) -> list[tuple[str, str]]:
    """``(JSON column, key)`` of every field pulled out of a JSON column, in :func:`_select`'s order
    (``attrs`` fields come after ``worker_id``)."""
    return (
        [("values", k) for k in fields.values]
        + [("constraint_values", k) for k in fields.constraints]
        + [("params", k) for k in fields.params]
        + [("attrs", k) for k in fields.attrs]
    )


def _raw_columns(fields: TrialFields) -> dict[str, bool]:
    """SQLite: the JSON columns whose raw text is read too -> whether for every row (a key SQLite's path syntax
    cannot name) or only for rows SQLite cannot parse."""
    raw: dict[str, bool] = {column: False for column in _JSON_COLUMNS}
    for column, key in _fields(fields):
        raw[column] = raw[column] or not _PLAIN_NAME.fullmatch(key)
    return raw


def _sqlite_field(column: Any, key: str) -> Any:
    """``json_extract`` of a plain key, NULL where SQLite cannot parse the document (it raises otherwise) or the
    key is not plain (the value is then taken from the raw text in Python, see :func:`_fix_fields`)."""
    if not _PLAIN_NAME.fullmatch(key):
        return sa.null()
    return sa.case((sa.func.json_valid(column) == 1, sa.func.json_extract(column, '$."' + key + '"')), else_=None)


def _select(fields: TrialFields, sqlite: bool) -> list[Any]:
    """number, state, the fields of values / constraints / params, started_at, finished_at, worker_id, the attrs
    fields, error, then on SQLite the raw JSON text of each column of :func:`_raw_columns` (NULL where not
    needed), then ``seq``. Labels are positional: names may hold any character (even NUL, which SQL text
    cannot carry); every key is a bound parameter."""

    def field(column: str, key: str) -> Any:
        if sqlite:  # JSON_EXTRACT returns SQL scalars (REAL, INTEGER, TEXT, NULL)
            return _sqlite_field(trials.c[column], key)
        return trials.c[column][key]  # PostgreSQL: ``column -> %(key)s``, the key bound

    def stamp(column: Any) -> Any:
        return sa.type_coerce(column, sa.Text) if sqlite else column  # ISO text on SQLite (see TrialColumns)

    named = _fields(fields)
    n_attrs = len(fields.attrs)
    cols: list[Any] = [trials.c.number, trials.c.state]
    cols += [field(c, k) for c, k in named[: len(named) - n_attrs]]
    cols += [stamp(trials.c.started_at), stamp(trials.c.finished_at), trials.c.worker_id]
    cols += [field(c, k) for c, k in named[len(named) - n_attrs:]]
    cols.append(trials.c.error)
    if sqlite:
        for column, always in _raw_columns(fields).items():
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
    if not is_number(value):
        return None
    return float(value)


def _positions(fields: TrialFields) -> dict[tuple[str, str], int]:
    """Position of each field in the rows of :func:`_select`."""
    named = _fields(fields)
    n_attrs = len(fields.attrs)
    before = named[: len(named) - n_attrs]
    out = {f: 2 + i for i, f in enumerate(before)}
    out.update({f: 2 + len(before) + 3 + i for i, f in enumerate(named[len(named) - n_attrs:])})
    return out


def _fix_fields(data: list[Any], fields: TrialFields) -> None:
    """Fill in, from the raw JSON text read by :func:`_select` (SQLite only), the fields SQLite could not extract.

    ``data`` is column-wise, in :func:`_select`'s order.
    """
    raw_cols = list(_raw_columns(fields))
    first_raw = len(data) - 1 - len(raw_cols)
    positions = _positions(fields)
    for j, column in enumerate(raw_cols):
        wanted = [(key, pos) for (col, key), pos in positions.items() if col == column]
        for row, text in enumerate(data[first_raw + j]):
            if text is None:
                continue
            doc = _loads(text)
            for key, pos in wanted:
                if not isinstance(data[pos], list):
                    data[pos] = list(data[pos])
                data[pos][row] = doc.get(key)


def _fetch(conn: sa.Connection, stmt: Any) -> list[tuple[Any, ...]]:
    """Plain tuples from the driver's cursor: the columns of :func:`_select` need no SQLAlchemy result
    processing (SQLite gives SQL scalars and ISO text, psycopg parses JSON and timestamps itself)."""
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def read_columns(conn: sa.Connection, where: Any, fields: TrialFields, order_by: Any) -> tuple[TrialColumns, int]:
    """The trials matching ``where`` as columns, and the largest change number among them (0 if none)."""
    sqlite = conn.dialect.name == "sqlite"
    selected = _select(fields, sqlite)
    rows = _fetch(conn, sa.select(*selected).where(where).order_by(order_by))
    data: list[Any] = list(zip(*rows)) if rows else [() for _ in selected]
    if sqlite and rows:
        _fix_fields(data, fields)
    positions = _positions(fields)
    n_named = len(_fields(fields)) - len(fields.attrs)

    def pick(column: str, keys: Sequence[str]) -> dict[str, Sequence[Any]]:
        return {k: data[positions[(column, k)]] for k in keys}

    params = pick("params", fields.params)
    if sqlite:  # SQLite's JSON_EXTRACT gives 1 / 0 for true / false
        for name in fields.boolean_params & set(params):
            params[name] = [bool(v) if v in (0, 1) and not isinstance(v, float) else v for v in params[name]]
    seqs = [s for s in data[-1] if s is not None]
    columns = TrialColumns(
        fields=fields,
        number=data[0],
        state=data[1],
        values=pick("values", fields.values),
        constraints=pick("constraint_values", fields.constraints),
        params=params,
        attrs=pick("attrs", fields.attrs),
        started_at=data[2 + n_named],
        finished_at=data[3 + n_named],
        worker_id=data[4 + n_named],
        error=data[5 + n_named + len(fields.attrs)],
    )
    return columns, (int(max(seqs)) if seqs else 0)


def _satisfied(cv: Any, c: Constraint) -> Any:
    return cv <= c.bound if c.op == "<=" else cv >= c.bound


def best_value(engine: Engine, study_id: int, objective: Objective, constraints: Sequence[Constraint]) -> float | None:
    """The best value of ``objective`` over feasible COMPLETE trials, as one SQL aggregate.

    On SQLite, documents it cannot parse (``NaN`` tokens) and names its JSON path syntax cannot hold are read
    in Python instead (those trials' raw JSON only); NaN values never count as best.
    """
    done = (trials.c.study_id == study_id) & (trials.c.state == TrialState.COMPLETE.value)
    best = sa.func.min if objective.sign > 0 else sa.func.max
    if engine.dialect.name != "sqlite":
        cond = done
        for c in constraints:
            cond &= _satisfied(trials.c.constraint_values[c.name].as_float(), c)
        with engine.connect() as conn:
            value = conn.execute(sa.select(best(trials.c["values"][objective.name].as_float())).where(cond)).scalar()
        return None if value is None else float(value)
    candidates: list[float] = []
    valid = sa.func.json_valid(trials.c["values"]) == 1
    if constraints:
        valid &= sa.func.coalesce(sa.func.json_valid(trials.c.constraint_values), 1) == 1
    raw_where = done
    if all(_PLAIN_NAME.fullmatch(n) for n in [objective.name] + [c.name for c in constraints]):
        def number(column: Any, key: str) -> Any:
            return sa.cast(sa.func.json_extract(column, '$."' + key + '"'), sa.Float)

        cond = done & valid
        for c in constraints:
            cond &= _satisfied(number(trials.c.constraint_values, c.name), c)
        with engine.connect() as conn:
            value = conn.execute(sa.select(best(number(trials.c["values"], objective.name))).where(cond)).scalar()
        if value is not None:
            candidates.append(float(value))
        raw_where = done & ~valid
    stmt = sa.select(sa.type_coerce(trials.c["values"], sa.Text), sa.type_coerce(trials.c.constraint_values, sa.Text))
    with engine.connect() as conn:
        rows = _fetch(conn, stmt.where(raw_where))
    for values_text, constraints_text in rows:
        value = _number(_loads(values_text).get(objective.name))
        if value is None or math.isnan(value):
            continue
        cvs = _loads(constraints_text)
        if all(c.satisfied(_number(cvs.get(c.name))) for c in constraints):
            candidates.append(value)
    if not candidates:
        return None
    return min(candidates) if objective.sign > 0 else max(candidates)


def report_counts(conn: sa.Connection, study_id: int) -> dict[int, int]:
    """Number of reports per trial number (an SQL aggregate; no report rows are read)."""
    stmt = (
        sa.select(trials.c.number, sa.func.count(reports.c.id))
        .join(reports, reports.c.trial_id == trials.c.id)
        .where(trials.c.study_id == study_id)
        .group_by(trials.c.number)
    )
    return {int(n): int(c) for n, c in conn.execute(stmt).all()}

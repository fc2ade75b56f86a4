"""Trial rows <-> Optuna's ``FrozenTrial`` (the layout is :mod:`hpo.integrations.optuna.codec`'s).

A trial written through :class:`~hpo.integrations.optuna.HpoStorage` carries ``attrs["optuna"]`` and reads
back exactly as Optuna wrote it. A trial written by hpo itself (no ``attrs["optuna"]``) is shown as Optuna
would hold it: distributions from the study's space, values in objective order (none for a FAILED trial),
reports at whole-number steps as intermediate values of the first objective.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from optuna.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from optuna.trial import FrozenTrial, TrialState

from hpo.integrations.optuna import codec
from hpo.records import USER_ATTRS
from hpo.store.schema import utcnow
from hpo.store.text import scrub

__all__ = ["template_row", "values_columns", "intermediate_attrs", "frozen_trial", "report_value", "hpo_constraints"]

_STATES = {s.name: s for s in TrialState}


@lru_cache(maxsize=4096)
def _distribution(text: str) -> BaseDistribution:
    return json_to_distribution(text)


def values_columns(values: Sequence[float], names: Sequence[str], attrs: Any) -> dict[str, Any]:
    """The ``values`` column (and ``attrs`` when a value is not finite or the count is not the objectives')."""
    floats = [float(v) for v in values]
    out: dict[str, Any] = {"values": {n: codec.finite_or_clamped(v) for n, v in zip(names, floats)}}
    exact = len(floats) != len(names) or not all(math.isfinite(v) for v in floats)
    doc = dict((attrs or {}).get("optuna") or {})
    if exact or "values" in doc:
        if exact:
            doc["values"] = json.dumps(floats)
        else:
            doc.pop("values", None)
        out["attrs"] = scrub({**(attrs or {}), "optuna": doc})
    return out


def intermediate_attrs(attrs: Any, step: int, value: float) -> dict[str, Any] | None:
    """The trial's new ``attrs`` when a non-finite intermediate value is set or replaced (else None)."""
    doc = dict((attrs or {}).get("optuna") or {})
    kept = dict(doc.get("intermediate") or {})
    key = str(int(step))
    if math.isfinite(value) and key not in kept:
        return None
    if math.isfinite(value):
        kept.pop(key)
    else:
        kept[key] = json.dumps(value)
    doc["intermediate"] = kept
    return scrub({**(attrs or {}), "optuna": doc})


def template_row(template: FrozenTrial | None, names: Sequence[str]) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
    """The columns of a new trial row (all but study id and number) and its reports ``(step, value)``."""
    now = utcnow()
    if template is None:
        return ({"state": "RUNNING", "params": {}, "attrs": {"optuna": {}}, "created_at": now, "started_at": now},
                [])
    doc: dict[str, Any] = {}
    if template.system_attrs:
        doc[codec._SYSTEM_KEY] = {k: codec.encode(v) for k, v in template.system_attrs.items()}
    if template.distributions:
        doc["distributions"] = {n: distribution_to_json(d) for n, d in template.distributions.items()}
    attrs: dict[str, Any] = {"optuna": doc}
    if template.user_attrs:
        attrs[USER_ATTRS] = {k: codec.encode(v) for k, v in template.user_attrs.items()}
    row: dict[str, Any] = {
        "state": codec.STATE_TO_HPO[template.state.name],
        "params": {n: codec.encode(v) for n, v in template.params.items()},
        "created_at": now,
        "started_at": codec.to_utc(template.datetime_start),
        "finished_at": codec.to_utc(template.datetime_complete),
    }
    if template.values is not None:
        cols = values_columns(template.values, names, attrs)
        row["values"] = cols["values"]
        attrs = cols.get("attrs", attrs)
    constraints = codec.constraint_values(template.system_attrs)
    if constraints:
        row["constraint_values"] = constraints
    reports: list[tuple[int, Any]] = []
    for step, value in template.intermediate_values.items():
        value = float(value)
        reports.append((int(step), value if math.isfinite(value) else None))
        if not math.isfinite(value):
            attrs = intermediate_attrs(attrs, step, value) or attrs
    row["attrs"] = scrub(attrs)
    return row, reports


def report_value(values: Any, names: Sequence[str]) -> float | None:
    """The number a report holds for Optuna: ``value``, else the first objective's, else None."""
    if not isinstance(values, Mapping):
        return None
    for key in ("value", *names):
        if key in values:
            v = values[key]
            return float("nan") if v is None else float(v)
    return None


def hpo_constraints(constraint_values: Any, constraints: Any) -> dict[str, float]:
    """hpo's constraint values as Optuna's system attributes ``constraints:<name>`` (feasible: each <= 0)."""
    if not constraints or not isinstance(constraint_values, Mapping):
        return {}
    out = {}
    for c in constraints:
        v = constraint_values.get(c["name"])
        if v is not None:
            gap = float(v) - float(c["bound"]) if c["op"] == "<=" else float(c["bound"]) - float(v)
            out[f"{codec.CONSTRAINTS_KEY}:{c['name']}"] = gap
    return out


def frozen_trial(row: Any, names: Sequence[str], reports: Sequence[tuple[float, Any]], study: Any = None) -> FrozenTrial:
    """The Optuna view of a trial row (``study``: its study's row, needed only for trials written by hpo)."""
    space = study.space if study is not None else None
    attrs = row.attrs or {}
    found_doc = attrs.get("optuna")
    ours = isinstance(found_doc, dict)
    doc: dict[str, Any] = found_doc if isinstance(found_doc, dict) else {}
    state = _STATES[codec.STATE_TO_OPTUNA[row.state]]
    dists_json = doc.get("distributions") or {}
    params: dict[str, Any] = {}
    distributions: dict[str, BaseDistribution] = {}
    for name, stored in (row.params or {}).items():
        text = dists_json.get(name)
        dist = _distribution(text) if text is not None else codec.distribution_from_space((space or {}).get(name))
        value = codec.decode(stored)
        if dist is None or (not ours and not _contains(dist, value)):
            continue
        params[name] = value
        distributions[name] = dist
    values: list[float] | None
    if "values" in doc:
        values = json.loads(doc["values"])
    elif row.values is None or (not ours and state == TrialState.FAIL):
        values = None
    else:
        got = [row.values.get(n) for n in names]
        values = None if any(v is None for v in got) else [float(v) for v in got]
    intermediate: dict[int, float] = {}
    for step, vals in reports:
        if float(step).is_integer():
            v = report_value(vals, names)
            if v is not None:
                intermediate[int(step)] = v
    for key, text in (doc.get("intermediate") or {}).items():
        intermediate[int(key)] = float(json.loads(text))
    user = attrs.get(USER_ATTRS) or {}
    system = dict(doc.get(codec._SYSTEM_KEY) or {})
    if not ours and study is not None:
        system.update(hpo_constraints(row.constraint_values, study.constraints))
    return FrozenTrial(
        number=row.number,
        state=state,
        value=None,
        values=values,
        datetime_start=codec.to_local(row.started_at),
        datetime_complete=codec.to_local(row.finished_at),
        params=params,
        distributions=distributions,
        user_attrs={k: codec.decode(v) for k, v in user.items()},
        system_attrs={k: codec.decode(v) for k, v in system.items()},
        intermediate_values=dict(sorted(intermediate.items())),
        trial_id=row.id,
    )


def _contains(dist: BaseDistribution, value: Any) -> bool:
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False

"""How Optuna's data is written into hpo's store (the mapping :class:`~hpo.integrations.optuna.HpoStorage` uses).

No schema change is needed: everything Optuna has fits the existing tables and JSON documents.

==========================  =====================================================================================
Optuna                      hpo's store
==========================  =====================================================================================
study id / trial id         ``studies.id`` / ``trials.id`` (never reused)
study name                  ``studies.name`` (Optuna's name as is, ``""`` and ``no-name-<uuid>`` included)
directions                  ``studies.objectives``: ``value`` (one), ``value_0``, ``value_1``, ... (several)
study user attrs            ``studies.settings["user_attrs"]`` (hpo's own place for them)
study system attrs          ``studies.settings["optuna"]["system_attrs"]``
first distribution per      ``studies.settings["optuna"]["distributions"]`` (Optuna's compatibility check), and
  parameter                 ``studies.space`` (as hpo parameters, so hpo's CLI and dashboard show them)
trial number, state         ``trials.number``, ``trials.state`` (``FAIL`` is hpo's ``FAILED``)
values                      ``trials.values`` by objective name; an infinite value reads as +-1.797e308 there and
                            exactly in ``attrs["optuna"]["values"]``
params                      ``trials.params`` (external values, as hpo stores them)
distributions               ``trials.attrs["optuna"]["distributions"]`` (Optuna's JSON form)
trial user / system attrs   ``trials.attrs["user_attrs"]`` / ``trials.attrs["optuna"]["system_attrs"]``
constraints (system attrs   also ``trials.constraint_values`` (``constraint_0`` ..., ``constraint_<key>``) and
  ``constraints[:key]``)    ``studies.constraints``
                            (``constraint_i <= 0``, Optuna's feasibility rule), so hpo's views see feasibility
intermediate values         ``reports`` rows (``step``, ``{"value": v}``; a non-finite v is null there, as in
                            hpo, and exact in ``attrs["optuna"]["intermediate"]``)
datetime_start / complete   ``trials.started_at`` / ``finished_at`` (UTC; Optuna's naive local times converted)
==========================  =====================================================================================

JSON documents cannot hold NaN or infinities on PostgreSQL; attribute values that do are kept as
``{"$optuna_json": "<Python json text>"}`` and decoded on read (:func:`encode` / :func:`decode`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "WRAP", "encode", "decode", "objective_names", "finite_or_clamped", "to_utc", "to_local",
    "space_entry", "distribution_from_space", "CONSTRAINTS_KEY", "constraint_name", "constraint_values", "STATE_TO_HPO", "STATE_TO_OPTUNA",
]

#: The key of a JSON object holding a value JSON cannot hold on every backend (as Python's json text).
WRAP = "$optuna_json"
#: Optuna's trial system attribute holding the constraint values (feasible: every one <= 0).
CONSTRAINTS_KEY = "constraints"
#: The key of ``attrs["optuna"]`` / ``settings["optuna"]`` holding Optuna's system attributes.
_SYSTEM_KEY = "system_attrs"
#: Optuna's state names -> hpo's, and back.
STATE_TO_HPO = {"RUNNING": "RUNNING", "WAITING": "WAITING", "COMPLETE": "COMPLETE", "PRUNED": "PRUNED",
                "FAIL": "FAILED"}
STATE_TO_OPTUNA = {v: k for k, v in STATE_TO_HPO.items()}
_FLOAT_MAX = 1.7976931348623157e308


def _plain(value: Any) -> bool:
    """Whether ``value`` is JSON with no NaN / infinity and no object that looks like a wrapped value."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return WRAP not in value and all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, bool))


def encode(value: Any) -> Any:
    """``value`` as JSON every backend stores (see the module's docstring); ``decode`` is its inverse.

    Raises:
        TypeError: ``value`` is not JSON data (Optuna requires JSON-serialisable attributes).
    """
    if _plain(value):
        return list(value) if isinstance(value, tuple) else value
    return {WRAP: json.dumps(value)}


def decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and WRAP in value and isinstance(value[WRAP], str):
        return json.loads(value[WRAP])
    return value


def objective_names(n: int) -> list[str]:
    """The objective names of a study made through Optuna: ``value``, or ``value_0``, ``value_1``, ..."""
    return ["value"] if n == 1 else [f"value_{i}" for i in range(n)]


def constraint_name(key: int | str) -> str:
    """hpo's name of an Optuna constraint: ``constraint_<i>`` (the list form) or ``constraint_<key>``."""
    return f"constraint_{key}"


def constraint_values(system_attrs: Mapping[str, Any]) -> dict[str, float | None]:
    """hpo's constraint values from Optuna's system attributes: the list ``constraints`` and the keys
    ``constraints:<key>`` (``trial.set_constraint``); an empty dict when there are none."""
    out: dict[str, float | None] = {}
    listed = system_attrs.get(CONSTRAINTS_KEY)
    if isinstance(listed, (list, tuple)):
        out.update({constraint_name(i): _number(v) for i, v in enumerate(listed)})
    prefix = CONSTRAINTS_KEY + ":"
    for key, value in system_attrs.items():
        if isinstance(key, str) and key.startswith(prefix):
            out[constraint_name(key[len(prefix):])] = _number(value)
    return out


def _number(value: Any) -> float | None:
    try:
        return finite_or_clamped(float(value))
    except (TypeError, ValueError):
        return None


def finite_or_clamped(value: float) -> float | None:
    """What ``trials.values`` holds for an Optuna value: the value, +-float max for +-inf, None for NaN."""
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return _FLOAT_MAX if value > 0 else -_FLOAT_MAX
    return value


def to_utc(stamp: dt.datetime | None) -> dt.datetime | None:
    """Optuna's naive local time (or an aware one) as an aware UTC time."""
    if stamp is None:
        return None
    return stamp.astimezone(dt.timezone.utc)


def to_local(stamp: dt.datetime | None) -> dt.datetime | None:
    """A stored UTC time as Optuna gives it: naive local time."""
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone().replace(tzinfo=None)


def space_entry(distribution: Any) -> dict[str, Any] | None:
    """An Optuna distribution as an entry of hpo's space (None when hpo's parameters cannot hold it)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from hpo.errors import SpaceError
    from hpo.params import param_from_dict

    entry: dict[str, Any]
    if isinstance(distribution, (FloatDistribution, IntDistribution)):
        kind = "float" if isinstance(distribution, FloatDistribution) else "int"
        if distribution.low == distribution.high:
            entry = {"type": "fixed", "value": distribution.low}
        else:
            entry = {"type": kind, "low": distribution.low, "high": distribution.high, "log": distribution.log}
            if distribution.step is not None:
                entry["step"] = distribution.step
    elif isinstance(distribution, CategoricalDistribution):
        choices = list(distribution.choices)
        if not _plain(choices):
            return None
        entry = {"type": "categorical", "choices": choices} if len(choices) > 1 else {"type": "fixed",
                                                                                     "value": choices[0]}
    else:
        return None
    try:
        param_from_dict(entry)
    except (SpaceError, TypeError, ValueError):
        return None
    return entry


def distribution_from_space(entry: Mapping[str, Any] | None) -> Any:
    """The Optuna distribution of an entry of hpo's space (None when Optuna has none for it)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not isinstance(entry, Mapping):
        return None
    kind = entry.get("type")
    try:
        if kind == "float":
            return FloatDistribution(float(entry["low"]), float(entry["high"]), log=bool(entry.get("log")),
                                     step=entry.get("step"))
        if kind == "int":
            return IntDistribution(int(entry["low"]), int(entry["high"]), log=bool(entry.get("log")),
                                   step=int(entry.get("step") or 1))
        if kind == "categorical":
            return CategoricalDistribution(list(entry["choices"]))
        if kind == "fixed":
            return CategoricalDistribution([entry["value"]])
    except (KeyError, TypeError, ValueError):
        return None
    return None

"""The fidelity of a study: the resource a trial may be given more or less of.

A fidelity is one named, ordered resource (epochs, optimiser steps, a data
fraction, a model size) with a range ``[min, max]``: ``max`` is the target
fidelity at which the result is wanted, smaller values are cheaper and less
accurate evaluations. Schedulers (:mod:`hpo.schedulers`) give trials a budget
inside that range and stop or promote them; multi-fidelity samplers choose the
budget themselves. An objective reads its budget as ``trial.budget`` and
reports progress with ``trial.report(step, value)`` where ``step`` is in the
fidelity's unit.

    hpo.create_study(..., fidelity=hpo.Fidelity("epochs", min=1, max=81))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpo.errors import ConfigError
from hpo.validators import is_number

__all__ = ["Fidelity", "parse_fidelity"]

_KEYS = ("name", "min", "max", "log", "integer")


def _number(field: str, value: Any) -> float:
    if not is_number(value) or not math.isfinite(float(value)):
        raise ConfigError(f"fidelity.{field}: must be a finite number, but got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Fidelity:
    """A named resource range.

    Args:
        name: what the budget counts (``"epochs"``, ``"steps"``, ``"data_fraction"``, ``"params"``).
        min: the smallest budget a trial is given (> 0).
        max: the target fidelity (> min); results at ``max`` are the ones that count.
        log: spread levels geometrically and model the fidelity on a log scale
            (right for epochs or model sizes over several orders of magnitude).
        integer: budgets are whole numbers (default: True when min and max are integers).
    """

    name: str
    min: float
    max: float
    log: bool = False
    integer: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"fidelity.name: must be a non-empty string, but got {self.name!r}")
        low, high = _number("min", self.min), _number("max", self.max)
        if not 0 < low < high:
            raise ConfigError(f"fidelity: `0 < min < max` must hold, but got min={self.min!r}, max={self.max!r}")
        if not isinstance(self.log, bool):
            raise ConfigError(f"fidelity.log: must be True or False, but got {self.log!r}")
        integer = self.integer
        if integer is None:
            integer = float(low).is_integer() and float(high).is_integer()
        elif not isinstance(integer, bool):
            raise ConfigError(f"fidelity.integer: must be True, False or None, but got {integer!r}")
        if integer and not (float(low).is_integer() and float(high).is_integer()):
            raise ConfigError(f"fidelity: an integer fidelity needs whole min and max, but got min={low}, max={high}")
        object.__setattr__(self, "min", low)
        object.__setattr__(self, "max", high)
        object.__setattr__(self, "integer", integer)

    # -- conversions ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min": self.min, "max": self.max, "log": self.log, "integer": self.integer}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fidelity:
        unknown = sorted(set(data) - set(_KEYS), key=repr)
        if unknown:
            raise ConfigError(f"fidelity: unknown key(s) {unknown}; valid keys: {list(_KEYS)}")
        missing = [k for k in ("name", "min", "max") if k not in data]
        if missing:
            raise ConfigError(f"fidelity: missing key(s) {missing}, e.g. {{'name': 'epochs', 'min': 1, 'max': 81}}")
        return cls(data["name"], data["min"], data["max"], data.get("log", False), data.get("integer"))

    def round(self, budget: float) -> float:
        """``budget`` clipped to ``[min, max]`` (and rounded to a whole number for integer fidelities)."""
        value = min(max(float(budget), self.min), self.max)
        return float(round(value)) if self.integer else value

    def to_unit(self, budget: float) -> float:
        """Position of ``budget`` in ``[0, 1]`` (1 = the target fidelity), on a log scale if ``log``."""
        if self.log:
            return (math.log(budget) - math.log(self.min)) / (math.log(self.max) - math.log(self.min))
        return (budget - self.min) / (self.max - self.min)

    def from_unit(self, u: float) -> float:
        """Inverse of :meth:`to_unit` (rounded per :meth:`round`)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            return self.round(math.exp(math.log(self.min) + u * (math.log(self.max) - math.log(self.min))))
        return self.round(self.min + u * (self.max - self.min))

    def levels(self, eta: float, min_budget: float | None = None) -> list[float]:
        """Geometric levels ``min_budget * eta**k`` below ``max``, then ``max`` (successive halving's rungs)."""
        if not is_number(eta) or not eta > 1:
            raise ConfigError(f"reduction_factor: must be a number > 1, but got {eta!r}")
        level = self.min if min_budget is None else float(min_budget)
        out: list[float] = []
        while level < self.max * (1 - 1e-9):
            rounded = self.round(level)
            if not out or rounded > out[-1]:
                out.append(rounded)
            level *= eta
        if not out or out[-1] < self.max:
            out.append(self.max)
        return out


def parse_fidelity(value: Fidelity | Mapping[str, Any] | None) -> Fidelity | None:
    """A Fidelity from a Fidelity, its dict form, or None."""
    if value is None or isinstance(value, Fidelity):
        return value
    if isinstance(value, Mapping):
        return Fidelity.from_dict(value)
    raise ConfigError(f"fidelity: expected hpo.Fidelity(name, min, max) or a mapping, but got {value!r}")

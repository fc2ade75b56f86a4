"""Validation of what an objective returns, before anything is written.

An objective returns a float (single objective), a sequence (one value per
objective) or a mapping with every objective name and, when the study has
constraints, every constraint name. Non-numbers raise ``ValueTypeError``;
unknown or missing names raise ``ObjectiveError``. NaN and infinities are not
errors of the caller: they make the trial FAILED (with a message saying which
value was not finite) and are never handed to a model.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.errors import ObjectiveError, ValueTypeError
from hpo.records import Constraint, Objective

__all__ = ["CheckedValues", "check_values", "check_number"]


@dataclass(frozen=True)
class CheckedValues:
    values: dict[str, float]
    constraint_values: dict[str, float] | None
    not_finite: list[str]  # names whose value is NaN or infinite


def check_number(field: str, value: Any) -> float:
    """A real number as float; bools, strings, None and tensors of size > 1 are rejected."""
    if hasattr(value, "item") and not isinstance(value, numbers.Number):
        size = getattr(value, "size", 1)
        if callable(size):  # torch: .size() is a method, .numel() the element count
            size = value.numel() if hasattr(value, "numel") else None
        if size in (1, None):
            try:
                value = value.item()  # numpy / torch scalars
            except (TypeError, ValueError, RuntimeError):
                pass
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueTypeError(f"{field}: expected a real number, but got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except OverflowError:  # an int (or Fraction) beyond the float range: infinite as a float
        return math.inf if value > 0 else -math.inf


def check_values(
    result: Any, objectives: tuple[Objective, ...], constraints: tuple[Constraint, ...]
) -> CheckedValues:
    names = [o.name for o in objectives]
    cnames = [c.name for c in constraints]
    if isinstance(result, Mapping):
        unknown = sorted(set(result) - set(names) - set(cnames), key=repr)
        if unknown:
            raise ObjectiveError(
                f"values: unknown name(s) {unknown}; the study's objectives are {names}"
                + (f" and constraints {cnames}" if cnames else "")
            )
        missing = [n for n in names + cnames if n not in result]
        if missing:
            raise ObjectiveError(f"values: missing value(s) for {missing}; expected {names + cnames}")
        raw = dict(result)
    elif isinstance(result, Sequence) and not isinstance(result, (str, bytes)):
        if cnames:
            raise ObjectiveError(
                f"values: this study has constraints {cnames}; return a mapping with {names + cnames}"
            )
        if len(result) != len(names):
            raise ObjectiveError(
                f"values: expected {len(names)} value(s) for {names}, but got {len(result)}: {list(result)!r}"
            )
        raw = dict(zip(names, result))
    else:
        if len(names) != 1 or cnames:
            raise ObjectiveError(
                f"values: a single number is only allowed for one objective without constraints; "
                f"return a mapping with {names + cnames}, got {result!r}"
            )
        raw = {names[0]: result}
    checked = {name: check_number(f"values[{name!r}]", raw[name]) for name in names + cnames}
    not_finite = [n for n, v in checked.items() if not math.isfinite(v)]
    return CheckedValues(
        values={n: checked[n] for n in names},
        constraint_values={n: checked[n] for n in cnames} if cnames else None,
        not_finite=not_finite,
    )

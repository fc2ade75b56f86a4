"""JSON scalar values and ``active_if`` conditions, shared by :mod:`hpo.params` and :mod:`hpo.space`.

A condition ``{"parent": (v1, v2)}`` holds when the parent is active and takes one of
the listed values; a single scalar means a 1-tuple. Values compare by :func:`value_key`:
bools apart from numbers, ``1 == 1.0``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpo.errors import SpaceError
from hpo.validators import is_number

__all__ = ["JSON_TYPES", "Conditions", "as_bool", "as_float", "as_int", "is_json_scalar", "normalise_conditions",
           "to_python", "value_key"]

#: The JSON scalar types, as error messages list them.
JSON_TYPES = "str, int, float, bool, None"


def to_python(v: Any) -> Any:
    """Converts numpy scalars to Python scalars; anything else is returned as is."""
    return v.item() if isinstance(v, np.generic) else v


def is_json_scalar(v: Any) -> bool:
    """Whether ``v`` is a JSON scalar: None, str, bool, int or finite float."""
    return v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def value_key(v: Any) -> tuple | None:
    """Comparison key of a scalar (bools apart from numbers, 1 == 1.0); None for non-scalars."""
    v = to_python(v)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, float)):
        return ("num", v)
    return ("str", v) if v is None or isinstance(v, str) else None


def as_float(v: Any, what: str) -> float:
    """``v`` as a finite float (no bool); SpaceError naming ``what`` otherwise."""
    v = to_python(v)
    if not is_number(v):
        hint = " (YAML reads 1e-5 as a string: write 1.0e-5)" if isinstance(v, str) else ""
        raise SpaceError(f"{what} must be a number, but got {v!r} ({type(v).__name__}){hint}")
    f = float(v) if isinstance(v, float) or abs(v) < 2**1023 else math.inf
    if not math.isfinite(f):
        raise SpaceError(f"{what} must be finite, but got {v!r}")
    return f


def as_int(v: Any, what: str) -> int:
    """``v`` as an int (integral floats accepted, no bool); SpaceError naming ``what`` otherwise."""
    v = to_python(v)
    if not is_number(v):
        raise SpaceError(f"{what} must be an integer, but got {v!r} ({type(v).__name__})")
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        raise SpaceError(f"{what} must be an integer, but got {v!r}")
    return int(v)


def as_bool(v: Any, what: str) -> bool:
    """``v`` as a bool (numpy bools accepted); SpaceError naming ``what`` otherwise."""
    if not isinstance(to_python(v), bool):
        raise SpaceError(f"{what} must be a bool, but got {v!r} ({type(v).__name__})")
    return to_python(v)


class Conditions(dict):
    """Immutable, hashable ``{parent: (value, ...)}`` mapping of ``active_if``."""

    __slots__ = ()

    def _immutable(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("active_if is immutable")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple:
        return (Conditions, (dict(self),))


def normalise_conditions(cond: Any, where: str) -> Conditions | None:
    """``active_if`` as immutable ``{parent: (unique values, ...)}``; None when empty (``where`` names the owner)."""
    if cond is None:
        return None
    if not isinstance(cond, Mapping):
        raise SpaceError(f"{where}: active_if must be a mapping parent -> values, but got {cond!r}")
    out: dict[str, tuple] = {}
    for parent, vals in cond.items():
        if not isinstance(parent, str) or not parent:
            raise SpaceError(f"{where}: active_if parents must be non-empty names, but got {parent!r}")
        vals = tuple(map(to_python, vals)) if isinstance(vals, (list, tuple)) else (to_python(vals),)
        if not vals or not all(map(is_json_scalar, vals)):
            raise SpaceError(f"{where}: active_if[{parent!r}] must list one or more JSON scalars "
                             f"({JSON_TYPES}), but got {vals!r}")
        unique: dict = {}
        for v in vals:
            unique.setdefault(value_key(v), v)
        out[parent] = tuple(unique.values())
    return Conditions(out) if out else None

"""Argument checks shared by every seam: one wording, one error class per call.

Each check returns the value it accepted (so ``self.n = positive_int("n", n)``
reads as one line) and raises ``error`` (default :class:`hpo.errors.ConfigError`)
with a message that names the argument, the rule and the offending value.
Booleans are never numbers here: ``True`` is not a count.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from hpo.errors import ConfigError, HpoError

__all__ = ["is_int", "is_number", "positive_int", "non_negative_int", "positive_number",
           "non_negative_number", "probability", "one_of", "optional"]


def is_int(value: Any) -> bool:
    """An ``int`` (numpy integers included) that is not a ``bool``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and value.dtype.kind in "iu"


def is_number(value: Any) -> bool:
    """A real number that is not a ``bool`` (ints, floats, numpy scalars)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and value.dtype.kind in "iuf"


def positive_int(name: str, value: Any, error: type[HpoError] = ConfigError, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (default 1)."""
    if not is_int(value) or value < minimum:
        raise error(f"{name}: must be an integer >= {minimum}, but got {value!r}")
    return int(value)


def non_negative_int(name: str, value: Any, error: type[HpoError] = ConfigError) -> int:
    """``value`` as an int ``>= 0``."""
    if not is_int(value) or value < 0:
        raise error(f"{name}: must be a non-negative integer, but got {value!r}")
    return int(value)


def positive_number(name: str, value: Any, error: type[HpoError] = ConfigError) -> float:
    """``value`` as a finite float ``> 0``."""
    if not is_number(value) or not math.isfinite(value) or not value > 0:
        raise error(f"{name}: must be a positive finite number, but got {value!r}")
    return float(value)


def non_negative_number(name: str, value: Any, error: type[HpoError] = ConfigError) -> float:
    """``value`` as a finite float ``>= 0``."""
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise error(f"{name}: must be a non-negative finite number, but got {value!r}")
    return float(value)


def probability(name: str, value: Any, error: type[HpoError] = ConfigError, *, open_low: bool = False,
                open_high: bool = False) -> float:
    """``value`` as a float in ``[0, 1]`` (``open_low``/``open_high`` exclude an end)."""
    ok = is_number(value) and math.isfinite(value)
    if ok:
        ok = (value > 0 if open_low else value >= 0) and (value < 1 if open_high else value <= 1)
    if not ok:
        interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise error(f"{name}: must be a number in {interval}, but got {value!r}")
    return float(value)


def one_of(name: str, value: Any, choices: Collection[Any], error: type[HpoError] = ConfigError) -> Any:
    """``value`` if it is one of ``choices`` (listed in the error)."""
    if isinstance(value, bool) or value not in choices:
        raise error(f"{name}: must be one of {sorted(choices, key=repr)}, but got {value!r}")
    return value


def optional(check: Any, name: str, value: Any, *args: Any, **kwargs: Any) -> Any:
    """``None`` or ``check(name, value, ...)``: ``optional(positive_int, "n_trials", n)``."""
    return None if value is None else check(name, value, *args, **kwargs)

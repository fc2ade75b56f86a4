"""Parameter definitions: :class:`Float`, :class:`Int` here; :class:`Categorical`, :func:`Ordinal`, :class:`Fixed` in :mod:`hpo.choices`.

Import them from :mod:`hpo.space` (or ``hpo``); the container, conditions between
parameters and validation of whole configurations are in :mod:`hpo.space`.

Values: JSON scalars are ``str``, ``int``, finite ``float``, ``bool`` and ``None``;
numpy scalars become Python scalars. A bool is never a number (``True`` is no Int
value and a different choice than ``1``), while ``1`` and ``1.0`` are the same
choice or condition value. Int accepts integral floats (``3.0 -> 3``).

Grids: a ``step`` that does not divide ``high - low`` is allowed; as in Optuna,
``high`` is lowered to the last grid point ``low + k * step`` (and ``to_dict``
shows the lowered value). ``step`` cannot be combined with ``log=True``. Grids
hold at most 2**50 (Int) or 2**40 (stepped Float) values; a log Int needs
``high <= 2**40`` so that decoding stays exact.

Unit-interval encoding, one parameter at a time (``param.encode(value) -> float``
in [0, 1], ``param.decode(u) -> value``, ``param.decode_array(u)`` for an array of
shape (n,) -> list of n values; :class:`hpo.encoding.SpaceEncoder` builds the
cube encoding of a whole space from these):

* Float without step: ``u = (x - low) / (high - low)``; with ``log=True``
  ``u = (log x - log low) / (log high - log low)``. Decoding inverts this and
  clamps into ``[low, high]`` (round trip up to floating-point error; exact at
  ``low`` and ``high``).
* Int (``log=False``) and stepped Float: with ``n = grid_size`` grid values and
  ``i`` the index of ``x``, ``u = (i + 0.5) / n``; decoding
  ``i = min(floor(u * n), n - 1)`` (exact round trip).
* Int with ``log=True``: ``u = (log x - log low) / (log high - log low)``; decoding
  ``round(exp(log low + u * (log high - log low)))`` (half to even) clamped into
  ``[low, high]`` (exact round trip).
* Categorical: unordered, the index coordinate ``u = (i + 0.5) / k`` of choice ``i`` of
  ``k``, decoding ``min(floor(u * k), k - 1)``; ordinal (choices all numbers, or
  ``ordered=True``), the choice's place on its (log) scale (rules in :mod:`hpo.choices`).
* Fixed: ``encode`` is 0.5 and ``decode`` always gives the value.

``grid_size`` and ``grid_value(i)`` list the distinct values of a discrete
parameter (Int, stepped Float, Categorical, Fixed) without building them all.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpo.conditions import (
    as_bool,
    as_float,
    as_int,
    normalise_conditions,
    to_python,
)
from hpo.errors import SpaceError
from hpo.validators import is_number

__all__ = ["Param", "Float", "Int", "Categorical", "Ordinal", "Fixed", "param_from_dict"]

_MAX_INT_GRID, _MAX_FLOAT_GRID, _MAX_LOG_INT, _MAX_INT_ABS = 2**50, 2**40, 2**40, 2**53


def _as_coordinate(u: Any, param: Param) -> float:
    v = to_python(u)
    if not is_number(v) or math.isnan(v):
        raise SpaceError(f"{type(param).__name__}: decode: the coordinate must be a number in [0, 1], but got {u!r}")
    return float(v)


@dataclass(frozen=True)
class Param(ABC):
    """One parameter of a search space (an immutable, hashable dataclass).

    Attributes:
        active_if: ``{parent: (values, ...)}``: the parameter is active only when
            every parent takes one of its listed values; None: always active.
    """

    active_if: dict[str, Any] | None = field(default=None, kw_only=True)  # stored as {parent: tuple}

    def __post_init__(self) -> None:
        object.__setattr__(self, "active_if", normalise_conditions(self.active_if, type(self).__name__))

    def _fail(self, detail: str) -> None:
        raise SpaceError(f"{type(self).__name__}: {detail}")

    def _set(self, **attrs: Any) -> None:
        for k, v in attrs.items():
            object.__setattr__(self, k, v)

    def _cond_json(self) -> dict | None:
        return None if self.active_if is None else {p: list(vs) for p, vs in self.active_if.items()}

    @abstractmethod
    def validate(self, value: Any, name: str) -> Any:
        """Returns ``value`` normalised (Python int/float, the stored choice).

        Args:
            value: The candidate value.
            name: The parameter's name, used in error messages.

        Raises:
            SpaceError: Wrong type, or outside the parameter's domain.
        """

    @abstractmethod
    def to_dict(self) -> dict:
        """Returns a JSON-safe dict that :func:`param_from_dict` turns back into ``self``."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """Draws a value: uniform, log-uniform if ``log``, on the grid if stepped."""

    # -- the unit-interval encoding (the rules are in the module docstring) -----
    @abstractmethod
    def encode(self, value: Any) -> float:
        """The coordinate in [0, 1] of one value (a Python float).

        Args:
            value: For Float and Int a number; values outside ``[low, high]``
                are clamped, and a value off the grid goes to the grid point
                below it (Int) or the nearest one (stepped Float). For
                Categorical and Fixed a value :meth:`validate` accepts.

        Raises:
            SpaceError: A Categorical or Fixed value the parameter cannot take.
        """

    @abstractmethod
    def _decode_unit(self, u: np.ndarray) -> list:
        """Values for coordinates ``u`` of shape (n,), already clipped into [0, 1]."""

    def decode_array(self, u: Any) -> list:
        """Values (Python scalars, each passing :meth:`validate`) for unit coordinates.

        Args:
            u: Array-like of shape (n,); values are clipped into [0, 1] first.

        Returns:
            A list of n values.

        Raises:
            SpaceError: ``u`` is not one-dimensional or contains NaN.
        """
        arr = np.asarray(u, dtype=np.float64)
        if arr.ndim != 1:
            self._fail(f"decode_array: expected coordinates of shape (n,), but got shape {arr.shape}")
        if np.isnan(arr).any():
            bad = np.flatnonzero(np.isnan(arr))[:5].tolist()
            self._fail(f"decode_array: coordinates must not be NaN, but got NaN at positions {bad}")
        return self._decode_unit(np.clip(arr, 0.0, 1.0))

    def decode(self, u: float) -> Any:
        """The value at unit coordinate ``u`` (clipped into [0, 1]); inverse of :meth:`encode`.

        Raises:
            SpaceError: ``u`` is NaN or not a number.
        """
        return self.decode_array(np.array([_as_coordinate(u, self)]))[0]

    @property
    @abstractmethod
    def grid_size(self) -> int | None:
        """Number of distinct values (grid points, choices; 1 for Fixed); None for a continuous Float."""

    def grid_value(self, i: int) -> Any:
        """The ``i``-th distinct value, ``0 <= i < grid_size`` (grid order, choice order).

        Raises:
            SpaceError: A continuous Float (no grid) or ``i`` out of range.
        """
        n = self.grid_size
        if n is None:
            self._fail(f"grid_value: a continuous Float has no grid (step=None), but got i={i!r}")
        if isinstance(i, bool) or not isinstance(to_python(i), int) or not 0 <= to_python(i) < n:
            self._fail(f"grid_value: `0 <= i < grid_size` must hold for an integer i, but got i={i!r}, grid_size={n}")
        return self._at(int(i))

    @abstractmethod
    def _at(self, i: int) -> Any:
        """The ``i``-th grid value; ``i`` already checked (only called when ``grid_size`` is not None)."""


@dataclass(frozen=True)
class _Range(Param):
    """Shared part of Float and Int: ``[low, high]``, log scale, grid of ``_n`` values."""

    low: Any
    high: Any
    log: bool = False

    def _bounds(self, conv: Any) -> tuple:
        name = type(self).__name__
        low, high = conv(self.low, f"{name}: low"), conv(self.high, f"{name}: high")
        log = as_bool(self.log, f"{name}: log")
        if not low < high:
            self._fail(f"`low < high` must hold, but got low={low!r}, high={high!r}")
        if log and low <= 0:
            self._fail(f"`low > 0` must hold when log=True, but got low={low!r}")
        return low, high, log

    def _finish(self, low: Any, high: Any, log: bool, step: Any, n: int | None) -> None:
        self._set(low=low, high=high, log=log, step=step, _n=n)
        if log:
            self._set(_lo=math.log(low), _span=math.log(high) - math.log(low))
            if not self._span > 0:
                self._fail(f"`log(low) < log(high)` must hold, but got low={low!r}, high={high!r}")

    def _range_error(self, name: str, x: Any) -> SpaceError:
        grid = "" if self._n is None else f" on the grid low + i*step (step={self.step!r})"
        return SpaceError(f"space[{name!r}]: `low <= value <= high` must hold{grid}, but got "
                          f"value={x!r}, low={self.low!r}, high={self.high!r}")

    def to_dict(self) -> dict:
        return {"type": type(self).__name__.lower(), "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, "active_if": self._cond_json()}

    @property
    def grid_size(self) -> int | None:
        return self._n

    def encode(self, value: Any) -> float:
        x = min(max(as_float(value, f"{type(self).__name__}: encode value"), self.low), self.high)
        if self.log:
            u = (math.log(x) - self._lo) / self._span
        elif self._n is not None:
            u = (self._index(x) + 0.5) / self._n
        else:
            u = (x - self.low) / (self.high - self.low)
        return float(min(max(u, 0.0), 1.0))

    def _decode_unit(self, u: np.ndarray) -> list:
        if self._n is not None and not self.log:
            return [self._at(int(i)) for i in np.minimum(np.floor(u * self._n), self._n - 1)]
        with np.errstate(over="ignore"):
            x = np.exp(self._lo + u * self._span) if self.log else self.low + u * (self.high - self.low)
        x = np.where(u <= 0.0, self.low, np.where(u >= 1.0, self.high, x))  # exact end points
        if isinstance(self, Int):
            return [int(v) for v in np.clip(np.rint(x), self.low, self.high)]
        return np.clip(x, self.low, self.high).tolist()


@dataclass(frozen=True)
class Float(_Range):
    """A real parameter in ``[low, high]``, optionally log-scaled or on a ``step`` grid."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        low, high, log = self._bounds(as_float)
        if not math.isfinite(high - low):
            self._fail(f"`high - low` must be finite, but got low={low!r}, high={high!r}")
        step, n = self.step, None
        if step is not None:
            step = as_float(step, "Float: step")
            if log or not step > 0:
                self._fail(f"`step > 0` must hold and step excludes log=True, but got step={step!r}, log={log}")
            r = min((high - low) / step, _MAX_FLOAT_GRID)
            k = round(r)
            if abs(r - k) > self._tol(k, low, high, step):  # off the grid: lower high (as Optuna)
                k = math.floor(r)
                high = low + k * step
            if not 1 <= k < _MAX_FLOAT_GRID:
                self._fail(f"`step <= high - low` and at most 2**40 grid values must hold, but got "
                           f"low={low!r}, high={high!r}, step={step!r}")
            n = k + 1
        self._finish(low, high, log, step, n)

    @staticmethod
    def _tol(k: int, low: float, high: float, step: float) -> float:
        """Tolerance, in grid steps, for a value to count as grid point ``k``."""
        return 1e-6 + 1e-15 * abs(k) + 4 * math.ulp(max(abs(low), abs(high))) / step

    def _at(self, i: int) -> float:
        return self.high if i >= self._n - 1 else min(self.low + i * self.step, self.high)

    def _index(self, x: float) -> int:
        return min(max(round((x - self.low) / self.step), 0), self._n - 1)

    def validate(self, value: Any, name: str) -> float:
        x = as_float(value, f"space[{name!r}]: value")
        if self.step is None:
            if not self.low <= x <= self.high:
                raise self._range_error(name, x)
            return x
        r = (x - self.low) / self.step
        if not (-0.5 < r < self._n - 0.5 and abs(r - round(r)) <= self._tol(round(r), self.low, self.high, self.step)):
            raise self._range_error(name, x)
        return self._at(round(r))

    def sample(self, rng: np.random.Generator) -> float:
        rng = np.random.default_rng(rng)
        if self.step is not None:
            return self._at(int(rng.integers(self._n)))
        return self._decode_unit(rng.uniform(size=1))[0]  # uniform in the encoding: (log-)uniform


@dataclass(frozen=True)
class Int(_Range):
    """An integer parameter on the grid ``low + i*step`` in ``[low, high]``, or log-scaled."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        low, high, log = self._bounds(as_int)
        step = as_int(self.step, "Int: step")
        if max(abs(low), abs(high)) > _MAX_INT_ABS or step < 1:
            self._fail(f"`|low|, |high| <= 2**53` and `step >= 1` must hold, but got "
                       f"low={low!r}, high={high!r}, step={step!r}")
        if log and (high > _MAX_LOG_INT or step != 1):
            self._fail(f"log=True needs `high <= 2**40` and step=1, but got high={high!r}, step={step!r}")
        k = (high - low) // step
        if not 1 <= k < _MAX_INT_GRID:
            self._fail(f"`step <= high - low` and at most 2**50 grid values must hold, but got "
                       f"low={low!r}, high={high!r}, step={step!r}")
        self._finish(low, low + k * step, log, step, k + 1)  # high lowered onto the grid (as Optuna)

    def _at(self, i: int) -> int:
        return self.low + i * self.step

    def _index(self, x: int) -> int:
        return (x - self.low) // self.step

    def validate(self, value: Any, name: str) -> int:
        x = as_int(value, f"space[{name!r}]: value")
        if not self.low <= x <= self.high or (x - self.low) % self.step:
            raise self._range_error(name, x)
        return x

    def sample(self, rng: np.random.Generator) -> int:
        rng = np.random.default_rng(rng)
        if self.log:  # as Optuna: log-uniform on [low - 0.5, high + 0.5], rounded
            x = round(math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5))))
            return min(max(x, self.low), self.high)
        return self._at(int(rng.integers(self._n)))


from hpo.choices import Categorical, Fixed, Ordinal  # noqa: E402  (hpo.choices imports Param from here)

_SCHEMAS: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]] = {
    "float": (Float, ("low", "high"), ("log", "step")),
    "int": (Int, ("low", "high"), ("log", "step")),
    "categorical": (Categorical, ("choices",), ("ordered", "log")),
    "ordinal": (Ordinal, ("choices",), ("log",)),
    "fixed": (Fixed, ("value",), ()),
}


def param_from_dict(d: Mapping, name: str | None = None) -> Param:
    """Builds a Param from ``Param.to_dict()`` output or the YAML form.

    Args:
        d: ``{"type": "float"|"int"|"categorical"|"ordinal"|"fixed", <fields>, "active_if": ...}``;
            optional fields may be left out (an Int ``step`` of None means 1).
        name: The parameter's name, used in error messages.

    Raises:
        SpaceError: Unknown ``type`` or keys (listing the allowed ones), a missing
            field, or an invalid definition.
    """
    where = f"space[{name!r}]: " if name is not None else ""
    if not isinstance(d, Mapping):
        raise SpaceError(f"{where}expected a mapping with a 'type' key, but got {d!r}")
    kind = d.get("type")
    if not isinstance(kind, str) or kind.lower() not in _SCHEMAS:
        raise SpaceError(f"{where}unknown type {kind!r}; allowed: {', '.join(_SCHEMAS)}")
    cls, required, optional = _SCHEMAS[kind.lower()]
    allowed = ("type", *required, *optional, "active_if")
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise SpaceError(f"{where}unknown key(s) {unknown!r} for type {kind!r}; allowed: {', '.join(allowed)}")
    missing = [k for k in required if k not in d]
    if missing:
        raise SpaceError(f"{where}missing key(s) {missing!r} for type {kind!r}")
    kwargs = {k: v for k, v in d.items() if k != "type" and not (cls is Int and k == "step" and v is None)}
    try:
        return cls(**kwargs)
    except SpaceError as e:
        raise SpaceError(f"{where}{e}") from None

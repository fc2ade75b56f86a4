"""Search spaces: parameter definitions, conditions, validation, sampling, encoding.

A :class:`SearchSpace` maps names to :class:`Param` definitions (:class:`Float`,
:class:`Int`, :class:`Categorical`, :class:`Fixed`; a bare JSON scalar means
``Fixed``). ``active_if={"parent": (v1, v2)}`` makes a parameter active only when
every named parent is active and takes one of the listed values (a single scalar
means a 1-tuple). Parents must be Categorical, Int or Fixed. ``SearchSpace.names``
puts parents before children, otherwise keeps insertion order.

Values: JSON scalars are ``str``, ``int``, finite ``float``, ``bool`` and ``None``;
numpy scalars become Python scalars. A bool is never a number (``True`` is no Int
value and a different choice than ``1``), while ``1`` and ``1.0`` are the same
choice or condition value. Int accepts integral floats (``3.0 -> 3``).

Grids: a ``step`` that does not divide ``high - low`` is allowed; as in Optuna,
``high`` is lowered to the last grid point ``low + k * step`` (and ``to_dict``
shows the lowered value). ``step`` cannot be combined with ``log=True``. Grids
hold at most 2**50 (Int) or 2**40 (stepped Float) values; a log Int needs
``high <= 2**40`` so that decoding stays exact.

Encoding into the unit cube for models: :mod:`hpo.encoding` (``space.encoder()``).
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.errors import SpaceError
from hpo.registry import lazy_exports

if TYPE_CHECKING:
    from hpo.encoding import SpaceEncoder

__all__ = ["Param", "Float", "Int", "Categorical", "Fixed", "param_from_dict", "SearchSpace"]


# the encoder lives in hpo.encoding; re-exported here
__getattr__ = lazy_exports(__name__, {"Column": "hpo.encoding", "SpaceEncoder": "hpo.encoding"})

_MAX_INT_GRID, _MAX_FLOAT_GRID, _MAX_LOG_INT, _MAX_INT_ABS = 2**50, 2**40, 2**40, 2**53
_TYPES = "str, int, float, bool, None"


def _py(v: Any) -> Any:
    """Converts numpy scalars to Python scalars; anything else is returned as is."""
    return v.item() if isinstance(v, np.generic) else v


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def _key(v: Any) -> tuple | None:
    """Comparison key of a scalar (bools apart from numbers, 1 == 1.0); None for non-scalars."""
    v = _py(v)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, float)):
        return ("num", v)
    return ("str", v) if v is None or isinstance(v, str) else None


def _as_float(v: Any, what: str) -> float:
    v = _py(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        hint = " (YAML reads 1e-5 as a string: write 1.0e-5)" if isinstance(v, str) else ""
        raise SpaceError(f"{what} must be a number, but got {v!r} ({type(v).__name__}){hint}")
    f = float(v) if isinstance(v, float) or abs(v) < 2**1023 else math.inf
    if not math.isfinite(f):
        raise SpaceError(f"{what} must be finite, but got {v!r}")
    return f


def _as_int(v: Any, what: str) -> int:
    v = _py(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpaceError(f"{what} must be an integer, but got {v!r} ({type(v).__name__})")
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        raise SpaceError(f"{what} must be an integer, but got {v!r}")
    return int(v)


def _as_bool(v: Any, what: str) -> bool:
    if not isinstance(_py(v), bool):
        raise SpaceError(f"{what} must be a bool, but got {v!r} ({type(v).__name__})")
    return _py(v)


class _Conditions(dict):
    """Immutable, hashable ``{parent: (value, ...)}`` mapping of ``active_if``."""

    __slots__ = ()

    def _immutable(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("active_if is immutable")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple:
        return (_Conditions, (dict(self),))


def _norm_conditions(cond: Any, where: str) -> _Conditions | None:
    if cond is None:
        return None
    if not isinstance(cond, Mapping):
        raise SpaceError(f"{where}: active_if must be a mapping parent -> values, but got {cond!r}")
    out: dict[str, tuple] = {}
    for parent, vals in cond.items():
        if not isinstance(parent, str) or not parent:
            raise SpaceError(f"{where}: active_if parents must be non-empty names, but got {parent!r}")
        vals = tuple(map(_py, vals)) if isinstance(vals, (list, tuple)) else (_py(vals),)
        if not vals or not all(map(_is_scalar, vals)):
            raise SpaceError(f"{where}: active_if[{parent!r}] must list one or more JSON scalars "
                             f"({_TYPES}), but got {vals!r}")
        unique: dict = {}
        for v in vals:
            unique.setdefault(_key(v), v)
        out[parent] = tuple(unique.values())
    return _Conditions(out) if out else None


@dataclass(frozen=True)
class Param(ABC):
    """One parameter of a search space (an immutable, hashable dataclass).

    Attributes:
        active_if: ``{parent: (values, ...)}``: the parameter is active only when
            every parent takes one of its listed values; None: always active.
    """

    active_if: dict[str, tuple] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "active_if", _norm_conditions(self.active_if, type(self).__name__))

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


@dataclass(frozen=True)
class _Range(Param):
    """Shared part of Float and Int: ``[low, high]``, log scale, grid of ``_n`` values."""

    low: Any
    high: Any
    log: bool = False

    def _bounds(self, conv: Any) -> tuple:
        name = type(self).__name__
        low, high = conv(self.low, f"{name}: low"), conv(self.high, f"{name}: high")
        log = _as_bool(self.log, f"{name}: log")
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

    def _encode(self, x: Any) -> float:
        if self.log:
            u = (math.log(x) - self._lo) / self._span
        elif self._n is not None:
            u = (self._index(x) + 0.5) / self._n
        else:
            u = (x - self.low) / (self.high - self.low)
        return min(max(u, 0.0), 1.0)

    def _decode(self, u: np.ndarray) -> list:
        """Values for unit-cube coordinates ``u`` of shape (n,)."""
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
        low, high, log = self._bounds(_as_float)
        if not math.isfinite(high - low):
            self._fail(f"`high - low` must be finite, but got low={low!r}, high={high!r}")
        step, n = self.step, None
        if step is not None:
            step = _as_float(step, "Float: step")
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
        x = _as_float(value, f"space[{name!r}]: value")
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
        return self._decode(rng.uniform(size=1))[0]  # uniform in the encoding: (log-)uniform


@dataclass(frozen=True)
class Int(_Range):
    """An integer parameter on the grid ``low + i*step`` in ``[low, high]``, or log-scaled."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        low, high, log = self._bounds(_as_int)
        step = _as_int(self.step, "Int: step")
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
        x = _as_int(value, f"space[{name!r}]: value")
        if not self.low <= x <= self.high or (x - self.low) % self.step:
            raise self._range_error(name, x)
        return x

    def sample(self, rng: np.random.Generator) -> int:
        rng = np.random.default_rng(rng)
        if self.log:  # as Optuna: log-uniform on [low - 0.5, high + 0.5], rounded
            x = round(math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5))))
            return min(max(x, self.low), self.high)
        return self._at(int(rng.integers(self._n)))


@dataclass(frozen=True)
class Categorical(Param):
    """One of a non-empty tuple of unique JSON scalars."""

    choices: tuple

    def __post_init__(self) -> None:
        super().__post_init__()
        ch = self.choices
        if isinstance(ch, (str, bytes)) or not isinstance(ch, (Sequence, np.ndarray)):
            self._fail(f"choices must be a list of JSON scalars, but got {ch!r}")
        ch = tuple(map(_py, ch))
        if not ch:
            self._fail("choices must not be empty, but got []")
        index: dict = {}
        for i, c in enumerate(ch):
            if not _is_scalar(c):
                self._fail(f"choices must be JSON scalars ({_TYPES}), but got {c!r} ({type(c).__name__}) at {i}")
            if _key(c) in index:
                self._fail(f"choices must be unique, but got {ch[index[_key(c)]]!r} and {c!r} in {list(ch)!r}")
            index[_key(c)] = i
        self._set(choices=ch, _pos=index)

    def _position(self, value: Any, name: str) -> int:
        i = self._pos.get(_key(value))
        if i is None:
            raise SpaceError(f"space[{name!r}]: value must be one of {list(self.choices)!r}, but got {value!r}")
        return i

    def validate(self, value: Any, name: str) -> Any:
        return self.choices[self._position(value, name)]

    def to_dict(self) -> dict:
        return {"type": "categorical", "choices": list(self.choices), "active_if": self._cond_json()}

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(np.random.default_rng(rng).integers(len(self.choices)))]


@dataclass(frozen=True)
class Fixed(Param):
    """A constant (a JSON scalar); it takes no column in encodings."""

    value: Any

    def __post_init__(self) -> None:
        super().__post_init__()
        if not _is_scalar(_py(self.value)):
            self._fail(f"value must be a JSON scalar ({_TYPES}), but got {self.value!r} "
                       f"({type(self.value).__name__})")
        self._set(value=_py(self.value))

    def validate(self, value: Any, name: str) -> Any:
        if _key(value) is None or _key(value) != _key(self.value):
            raise SpaceError(f"space[{name!r}]: value must equal the fixed value {self.value!r}, but got {value!r}")
        return self.value

    def to_dict(self) -> dict:
        return {"type": "fixed", "value": self.value, "active_if": self._cond_json()}

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value


_SCHEMAS: dict[str, tuple[type[Param], tuple[str, ...], tuple[str, ...]]] = {
    "float": (Float, ("low", "high"), ("log", "step")),
    "int": (Int, ("low", "high"), ("log", "step")),
    "categorical": (Categorical, ("choices",), ()),
    "fixed": (Fixed, ("value",), ()),
}


def param_from_dict(d: Mapping, name: str | None = None) -> Param:
    """Builds a Param from ``Param.to_dict()`` output or the YAML form.

    Args:
        d: ``{"type": "float"|"int"|"categorical"|"fixed", <fields>, "active_if": ...}``;
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


class _UnknownParamError(SpaceError, KeyError):
    """An unknown parameter name (a SpaceError that is also a KeyError)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _as_param(name: str, p: Any) -> Param:
    if isinstance(p, Param):
        return p
    if isinstance(p, Mapping):
        return param_from_dict(p, name)
    if _is_scalar(_py(p)):
        return Fixed(_py(p))
    raise SpaceError(f"space[{name!r}]: expected a Param, a {{'type': ...}} mapping or a JSON scalar "
                     f"({_TYPES}), but got {p!r} ({type(p).__name__})")


def _check_condition(name: str, cond: Mapping[str, tuple], raw: Mapping[str, Param]) -> dict:
    """Checks ``name``'s condition against the parents; returns it with normalised values."""
    out = {}
    for parent, vals in cond.items():
        if parent == name or parent not in raw:
            raise SpaceError(f"space[{name!r}]: active_if parent {parent!r} must be another parameter "
                             f"of the space; valid names: {[n for n in raw if n != name]!r}")
        pp = raw[parent]
        if not isinstance(pp, (Categorical, Int, Fixed)):
            raise SpaceError(f"space[{name!r}]: active_if parent {parent!r} must be Categorical, Int or "
                             f"Fixed, but it is {type(pp).__name__}")
        try:
            out[parent] = tuple(pp.validate(v, parent) for v in vals)
        except SpaceError as e:
            raise SpaceError(f"space[{name!r}]: active_if lists a value that parent {parent!r} cannot "
                             f"take ({e})") from None
    return out


def _toposort(params: Mapping[str, Param]) -> tuple[str, ...]:
    """Parents before children, otherwise insertion order; SpaceError on a cycle."""
    remaining, placed = list(params), {}
    while remaining:
        ready = next((n for n in remaining if all(p in placed for p in params[n].active_if or ())), None)
        if ready is None:
            path = [remaining[0]]
            while path.count(path[-1]) < 2:
                path.append(next(p for p in params[path[-1]].active_if if p not in placed))
            cycle = path[path.index(path[-1]):]
            raise SpaceError(f"space[{cycle[0]!r}]: conditions must not form a cycle, but got "
                             f"{' -> '.join(map(repr, cycle))} (each active_if names the next)")
        placed[ready] = None
        remaining.remove(ready)
    return tuple(placed)


class SearchSpace:
    """An ordered, validated set of named parameters with conditions.

    Args:
        params: name -> Param, ``{"type": ...}`` mapping (see
            :func:`param_from_dict`) or JSON scalar (becomes ``Fixed``).

    Raises:
        SpaceError: Bad names, no parameters, or invalid conditions (unknown or
            self parent, Float parent, value the parent cannot take, cycle).
    """

    def __init__(self, params: Mapping[str, Any] | SearchSpace) -> None:
        params = params._params if isinstance(params, SearchSpace) else params
        if not isinstance(params, Mapping) or not params:
            raise SpaceError(f"space: a non-empty mapping name -> Param is required, but got {params!r}")
        raw: dict[str, Param] = {}
        for name, p in params.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"space: parameter names must be non-empty strings, but got {name!r}")
            raw[name] = _as_param(name, p)
        for name, p in raw.items():
            if p.active_if is not None:
                raw[name] = dataclasses.replace(p, active_if=_check_condition(name, p.active_if, raw))
        self._names = _toposort(raw)
        self._params = {n: raw[n] for n in self._names}
        self._allowed = {n: {pa: frozenset(map(_key, vs)) for pa, vs in (p.active_if or {}).items()}
                         for n, p in self._params.items()}

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, parents before children, otherwise insertion order."""
        return self._names

    @property
    def params(self) -> dict[str, Param]:
        """A copy of name -> Param, in ``names`` order."""
        return dict(self._params)

    def __getitem__(self, name: str) -> Param:
        if name not in self._params:
            raise _UnknownParamError(f"space: unknown parameter {name!r}; valid names: {list(self._names)!r}")
        return self._params[name]

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self._names == other._names and self._params == other._params

    def __hash__(self) -> int:
        return hash(tuple(self._params.items()))

    def __repr__(self) -> str:
        return f"SearchSpace({self._params!r})"

    def to_dict(self) -> dict[str, dict]:
        """Returns ``{name: param.to_dict()}`` in ``names`` order (JSON-safe)."""
        return {n: p.to_dict() for n, p in self._params.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_dict`; also accepts the YAML config form."""
        return cls(d)

    def _holds(self, name: str, chosen: Mapping[str, Any]) -> bool:
        """Whether ``name``'s condition holds, given the values of the *active* parents."""
        return all(p in chosen and _key(chosen[p]) in keys for p, keys in self._allowed[name].items())

    def _walk(self, params: Mapping[str, Any]) -> Iterator[tuple[str, bool]]:
        chosen: dict[str, Any] = {}
        for n, p in self._params.items():
            active = self._holds(n, chosen)
            if active and (n in params or isinstance(p, Fixed)):
                chosen[n] = params[n] if n in params else p.value
            yield n, active

    def is_active(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether ``name``'s condition holds given the (already chosen) ``params``.

        An inactive parent makes the child inactive; a parent missing from
        ``params`` counts as inactive, except a Fixed one (it takes its value).
        """
        _ = self[name]  # SpaceError (and KeyError) for an unknown name
        return next(active for n, active in self._walk(params) if n == name)

    def active_names(self, params: Mapping[str, Any]) -> list[str]:
        """Names (in ``names`` order) that are active given ``params``."""
        return [n for n, active in self._walk(params) if active]

    def _describe(self, name: str, chosen: Mapping[str, Any]) -> str:
        cond = self._params[name].active_if or {}
        got = ", ".join(f"{p}={chosen[p]!r}" if p in chosen else f"{p} inactive" for p in cond)
        return f"`{' and '.join(f'{p} in {list(vs)!r}' for p, vs in cond.items())}` (got {got})"

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Checks a configuration and returns it normalised.

        Returns:
            A new dict in ``names`` order with exactly the active parameters
            (missing Fixed values filled in).

        Raises:
            SpaceError: Unknown name, missing active parameter, invalid value, or
                a value given for an inactive parameter.
        """
        if not isinstance(params, Mapping):
            raise SpaceError(f"space: a configuration must be a mapping name -> value, but got {params!r}")
        unknown = [k for k in params if k not in self._params]
        if unknown:
            raise _UnknownParamError(f"space: unknown parameter(s) {unknown!r}; valid names: {list(self._names)!r}")
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            if self._holds(name, out):
                if name in params:
                    out[name] = p.validate(params[name], name)
                elif isinstance(p, Fixed):
                    out[name] = p.value
                else:
                    why = f" (its condition {self._describe(name, out)} holds)" if p.active_if else ""
                    raise SpaceError(f"space[{name!r}]: active parameter is missing{why}")
            elif name in params:
                raise SpaceError(f"space[{name!r}]: parameter is inactive since its condition "
                                 f"{self._describe(name, out)} does not hold, but got value {params[name]!r}")
        return out

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        """Draws a random valid configuration (conditions respected; a seed also works)."""
        rng = np.random.default_rng(rng)
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            if self._holds(name, out):
                out[name] = p.sample(rng)
        return out

    def encoder(self, onehot: bool = True) -> SpaceEncoder:
        """Returns a :class:`hpo.encoding.SpaceEncoder` (one-hot or index-encoded categoricals)."""
        from hpo.encoding import SpaceEncoder

        return SpaceEncoder(self, onehot=onehot)

"""Search spaces: the :class:`SearchSpace` container, conditions, validation, sampling.

A :class:`SearchSpace` maps names to :class:`Param` definitions (:class:`Float`,
:class:`Int`, :class:`Categorical`, :class:`Fixed`, defined in :mod:`hpo.params`
and re-exported here; a bare JSON scalar means ``Fixed``).
``active_if={"parent": (v1, v2)}`` makes a parameter active only when
every named parent is active and takes one of the listed values (a single scalar
means a 1-tuple). Parents must be Categorical, Int or Fixed. ``SearchSpace.names``
puts parents before children, otherwise keeps insertion order.

Values, grids and the per-parameter unit encoding (``param.encode`` /
``param.decode``): :mod:`hpo.params`. Encoding whole configurations into the unit
cube for models: :mod:`hpo.encoding` (``space.encoder()``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.conditions import JSON_TYPES, is_json_scalar, to_python, value_key
from hpo.errors import SpaceError
from hpo.params import Categorical, Fixed, Float, Int, Ordinal, Param, param_from_dict
from hpo.registry import lazy_exports

if TYPE_CHECKING:
    from hpo.encoding import SpaceEncoder

__all__ = ["Param", "Float", "Int", "Categorical", "Ordinal", "Fixed", "param_from_dict", "SearchSpace"]


# the encoder lives in hpo.encoding; re-exported here
__getattr__ = lazy_exports(__name__, {"Column": "hpo.encoding", "SpaceEncoder": "hpo.encoding"})


class _UnknownParamError(SpaceError, KeyError):
    """An unknown parameter name (a SpaceError that is also a KeyError)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _as_param(name: str, p: Any) -> Param:
    if isinstance(p, Param):
        return p
    if isinstance(p, Mapping):
        return param_from_dict(p, name)
    if is_json_scalar(to_python(p)):
        return Fixed(to_python(p))
    raise SpaceError(f"space[{name!r}]: expected a Param, a {{'type': ...}} mapping or a JSON scalar "
                     f"({JSON_TYPES}), but got {p!r} ({type(p).__name__})")


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
        self._allowed = {n: {pa: frozenset(map(value_key, vs)) for pa, vs in (p.active_if or {}).items()}
                         for n, p in self._params.items()}

    # -- growth (define-by-run studies, :mod:`hpo.define_by_run`) --------------------------
    @classmethod
    def empty(cls) -> SearchSpace:
        """The space of a define-by-run study before its first parameter (the one empty SearchSpace)."""
        space = cls.__new__(cls)
        space._names, space._params, space._allowed = (), {}, {}
        return space

    def with_param(self, name: str, param: Any) -> SearchSpace:
        """A new space with ``name`` added (a Param, mapping or scalar, as in the constructor); a name already
        there raises :class:`SpaceError` (the growth of a space never redefines a parameter)."""
        if name in self._params:
            raise SpaceError(f"space[{name!r}]: already defined as {self._params[name]!r}; got {param!r}")
        return SearchSpace({**self._params, name: param})

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
        return all(p in chosen and value_key(chosen[p]) in keys for p, keys in self._allowed[name].items())

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

    def select_active(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The configuration, in ``names`` order, of the parameters active under ``values``.

        Args:
            values: A value for every non-Fixed parameter that can become active
                (inactive ones may be left out); they are not validated.

        Returns:
            A new dict with exactly the active parameters, Fixed ones taking their
            value; conditions are evaluated on the values chosen so far.

        Raises:
            SpaceError: An active non-Fixed parameter has no value in ``values``.
        """
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            if self._holds(name, out):
                if isinstance(p, Fixed):
                    out[name] = p.value
                elif name in values:
                    out[name] = values[name]
                else:
                    raise SpaceError(f"space[{name!r}]: active parameter has no value in select_active's "
                                     f"values; got names {list(values)[:20]!r}")
        return out

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

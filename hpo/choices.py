"""Parameters that take one value of a list: :class:`Categorical` (unordered or ordinal), :func:`Ordinal`, :class:`Fixed`.

Import them from :mod:`hpo` or :mod:`hpo.space` (they are split out of :mod:`hpo.params`, whose
module docstring has the value and encoding rules of the other parameters).

Ordered or not (``Categorical.ordinal``):

* ``ordered=None`` (the default): a Categorical whose choices are all numbers (``bool`` is no
  number) is **ordinal**: batch sizes ``[16, 32, 64]``, learning rates ``[1e-4, 1e-3, 1e-2]``,
  dropout ``[0, 0.3, 0.6]``. Any other Categorical is unordered (labels).
* ``ordered=True``: ordinal; numbers are ordered by value, other choices by their listed
  position (``["small", "medium", "large"]``). ``ordered=False``: unordered labels even for
  numbers (e.g. numeric codes of unrelated options). ``Ordinal(choices, log=None)`` is
  ``Categorical(choices, ordered=True, log=log)``.
* ``log=None``: an ordinal of numbers is log-scaled when all are positive and
  ``max / min >= 10`` (one decade or more); ``log=True`` forces it (all choices must be positive
  numbers), ``log=False`` keeps the linear scale.

Unit-interval encoding (``encode`` / ``decode``):

* unordered: the index coordinate ``u = (i + 0.5) / k`` of choice ``i`` of ``k``; decoding
  ``min(floor(u * k), k - 1)``. Models see a label (``hpo.encoding`` marks the column
  ``"categorical"``; the GP uses a categorical kernel on it).
* ordinal: ``u = 0.5 / k + (1 - 1 / k) * t`` with ``t`` in [0, 1] the position of the choice on
  its scale (``(v - min) / (max - min)``, of ``log v`` when log-scaled, ``rank / (k - 1)`` for
  non-numbers; 0.5 when ``k = 1``); decoding takes the nearest coordinate. On an evenly spaced
  scale these are the cell centres ``(r + 0.5) / k`` of the ranks ``r``. Models see an ordered
  discrete dimension (column kind ``"ordinal"``).

Stored spaces: ``to_dict`` writes ``ordered`` and ``log`` only when they were given, so a space
stored before ordinals existed loads as an equal Categorical and writes the same dict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.conditions import JSON_TYPES, is_json_scalar, to_python, value_key
from hpo.errors import SpaceError
from hpo.params import Param
from hpo.validators import is_number

__all__ = ["Categorical", "Ordinal", "Fixed"]


def _check_flag(value: Any, field: str) -> bool | None:
    v = to_python(value)
    if v is not None and not isinstance(v, bool):
        raise SpaceError(f"Categorical: {field} must be True, False or None, but got {value!r}")
    return v


@dataclass(frozen=True)
class Categorical(Param):
    """One of a non-empty tuple of unique JSON scalars, unordered or ordinal (module docstring).

    Args:
        choices: the values.
        ordered: None (numbers are ordinal), True (ordinal) or False (unordered labels).
        log: None (automatic), True or False: the scale of an ordinal of numbers.
    """

    choices: Sequence[Any]  # stored as a tuple
    ordered: bool | None = None
    log: bool | None = None
    if TYPE_CHECKING:  # set in __post_init__ (frozen: through Param._set); not dataclass fields at run time
        _pos: dict[Any, int] = field(init=False)
        _ordinal: bool = field(init=False)
        _log_scale: bool = field(init=False)
        _coords: tuple[float, ...] | None = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        ch = self.choices
        if isinstance(ch, (str, bytes)) or not isinstance(ch, (Sequence, np.ndarray)):
            self._fail(f"choices must be a list of JSON scalars, but got {ch!r}")
        ch = tuple(map(to_python, ch))
        if not ch:
            self._fail("choices must not be empty, but got []")
        index: dict = {}
        for i, c in enumerate(ch):
            if not is_json_scalar(c):
                self._fail(f"choices must be JSON scalars ({JSON_TYPES}), but got {c!r} ({type(c).__name__}) at {i}")
            if value_key(c) in index:
                self._fail(f"choices must be unique, but got {ch[index[value_key(c)]]!r} and {c!r} in {list(ch)!r}")
            index[value_key(c)] = i
        ordered, log = _check_flag(self.ordered, "ordered"), _check_flag(self.log, "log")
        self._set(choices=ch, ordered=ordered, log=log, _pos=index)
        numbers = all(is_number(c) for c in ch)
        ordinal = numbers if ordered is None else ordered
        if log is not None and not ordinal:
            self._fail(f"log applies to an ordinal (ordered=True, or choices all numbers), but got log={log!r}, "
                       f"ordered={ordered!r}, choices={list(ch)[:10]!r}")
        positive = numbers and all(c > 0 for c in ch)
        if log and not positive:
            self._fail(f"log=True needs choices that are all positive numbers, but got {list(ch)[:10]!r}")
        use_log = bool(ordinal and positive and (log if log is not None else max(ch) >= 10 * min(ch)))
        coords: tuple[float, ...] | None = None
        if ordinal:
            k = len(ch)
            if numbers:
                scale = [math.log(c) if use_log else float(c) for c in ch]
                lo, span = min(scale), max(scale) - min(scale)
                t = [(s - lo) / span if span > 0 else 0.5 for s in scale]
            else:
                t = [i / (k - 1) if k > 1 else 0.5 for i in range(k)]
            coords = tuple(0.5 / k + (1.0 - 1.0 / k) * ti for ti in t)
        self._set(_ordinal=ordinal, _log_scale=use_log, _coords=coords)

    @property
    def ordinal(self) -> bool:
        """Whether the choices are modelled as an ordered dimension (module docstring)."""
        return self._ordinal

    @property
    def log_scale(self) -> bool:
        """Whether an ordinal's coordinates are log-spaced (resolved ``log``)."""
        return self._log_scale

    @property
    def coordinates(self) -> tuple[float, ...]:
        """The unit coordinate of each choice, in ``choices`` order (:meth:`encode`'s values)."""
        k = len(self.choices)
        return self._coords if self._coords is not None else tuple((i + 0.5) / k for i in range(k))

    def index(self, value: Any, name: str | None = None) -> int:
        """Position of ``value`` in ``choices`` (``1`` and ``1.0`` are one choice, ``True`` another).

        Raises:
            SpaceError: ``value`` is not a choice (``name`` appears in the message).
        """
        i = self._pos.get(value_key(value))
        if i is None:
            where = f"space[{name!r}]" if name is not None else "Categorical"
            raise SpaceError(f"{where}: value must be one of {list(self.choices)!r}, but got {value!r}")
        return i

    def validate(self, value: Any, name: str) -> Any:
        return self.choices[self.index(value, name)]

    @property
    def grid_size(self) -> int:
        return len(self.choices)

    def _at(self, i: int) -> Any:
        return self.choices[i]

    def encode(self, value: Any) -> float:
        """The choice's coordinate: ``(i + 0.5) / k`` (unordered) or its ordinal coordinate (module docstring)."""
        i = self.index(value)
        return self._coords[i] if self._coords is not None else (i + 0.5) / len(self.choices)

    def _decode_unit(self, u: np.ndarray) -> list:
        k = len(self.choices)
        if self._coords is None:
            return [self.choices[int(i)] for i in np.minimum(np.floor(u * k), k - 1)]
        order = np.argsort(self._coords)
        sorted_coords = np.asarray(self._coords)[order]
        cut = np.searchsorted((sorted_coords[1:] + sorted_coords[:-1]) / 2, u, side="right")
        return [self.choices[int(order[i])] for i in cut]

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"type": "categorical", "choices": list(self.choices)}
        out.update({k: v for k, v in (("ordered", self.ordered), ("log", self.log)) if v is not None})
        return {**out, "active_if": self._cond_json()}

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(np.random.default_rng(rng).integers(len(self.choices)))]


def Ordinal(choices: Sequence, log: bool | None = None, *, active_if: dict | None = None) -> Categorical:  # noqa: N802
    """An ordered choice: ``Categorical(choices, ordered=True, log=log)`` (see :class:`Categorical`).

    Numbers are ordered by value (log-scaled when ``log`` is True, or when None and they are
    positive and span a decade or more); other choices keep their listed order.
    """
    return Categorical(choices, ordered=True, log=log, active_if=active_if)


@dataclass(frozen=True)
class Fixed(Param):
    """A constant (a JSON scalar); it takes no column in encodings."""

    value: Any

    def __post_init__(self) -> None:
        super().__post_init__()
        if not is_json_scalar(to_python(self.value)):
            self._fail(f"value must be a JSON scalar ({JSON_TYPES}), but got {self.value!r} "
                       f"({type(self.value).__name__})")
        self._set(value=to_python(self.value))

    def validate(self, value: Any, name: str) -> Any:
        if value_key(value) is None or value_key(value) != value_key(self.value):
            raise SpaceError(f"space[{name!r}]: value must equal the fixed value {self.value!r}, but got {value!r}")
        return self.value

    def to_dict(self) -> dict:
        return {"type": "fixed", "value": self.value, "active_if": self._cond_json()}

    @property
    def grid_size(self) -> int:
        return 1

    def _at(self, i: int) -> Any:
        return self.value

    def encode(self, value: Any) -> float:
        """Always 0.5 (a Fixed takes no column in :class:`hpo.encoding.SpaceEncoder`)."""
        self.validate(value, "fixed")
        return 0.5

    def _decode_unit(self, u: np.ndarray) -> list:
        return [self.value] * len(u)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

"""Encoding configurations into the unit cube for models, and back.

:meth:`hpo.space.SearchSpace.encoder` returns a :class:`SpaceEncoder`. Columns follow
the space's ``names`` order:


* Fixed: no column.
* Float and Int: one column, ``param.encode(x)`` / ``param.decode_array(u)`` (the
  rules for linear, log and stepped parameters are in :mod:`hpo.params`).
* Ordinal Categorical (choices all numbers, or ``ordered=True``; :mod:`hpo.choices`): one
  column (kind ``"ordinal"``) with ``param.encode(x)``, the choice's place on its (log)
  scale, in both modes; decoding takes the nearest choice. It is a discrete ordered
  dimension: in ``integer_dims``, not in ``categorical_dims``.
* Unordered Categorical, ``onehot=True``: one column per choice, 1.0 for the chosen one and
  0.0 elsewhere; decoding takes the argmax (the first on ties). ``onehot=False``:
  one column, the index coordinate ``param.encode(x) = (i + 0.5) / k``; decoding
  ``min(floor(u * k), k - 1)``.
* Imputation: every column of an inactive parameter is 0.5 (the cube's centre; a
  one-hot group of 0.5s is equally far from every choice). Decoding never reads
  them, since conditions are evaluated on the decoded parents.
* Activity features (:meth:`SpaceEncoder.features`, for models that must tell an inactive
  parameter from a real value): the cube columns with every inactive parameter's columns
  set to 0.5, then one indicator column per distinct condition (``conditions``: 1.0 where
  the parameters of that condition are active, 0.0 where not), computed from the decoded
  parents, so a point the acquisition optimiser moves gets the features of the
  configuration it decodes to. Two inactive values are then identical, and an inactive
  value differs from every active one in its indicator column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from hpo.errors import SpaceError
from hpo.space import Categorical, Fixed, Int, SearchSpace

__all__ = ["Column", "SpaceEncoder"]


class Column(NamedTuple):
    """One encoding column: parameter, kind and, for one-hot columns, the choice index."""

    name: str
    kind: str  # "float" | "int" | "ordinal" | "categorical" | "onehot"
    choice: int | None = None


class SpaceEncoder:
    """Maps configurations to points of the unit cube [0, 1]^dim for models, and back.

    The rules are in the module docstring.

    Attributes:
        space: The encoded space.
        dim: Number of columns.
        columns: One :class:`Column` per column.
        bounds: Read-only array of shape (2, dim): zeros, then ones.
        integer_dims: Columns whose decoded value is discrete (Int, stepped
            Float, ordinal and index-encoded Categorical).
        categorical_dims: Index-encoded unordered Categorical columns (``onehot=False``).
        onehot_groups: unordered Categorical name -> its columns (``onehot=True``).
        conditions: one tuple of parameter names (those with columns) per indicator
            column of :meth:`features`, parameters sharing a condition together.
    """

    def __init__(self, space: SearchSpace, onehot: bool = True) -> None:
        self.space, self.onehot = space, bool(onehot)
        cols: list[Column] = []
        ints: list[int] = []
        self.onehot_groups: dict[str, tuple[int, ...]] = {}
        self._slices: dict[str, tuple[int, int]] = {}
        for name, p in space.params.items():
            start = len(cols)
            if isinstance(p, Fixed):
                continue
            if isinstance(p, Categorical) and self.onehot and not p.ordinal:
                cols += [Column(name, "onehot", j) for j in range(len(p.choices))]
                self.onehot_groups[name] = tuple(range(start, len(cols)))
            else:
                kind = {Categorical: "ordinal" if isinstance(p, Categorical) and p.ordinal else "categorical",
                        Int: "int"}.get(type(p), "float")
                cols.append(Column(name, kind))
                if kind != "float" or p.step is not None:
                    ints.append(start)
            self._slices[name] = (start, len(cols))
        self.columns, self.dim, self.integer_dims = tuple(cols), len(cols), tuple(ints)
        self.categorical_dims = tuple(i for i, c in enumerate(cols) if c.kind == "categorical")
        self.bounds = np.vstack([np.zeros(self.dim), np.ones(self.dim)])
        self.bounds.setflags(write=False)
        groups: dict[Any, list[str]] = {}
        for name in self._slices:
            if space[name].active_if is not None:
                groups.setdefault(self._condition_key(name), []).append(name)
        self.conditions: tuple[tuple[str, ...], ...] = tuple(tuple(g) for g in groups.values())

    def _condition_key(self, name: str) -> Any:
        """A hashable key equal for parameters that are active on exactly the same configurations."""
        cond = self.space[name].active_if or {}
        return tuple(sorted((parent, tuple(sorted(map(repr, values))), self._condition_key(parent))
                            for parent, values in cond.items()))

    def active(self, U: np.ndarray) -> dict[str, np.ndarray]:
        """Which parameters are active at cube points ``U`` (``n x dim``): name -> bool array (n,)."""
        from hpo.conditions import value_key

        n = U.shape[0]
        active: dict[str, np.ndarray] = {}
        decoded: dict[str, list] = {}
        for name in self.space.names:
            p = self.space[name]
            mask = np.ones(n, dtype=bool)
            for parent, values in (p.active_if or {}).items():
                allowed = {value_key(v) for v in values}
                pp = self.space[parent]
                if isinstance(pp, Fixed):
                    mask &= active[parent] & (value_key(pp.value) in allowed)
                    continue
                if parent not in decoded:
                    a, _ = self._slices[parent]
                    cols = U[:, a:self._slices[parent][1]]
                    decoded[parent] = ([pp.choices[int(i)] for i in cols.argmax(axis=1)] if parent in self.onehot_groups
                                       else pp.decode_array(np.clip(cols[:, 0], 0.0, 1.0)))
                mask &= active[parent] & np.array([value_key(v) in allowed for v in decoded[parent]])
            active[name] = mask
        return active

    def features(self, U: np.ndarray) -> np.ndarray:
        """Activity features of cube points ``U`` (``n x dim``): ``n x (dim + len(conditions))`` (module docstring)."""
        U = np.asarray(U, dtype=np.float64)
        if not self.conditions:
            return U.copy()
        act = self.active(U)
        out = U.copy()
        for name, (a, b) in self._slices.items():
            if self.space[name].active_if is not None:
                out[~act[name], a:b] = 0.5
        indicators = np.column_stack([act[group[0]] for group in self.conditions]).astype(np.float64)
        return np.hstack([out, indicators])

    @property
    def category_counts(self) -> dict[int, int]:
        """Index-encoded Categorical column -> its number of choices (what surrogates take as ``categorical``)."""
        return {j: len(self.space[self.columns[j].name].choices) for j in self.categorical_dims}

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encodes configurations, each checked by ``space.validate`` first.

        Args:
            configs: n configurations.

        Returns:
            Float64 array of shape (n, dim) with values in [0, 1]; the columns of
            inactive parameters are 0.5.
        """
        if isinstance(configs, Mapping) or not isinstance(configs, Sequence):
            raise SpaceError(f"encode: expected a sequence of configurations, but got {type(configs).__name__}")
        X = np.full((len(configs), self.dim), 0.5)
        for r, config in enumerate(configs):
            c = self.space.validate(config)
            for name, (a, b) in self._slices.items():
                p = self.space[name]
                if name not in c:
                    continue
                if name in self.onehot_groups:
                    X[r, a:b] = 0.0
                    X[r, a + p.index(c[name], name)] = 1.0
                else:
                    X[r, a] = p.encode(c[name])
        return X

    def decode(self, X: np.ndarray) -> list[dict[str, Any]]:
        """Decodes points of the cube into valid configurations.

        Args:
            X: Array of shape (n, dim), or (dim,) for one point; values are
                clipped into [0, 1] first (NaN is an error).

        Returns:
            n configurations with exactly the active parameters (Fixed included),
            each passing ``space.validate``.
        """
        U = np.asarray(X, dtype=np.float64)
        U = U.reshape(1, -1) if U.ndim == 1 else U
        if U.ndim != 2 or U.shape[1] != self.dim:
            raise SpaceError(f"decode: expected shape (n, {self.dim}) or ({self.dim},), but got {np.shape(X)}")
        if np.isnan(U).any():
            raise SpaceError(f"decode: X must not contain NaN, but got NaN in rows "
                             f"{np.flatnonzero(np.isnan(U).any(axis=1)).tolist()}")
        U = np.clip(U, 0.0, 1.0)
        values: dict[str, list] = {}
        for name, (a, b) in self._slices.items():
            p = self.space[name]
            if name in self.onehot_groups:
                values[name] = [p.choices[int(i)] for i in U[:, a:b].argmax(axis=1)]
            else:
                values[name] = p.decode_array(U[:, a])
        return [self.space.select_active({name: v[r] for name, v in values.items()}) for r in range(U.shape[0])]

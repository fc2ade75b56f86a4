"""Encoding configurations into the unit cube for models, and back.

:meth:`hpo.space.SearchSpace.encoder` returns a :class:`SpaceEncoder`. Columns follow
the space's ``names`` order:


* Fixed: no column.
* Float and Int: one column, ``param.encode(x)`` / ``param.decode_array(u)`` (the
  rules for linear, log and stepped parameters are in :mod:`hpo.params`).
* Categorical, ``onehot=True``: one column per choice, 1.0 for the chosen one and
  0.0 elsewhere; decoding takes the argmax (the first on ties). ``onehot=False``:
  one column, the index coordinate ``param.encode(x) = (i + 0.5) / k``; decoding
  ``min(floor(u * k), k - 1)``.
* Imputation: every column of an inactive parameter is 0.5 (the cube's centre; a
  one-hot group of 0.5s is equally far from every choice). Decoding never reads
  them, since conditions are evaluated on the decoded parents.
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
    kind: str  # "float" | "int" | "categorical" | "onehot"
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
            Float, index-encoded Categorical).
        categorical_dims: Index-encoded Categorical columns (``onehot=False``).
        onehot_groups: Categorical name -> its columns (``onehot=True``).
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
            if isinstance(p, Categorical) and self.onehot:
                cols += [Column(name, "onehot", j) for j in range(len(p.choices))]
                self.onehot_groups[name] = tuple(range(start, len(cols)))
            else:
                kind = {Categorical: "categorical", Int: "int"}.get(type(p), "float")
                cols.append(Column(name, kind))
                if kind != "float" or p.step is not None:
                    ints.append(start)
            self._slices[name] = (start, len(cols))
        self.columns, self.dim, self.integer_dims = tuple(cols), len(cols), tuple(ints)
        self.categorical_dims = tuple(i for i, c in enumerate(cols) if c.kind == "categorical")
        self.bounds = np.vstack([np.zeros(self.dim), np.ones(self.dim)])
        self.bounds.setflags(write=False)

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
                if isinstance(p, Categorical) and self.onehot:
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
            if isinstance(p, Categorical) and self.onehot:
                values[name] = [p.choices[int(i)] for i in U[:, a:b].argmax(axis=1)]
            else:
                values[name] = p.decode_array(U[:, a])
        return [self.space.select_active({name: v[r] for name, v in values.items()}) for r in range(U.shape[0])]

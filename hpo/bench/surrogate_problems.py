"""Problems of ``hpo bench surrogates`` (the protocol of Li, Rudner & Wilson, ICLR 2024, on our machines).

Single objective (minimised, regret against the known optimum; the tuning task against
the best value seen in the run): Branin, Hartmann-6, Ackley-10, the mixed Hartmann-3 and
the gradient-boosting tuning task of :mod:`hpo.bench.problems`, plus

* ``hartmann6-in-30d``: Hartmann-6 on 6 of 30 inputs (a fixed, seeded choice of
  columns; the other 24 do nothing), the embedded problem of high-dimensional BO;
* ``ackley50``: BoTorch's Ackley in 50-D on its default box;
* ``gramacy-lee-3d``: the non-stationary Gramacy & Lee (2012) function summed over 3
  inputs, ``sum_i sin(10 pi x_i) / (2 x_i) + (x_i - 1)^4`` on ``[0.5, 2.5]^3``: it
  wiggles fast at small ``x_i`` and is smooth at large ``x_i`` (a stationary kernel
  must pick one lengthscale for both). Its optimum is 3 times the 1-D one, found by a
  dense grid refined by golden-section search.

Several objectives (hypervolume): BraninCurrin and DTLZ2 of :mod:`hpo.bench.mo_problems`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from hpo.bench.mo_problems import MOProblem, get_mo_problem
from hpo.bench.problems import SYNTHETIC_BUDGET, Problem, get_problem
from hpo.space import Float, Param

__all__ = ["SURROGATE_PROBLEMS", "MO_NAMES", "get_surrogate_problem", "is_multi_objective", "HIGH_DIM"]

#: Every problem, in report order.
SURROGATE_PROBLEMS: tuple[str, ...] = (
    "branin", "hartmann6", "ackley10", "hartmann6-in-30d", "ackley50", "gramacy-lee-3d",
    "branin-currin", "dtlz2", "mixed-hartmann3", "hgb-breast-cancer",
)
MO_NAMES: tuple[str, ...] = ("branin-currin", "dtlz2")
#: Inputs from which a problem counts as high-dimensional (the paper's I-BNN finding).
HIGH_DIM = 20


def _embedded_hartmann(d: int = 30, seed: int = 0) -> Problem:
    import numpy as np
    import torch
    from botorch.test_functions.synthetic import Hartmann

    fn = Hartmann(dim=6)
    active = sorted(np.random.default_rng(seed).choice(d, size=6, replace=False).tolist())
    names = [f"x{i}" for i in range(d)]

    def objective(params: Mapping[str, Any]) -> float:
        x = torch.tensor([[float(params[names[i]]) for i in active]], dtype=torch.double)
        return float(fn.evaluate_true(x).item())

    best = fn.optimizers[0].tolist()
    minimiser = {n: 0.5 for n in names} | {names[i]: v for i, v in zip(active, best)}
    return Problem(name="hartmann6-in-30d", space={n: Float(0.0, 1.0) for n in names}, objective=objective,
                   optimum=objective(minimiser), budget=SYNTHETIC_BUDGET, minimiser=minimiser,
                   description=f"Hartmann-6 on inputs {active} of {d} (the rest inert), [0, 1]^{d}")


def _gramacy_lee_1d(x: float) -> float:
    return math.sin(10 * math.pi * x) / (2 * x) + (x - 1) ** 4


@functools.cache
def _gramacy_lee_min() -> tuple[float, float]:
    """(argmin, min) of the 1-D function on [0.5, 2.5]."""
    grid = [0.5 + 2.0 * i / 20000 for i in range(20001)]
    x0 = min(grid, key=_gramacy_lee_1d)
    lo, hi = max(0.5, x0 - 1e-4), min(2.5, x0 + 1e-4)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        lo, hi = (lo, b) if _gramacy_lee_1d(a) < _gramacy_lee_1d(b) else (a, hi)
    x = (lo + hi) / 2
    return x, _gramacy_lee_1d(x)


def _gramacy_lee(d: int = 3) -> Problem:
    names = [f"x{i}" for i in range(d)]
    space: dict[str, Param] = {n: Float(0.5, 2.5) for n in names}
    x_star, f_star = _gramacy_lee_min()

    def objective(params: Mapping[str, Any]) -> float:
        return sum(_gramacy_lee_1d(float(params[n])) for n in names)

    return Problem(name=f"gramacy-lee-{d}d", space=space, objective=objective, optimum=d * f_star,
                   budget=SYNTHETIC_BUDGET, minimiser={n: x_star for n in names},
                   description=f"Gramacy & Lee (2012) summed over {d} inputs on [0.5, 2.5]^{d} (non-stationary)")


def _ackley50() -> Problem:
    from hpo.bench.problems import _botorch_problem

    return _botorch_problem("ackley50", "Ackley", dim=50)


_OWN: dict[str, Callable[[], Problem]] = {
    "hartmann6-in-30d": _embedded_hartmann,
    "ackley50": _ackley50,
    "gramacy-lee-3d": _gramacy_lee,
}


def is_multi_objective(name: str) -> bool:
    return name in MO_NAMES


@functools.cache
def get_surrogate_problem(name: str) -> Problem | MOProblem:
    """The problem called ``name`` (one of :data:`SURROGATE_PROBLEMS`), built once per process."""
    from hpo.errors import UnknownNameError

    if name not in SURROGATE_PROBLEMS:
        raise UnknownNameError(f"bench surrogates: unknown problem {name!r}; valid: {list(SURROGATE_PROBLEMS)}")
    if name in MO_NAMES:
        return get_mo_problem(name)
    return _OWN[name]() if name in _OWN else get_problem(name)

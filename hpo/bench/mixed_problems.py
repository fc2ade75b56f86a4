"""Mixed, categorical, integer and conditional problems of ``hpo bench samplers`` (issue 23).

Every problem is minimised and knows its optimum:

* ``tabular-mlp``: a lookup table (``hpo/bench/data/mlp_cancer_table.csv``, made by
  ``benchmarks/make_mlp_table.py``: scikit-learn's ``MLPClassifier`` trained on a fixed split of
  ``load_breast_cancer`` for every configuration of a grid of 9 list-valued hyperparameters,
  1728 rows, validation log-loss). All 9 parameters are ``Categorical`` lists as a user would
  write them: numbers become ordinals automatically, ``activation`` and ``solver`` are labels.
* ``conditional-3way``: ``model`` in {quad, branin, hartmann3} picks which of three groups of
  continuous parameters is active (2, 2 and 3 of them, ``active_if``) plus a shared ``s``.
* ``cat20-hartmann3``: Hartmann-3 whose input is shifted by a per-category offset, plus a
  per-category penalty, for a 20-way categorical (seeded offsets and penalties; category
  ``c00`` holds the optimum).
* ``int-quadratic6``: a convex quadratic with interactions over 6 integers (4 to 64 values, two
  log-scaled), its minimum on the grid.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hpo.bench.problems import Problem
from hpo.space import Categorical, Float, Int, Param

__all__ = ["MIXED_FACTORIES", "TABLE_PATH"]

TABLE_PATH = Path(__file__).resolve().parent / "data" / "mlp_cancer_table.csv"
MIXED_BUDGET = 40
#: Regret of the table lookup is floored at 1e-4 (differences below it are ties of the table).
TABLE_FLOOR = 1e-4


@functools.cache
def _table() -> tuple[list[str], dict[tuple, float], dict[str, list]]:
    with TABLE_PATH.open() as f:
        rows = list(csv.reader(f))
    names, body = rows[0][:-1], rows[1:]

    def parse(v: str) -> Any:
        try:
            x = float(v)
        except ValueError:
            return v
        return int(x) if x.is_integer() and "." not in v and "e" not in v else x

    table: dict[tuple, float] = {}
    choices: dict[str, list] = {n: [] for n in names}
    for row in body:
        values = tuple(parse(v) for v in row[:-1])
        table[values] = float(row[-1])
        for n, v in zip(names, values):
            if v not in choices[n]:
                choices[n].append(v)
    return names, table, choices


def _tabular_problem(budget: int = MIXED_BUDGET) -> Problem:
    names, table, choices = _table()
    space: dict[str, Param] = {n: Categorical(choices[n]) for n in names}

    def objective(params: Mapping[str, Any]) -> float:
        return table[tuple(params[n] for n in names)]

    best = min(table, key=table.__getitem__)
    return Problem(
        name="tabular-mlp", space=space, objective=objective, optimum=table[best], budget=budget,
        description=f"lookup table of MLPClassifier on load_breast_cancer, validation log-loss, 9 list-valued "
        f"hyperparameters ({len(table)} configurations)",
        minimiser=dict(zip(names, best)), regret_floor=TABLE_FLOOR,
    )


def _conditional_problem(budget: int = MIXED_BUDGET) -> Problem:
    import torch
    from botorch.test_functions.synthetic import Branin, Hartmann

    branin, h3 = Branin(), Hartmann(dim=3)
    space: dict[str, Param] = {
        "model": Categorical(["quad", "branin", "hartmann3"]),
        "s": Float(0.0, 1.0),
        "q0": Float(-1.0, 1.0, active_if={"model": "quad"}),
        "q1": Float(-1.0, 1.0, active_if={"model": "quad"}),
        "b0": Float(-5.0, 10.0, active_if={"model": "branin"}),
        "b1": Float(0.0, 15.0, active_if={"model": "branin"}),
        "h0": Float(0.0, 1.0, active_if={"model": "hartmann3"}),
        "h1": Float(0.0, 1.0, active_if={"model": "hartmann3"}),
        "h2": Float(0.0, 1.0, active_if={"model": "hartmann3"}),
    }

    def objective(p: Mapping[str, Any]) -> float:
        shared = (p["s"] - 0.3) ** 2
        if p["model"] == "quad":  # minimum -1.5 at (0.4, -0.2)
            return float(-1.5 + 2 * ((p["q0"] - 0.4) ** 2 + (p["q1"] + 0.2) ** 2) + shared)
        if p["model"] == "branin":  # minimum 0.398 - 2.5 = -2.10
            return float(branin.evaluate_true(torch.tensor([[p["b0"], p["b1"]]], dtype=torch.double)).item()
                         - 2.5 + shared)
        x = torch.tensor([[p["h0"], p["h1"], p["h2"]]], dtype=torch.double)  # minimum -3.86 + 1 = -2.86
        return float(h3.evaluate_true(x).item() + 1.0 + shared)

    opt = dict(zip(["h0", "h1", "h2"], h3.optimizers[0].tolist()))
    minimiser: dict[str, Any] = {"model": "hartmann3", "s": 0.3, **opt}
    return Problem(
        name="conditional-3way", space=space, objective=objective, optimum=objective(minimiser), budget=budget,
        description="model in {quad, branin, hartmann3} activates 2, 2 or 3 continuous parameters (active_if), "
        "plus a shared s; best branch hartmann3 (-2.86) against branin (-2.10) and quad (-1.5)",
        minimiser=minimiser,
    )


def _cat20_problem(budget: int = MIXED_BUDGET) -> Problem:
    import torch
    from botorch.test_functions.synthetic import Hartmann

    h3 = Hartmann(dim=3)
    rng = np.random.default_rng(20)
    labels = [f"c{i:02d}" for i in range(20)]
    shifts = {c: (np.zeros(3) if i == 0 else rng.uniform(-0.3, 0.3, 3)) for i, c in enumerate(labels)}
    penalty = {c: (0.0 if i == 0 else float(rng.uniform(0.2, 2.0))) for i, c in enumerate(labels)}
    space: dict[str, Param] = {"c": Categorical(labels), **{f"x{i}": Float(0.0, 1.0) for i in range(3)}}

    def objective(p: Mapping[str, Any]) -> float:
        x = np.clip(np.array([p["x0"], p["x1"], p["x2"]]) + shifts[p["c"]], 0.0, 1.0)
        return float(h3.evaluate_true(torch.tensor([x.tolist()], dtype=torch.double)).item() + penalty[p["c"]])

    minimiser: dict[str, Any] = {"c": "c00", **{f"x{i}": float(v) for i, v in enumerate(h3.optimizers[0].tolist())}}
    return Problem(
        name="cat20-hartmann3", space=space, objective=objective, optimum=objective(minimiser), budget=budget,
        description="Hartmann-3 on [0, 1]^3 shifted by a per-category offset, plus a per-category penalty "
        "(0.2-2), for a 20-way categorical c (c00: no shift, no penalty)",
        minimiser=minimiser,
    )


#: int-quadratic6: (name, Int, optimum value on the grid).
_INTS: tuple[tuple[str, Int, int], ...] = (
    ("layers", Int(1, 4), 3),
    ("heads", Int(1, 8), 2),
    ("depth", Int(2, 16), 11),
    ("width", Int(8, 512, log=True), 96),
    ("epochs", Int(1, 64, log=True), 24),
    ("warmup", Int(0, 50, step=5), 15),
)


def _int_problem(budget: int = MIXED_BUDGET) -> Problem:
    names = [n for n, _, _ in _INTS]
    target = np.array([p.encode(v) for _, p, v in _INTS])
    weights = np.array([4.0, 2.0, 3.0, 3.0, 2.0, 1.0])
    space: dict[str, Param] = {n: p for n, p, _ in _INTS}

    def objective(params: Mapping[str, Any]) -> float:
        t = np.array([space[n].encode(params[n]) for n in names]) - target
        return float(np.sum(weights * t ** 2) + 2.0 * t[0] * t[3] + 1.5 * t[2] * t[4] - 1.0)

    minimiser = {n: v for n, _, v in _INTS}
    return Problem(
        name="int-quadratic6", space=space, objective=objective, optimum=objective(minimiser), budget=budget,
        description="convex quadratic with interactions over 6 integers (layers 1-4, heads 1-8, depth 2-16, "
        "width 8-512 log, epochs 1-64 log, warmup 0-50 step 5), in the unit encoding; minimum -1 on the grid",
        minimiser=minimiser,
    )


MIXED_FACTORIES = {
    "tabular-mlp": _tabular_problem,
    "conditional-3way": _conditional_problem,
    "cat20-hartmann3": _cat20_problem,
    "int-quadratic6": _int_problem,
}

"""Problems of ``hpo bench multiobjective``: four test functions from ``botorch.test_functions``
and one small tuning task, every objective minimised.

* ``branin-currin``: :class:`~botorch.test_functions.multi_objective.BraninCurrin` (2-D, 2 objectives).
* ``dtlz2``: :class:`~botorch.test_functions.multi_objective.DTLZ2` (6-D, 3 objectives).
* ``dtlz2-4``: the same with 4 objectives (7-D).
* ``zdt1``: :class:`~botorch.test_functions.multi_objective.ZDT1` (4-D, 2 objectives).
* ``c2dtlz2``: :class:`~botorch.test_functions.multi_objective.C2DTLZ2` (6-D, 2 objectives, one
  outcome constraint: BoTorch's slack ``>= 0``).
* ``mlp-digits``: a torch MLP on scikit-learn's digits (fixed train/validation split, fixed
  initialisation seed, one thread, so deterministic): validation error vs log10 of the
  parameter count.

Each problem states its reference point (BoTorch's for the test functions) and the best
known hypervolume: BoTorch's ``max_hv`` for the test functions (DTLZ2: exact,
``1.1^k`` minus the volume of the unit ball's positive orthant: ``1.1^3 - pi/6``,
``1.1^4 - pi^2/32``), and for the tuning task none (the report takes the hypervolume of the
union of every run's final front).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo.space import Float, Int, Param

__all__ = ["MOProblem", "MOProblemInfo", "MO_PROBLEM_NAMES", "get_mo_problem", "MO_BUDGET"]

MO_BUDGET = 60


@dataclass(frozen=True)
class MOProblemInfo:
    """What the report needs about a problem (picklable, no objective)."""

    name: str
    description: str
    dim: int
    budget: int
    objectives: tuple[str, ...]
    constraints: dict[str, tuple[str, float]]
    ref_point: tuple[float, ...]
    max_hv: float | None


@dataclass(frozen=True)
class MOProblem:
    """A multi-objective minimisation problem: ``evaluate(params)`` returns objectives and constraints by name."""

    name: str
    description: str
    space: Mapping[str, Param]
    objectives: tuple[str, ...]
    evaluate: Callable[[dict[str, Any]], dict[str, float]]
    ref_point: tuple[float, ...]
    max_hv: float | None
    constraints: dict[str, tuple[str, float]] = field(default_factory=dict)
    budget: int = MO_BUDGET

    def info(self, budget: int | None = None) -> MOProblemInfo:
        return MOProblemInfo(self.name, self.description, len(self.space), budget or self.budget, self.objectives,
                             dict(self.constraints), self.ref_point, self.max_hv)


def _botorch(name: str, fn: Any, description: str, max_hv: float | None = None) -> MOProblem:
    import torch

    d, k = fn.dim, fn.num_objectives
    names = tuple(f"f{j + 1}" for j in range(k))
    constrained = getattr(fn, "num_constraints", 0) > 0

    def evaluate(params: dict[str, Any]) -> dict[str, float]:
        x = torch.tensor([[params[f"x{i}"] for i in range(d)]], dtype=torch.float64)
        out = dict(zip(names, map(float, fn(x)[0])))
        if constrained:
            out["slack"] = float(fn.evaluate_slack_true(x)[0, 0])
        return out

    space = {f"x{i}": Float(float(lo), float(hi)) for i, (lo, hi) in enumerate(fn.bounds.T.tolist())}
    return MOProblem(name, description, space, names, evaluate, tuple(map(float, fn.ref_point.tolist())),
                     float(max_hv if max_hv is not None else fn.max_hv),
                     constraints={"slack": (">=", 0.0)} if constrained else {})


# -- the tuning task -------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _digits() -> tuple[Any, Any, Any, Any]:
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32) / 16.0
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.33, random_state=0, stratify=y)
    return torch.from_numpy(Xtr), torch.from_numpy(ytr), torch.from_numpy(Xva), torch.from_numpy(yva)


MLP_EPOCHS = 8
MLP_BATCH = 128


def mlp_digits(params: dict[str, Any]) -> dict[str, float]:
    """Train the MLP (Adam, ``MLP_EPOCHS`` epochs, batch ``MLP_BATCH``); validation error and log10(parameters)."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    Xtr, ytr, Xva, yva = _digits()
    width, depth = int(params["width"]), int(params["layers"])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        layers: list[nn.Module] = []
        n_in = Xtr.shape[1]
        for _ in range(depth):
            layers += [nn.Linear(n_in, width), nn.ReLU()]
            n_in = width
        net = nn.Sequential(*layers, nn.Linear(n_in, 10))
        opt = torch.optim.Adam(net.parameters(), lr=float(params["lr"]))
        gen = torch.Generator().manual_seed(0)
        for _ in range(MLP_EPOCHS):
            perm = torch.randperm(len(Xtr), generator=gen)
            for start in range(0, len(Xtr), MLP_BATCH):
                idx = perm[start:start + MLP_BATCH]
                opt.zero_grad()
                nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx]).backward()
                opt.step()
        with torch.no_grad():
            error = float((net(Xva).argmax(-1) != yva).float().mean())
    n_params = sum(p.numel() for p in net.parameters())
    return {"error": error, "log10_params": math.log10(n_params)}


def _mlp() -> MOProblem:
    space = {"width": Int(4, 256, log=True), "layers": Int(1, 3), "lr": Float(1e-4, 0.3, log=True)}
    return MOProblem(
        "mlp-digits",
        f"torch MLP on sklearn digits ({MLP_EPOCHS} epochs): validation error vs log10(parameters)",
        space, ("error", "log10_params"), mlp_digits, ref_point=(1.0, 5.5), max_hv=None,
    )


def _problems() -> dict[str, Callable[[], MOProblem]]:
    from botorch.test_functions.multi_objective import C2DTLZ2, DTLZ2, ZDT1, BraninCurrin

    return {
        "branin-currin": lambda: _botorch("branin-currin", BraninCurrin(), "BraninCurrin (botorch), 2 objectives"),
        "dtlz2": lambda: _botorch("dtlz2", DTLZ2(dim=6, num_objectives=3), "DTLZ2 (botorch), 3 objectives",
                                  max_hv=1.1**3 - math.pi / 6),
        "dtlz2-4": lambda: _botorch("dtlz2-4", DTLZ2(dim=7, num_objectives=4), "DTLZ2 (botorch), 4 objectives",
                                    max_hv=1.1**4 - math.pi**2 / 32),
        "zdt1": lambda: _botorch("zdt1", ZDT1(dim=4), "ZDT1 (botorch), 2 objectives"),
        "c2dtlz2": lambda: _botorch("c2dtlz2", C2DTLZ2(dim=6, num_objectives=2),
                                    "C2DTLZ2 (botorch), 2 objectives, 1 constraint (slack >= 0)"),
        "mlp-digits": _mlp,
    }


MO_PROBLEM_NAMES = ("branin-currin", "dtlz2", "dtlz2-4", "zdt1", "c2dtlz2", "mlp-digits")


@functools.cache
def get_mo_problem(name: str) -> MOProblem:
    """The problem called ``name`` (one of :data:`MO_PROBLEM_NAMES`)."""
    from hpo.errors import UnknownNameError

    if name not in MO_PROBLEM_NAMES:
        raise UnknownNameError(f"bench multiobjective: unknown problem {name!r}; valid: {list(MO_PROBLEM_NAMES)}")
    return _problems()[name]()

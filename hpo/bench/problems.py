"""Benchmark problems for ``hpo bench samplers``: test functions, two small tuning tasks and the mixed ones.

Every problem is minimised. The synthetic ones wrap ``botorch.test_functions``
(noise-free, on BoTorch's default boxes, Ackley included: ``[-32.768, 32.768]^10``)
and know their optimum, computed by evaluating BoTorch's known minimisers (more
precise than the rounded ``optimal_value`` constants, so regret never goes below 0).
The two tuning tasks (a gradient-boosting and a neural-network classifier on data
sets that ship with scikit-learn, 3-fold cross-validated with fixed splits and
fixed model seeds, so deterministic) have no known optimum (``optimum=None``):
their regret is taken against the best value seen in the benchmark run.

The mixed, categorical, integer and conditional problems (``MIXED_PROBLEMS``) are in
:mod:`hpo.bench.mixed_problems`.

Problems are built by name (:func:`get_problem`) so that worker processes can
rebuild them instead of receiving closures.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo.space import Categorical, Float, Int, Param

__all__ = ["Problem", "ProblemInfo", "PROBLEM_NAMES", "MIXED_PROBLEMS", "ALL_PROBLEMS", "SYNTHETIC_BUDGET", "REAL_BUDGET",
           "get_problem", "problem_names"]

SYNTHETIC_BUDGET = 60
REAL_BUDGET = 30
#: Regret below this counts as solved (log10 regret is floored there).
SYNTHETIC_FLOOR = 1e-8
#: Cross-validated scores resolve differences of about 1e-3 (1 of ~600 samples); regret
#: is floored at 1e-4 on the tuning tasks (the run's best value has regret 0).
REAL_FLOOR = 1e-4


@dataclass(frozen=True)
class ProblemInfo:
    """What the report needs to know about a problem (picklable, no objective)."""

    name: str
    description: str
    dim: int
    budget: int
    optimum: float | None
    regret_floor: float = SYNTHETIC_FLOOR


@dataclass(frozen=True)
class Problem:
    """A minimisation problem for the sampler benchmark.

    Attributes:
        name: short identifier (also the study-name prefix).
        space: an hpo search space (name -> parameter).
        objective: params -> value to minimise.
        optimum: the global minimum value, or None when unknown (tuning tasks).
        budget: evaluations per run.
        description: one line for the report.
        minimiser: a configuration attaining ``optimum`` (None when unknown).
        regret_floor: regret is clipped at this value before taking log10.
    """

    name: str
    space: dict[str, Param]
    objective: Callable[[Mapping[str, Any]], float] = field(repr=False)
    optimum: float | None
    budget: int
    description: str
    minimiser: dict[str, Any] | None = None
    regret_floor: float = SYNTHETIC_FLOOR

    @property
    def dim(self) -> int:
        return len(self.space)

    def info(self, budget: int | None = None) -> ProblemInfo:
        """The problem's description for the report (``budget`` overrides the default one)."""
        return ProblemInfo(
            self.name, self.description, self.dim, budget or self.budget, self.optimum, self.regret_floor
        )


# -- synthetic test functions ------------------------------------------------------
def _botorch_problem(name: str, cls_name: str, budget: int = SYNTHETIC_BUDGET, **kwargs: Any) -> Problem:
    """A BoTorch test function on its default box, parameters ``x0 .. x{d-1}``."""
    import torch
    from botorch.test_functions import synthetic

    fn = getattr(synthetic, cls_name)(**kwargs)
    bounds = fn.bounds.tolist()
    names = [f"x{i}" for i in range(fn.dim)]
    space: dict[str, Param] = {n: Float(lo, hi) for n, lo, hi in zip(names, bounds[0], bounds[1])}

    def objective(params: Mapping[str, Any]) -> float:
        x = torch.tensor([[float(params[n]) for n in names]], dtype=torch.double)
        return float(fn.evaluate_true(x).item())

    values = fn.evaluate_true(fn.optimizers)
    best = int(values.argmin())
    minimiser = {n: float(v) for n, v in zip(names, fn.optimizers[best].tolist())}
    boxes = list(zip(bounds[0], bounds[1]))
    if len(set(boxes)) == 1:
        box = f"[{boxes[0][0]:g}, {boxes[0][1]:g}]^{fn.dim}"
    else:
        box = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in boxes)
    return Problem(
        name=name,
        space=space,
        objective=objective,
        optimum=float(values[best]),
        budget=budget,
        description=f"BoTorch {cls_name}, {fn.dim}-D on {box}",
        minimiser=minimiser,
    )


#: Mixed problem: choice -> (transform of x, multiplier, offset) applied to Hartmann-3.
_MIXED_CHOICES: dict[str, tuple[str, float, float]] = {
    "a": ("identity", 1.0, 0.0),  # the global optimum
    "b": ("mirror", 1.0, 0.5),  # H3(1 - x) + 0.5: a deceptive optimum elsewhere (-3.36)
    "c": ("identity", 0.5, 0.0),  # 0.5 * H3(x): same place, half as deep (-1.93)
    "d": ("reverse", 1.0, 1.0),  # H3(x2, x1, x0) + 1.0 (-2.86)
}


def _mixed_problem(budget: int = SYNTHETIC_BUDGET) -> Problem:
    """Hartmann-3 plus a 4-way categorical that mirrors, permutes, scales or shifts it."""
    import torch
    from botorch.test_functions.synthetic import Hartmann

    h3 = Hartmann(dim=3)
    names = ["x0", "x1", "x2"]
    space: dict[str, Param] = {n: Float(0.0, 1.0) for n in names}
    space["c"] = Categorical(list(_MIXED_CHOICES))

    def objective(params: Mapping[str, Any]) -> float:
        transform, scale, offset = _MIXED_CHOICES[params["c"]]
        x = [float(params[n]) for n in names]
        if transform == "mirror":
            x = [1.0 - v for v in x]
        elif transform == "reverse":
            x = x[::-1]
        value = h3.evaluate_true(torch.tensor([x], dtype=torch.double)).item()
        return float(scale * value + offset)

    minimiser: dict[str, Any] = {n: float(v) for n, v in zip(names, h3.optimizers[0].tolist())}
    minimiser["c"] = "a"
    return Problem(
        name="mixed-hartmann3",
        space=space,
        objective=objective,
        optimum=objective(minimiser),
        budget=budget,
        description="Hartmann-3 on [0, 1]^3 plus a categorical c in {a, b, c, d}: a = H3(x), "
        "b = H3(1 - x) + 0.5, c = 0.5 H3(x), d = H3(reversed x) + 1",
        minimiser=minimiser,
    )


# -- tuning tasks on scikit-learn data sets -----------------------------------------
@functools.cache
def _dataset(name: str) -> tuple[Any, Any]:
    from sklearn import datasets

    return getattr(datasets, name)(return_X_y=True)


def _cv() -> Any:
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=3, shuffle=True, random_state=0)


def _hgb_problem(budget: int = REAL_BUDGET) -> Problem:
    """HistGradientBoosting on breast cancer, 3-fold CV log-loss (~0.05-0.3 s per evaluation)."""
    space: dict[str, Param] = {
        "learning_rate": Float(0.01, 1.0, log=True),
        "max_iter": Int(10, 100),
        "max_leaf_nodes": Int(4, 64, log=True),
        "min_samples_leaf": Int(2, 64, log=True),
        "l2_regularization": Float(1e-6, 10.0, log=True),
    }

    def objective(params: Mapping[str, Any]) -> float:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import cross_val_score
        from threadpoolctl import threadpool_limits

        X, y = _dataset("load_breast_cancer")
        model = HistGradientBoostingClassifier(early_stopping=False, random_state=0, **params)
        with threadpool_limits(1):  # OpenMP over 2 shared cores is many times slower than 1 thread
            return float(-cross_val_score(model, X, y, cv=_cv(), scoring="neg_log_loss").mean())

    return Problem(
        name="hgb-breast-cancer",
        space=space,
        objective=objective,
        optimum=None,
        budget=budget,
        description="HistGradientBoostingClassifier on load_breast_cancer (569 x 30), "
        "3-fold CV log-loss, 5 hyperparameters",
        regret_floor=REAL_FLOOR,
    )


def _mlp_problem(budget: int = REAL_BUDGET) -> Problem:
    """MLPClassifier on digits, 3-fold CV error (~0.2-2 s per evaluation, 1 thread)."""
    space: dict[str, Param] = {
        "hidden_units": Int(16, 128, log=True),
        "alpha": Float(1e-6, 1e-1, log=True),
        "learning_rate_init": Float(1e-4, 1e-1, log=True),
        "batch_size": Int(32, 256, log=True),
        "activation": Categorical(["relu", "tanh", "logistic"]),
    }

    def objective(params: Mapping[str, Any]) -> float:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import cross_val_score
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        X, y = _dataset("load_digits")
        opts = dict(params)
        model = make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(opts.pop("hidden_units"),), max_iter=20, random_state=0, **opts),
        )
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            return float(1.0 - cross_val_score(model, X, y, cv=_cv(), scoring="accuracy").mean())

    return Problem(
        name="mlp-digits",
        space=space,
        objective=objective,
        optimum=None,
        budget=budget,
        description="MLPClassifier (1 hidden layer, 20 epochs) on load_digits (1797 x 64), "
        "3-fold CV error (1 - accuracy), 5 hyperparameters",
        regret_floor=REAL_FLOOR,
    )


_FACTORIES: dict[str, Callable[[], Problem]] = {
    "branin": lambda: _botorch_problem("branin", "Branin"),
    "hartmann6": lambda: _botorch_problem("hartmann6", "Hartmann", dim=6),
    "ackley10": lambda: _botorch_problem("ackley10", "Ackley", dim=10),
    "levy4": lambda: _botorch_problem("levy4", "Levy", dim=4),
    "rosenbrock6": lambda: _botorch_problem("rosenbrock6", "Rosenbrock", dim=6),
    "styblinskitang8": lambda: _botorch_problem("styblinskitang8", "StyblinskiTang", dim=8),
    "mixed-hartmann3": _mixed_problem,
    "hgb-breast-cancer": _hgb_problem,
    "mlp-digits": _mlp_problem,
}
#: The original nine problems (test functions, mixed-hartmann3, the two tuning tasks), in report order.
PROBLEM_NAMES: tuple[str, ...] = tuple(_FACTORIES)

from hpo.bench.mixed_problems import MIXED_FACTORIES  # noqa: E402  (it imports Problem from here)

#: The mixed, categorical, integer and conditional problems (:mod:`hpo.bench.mixed_problems`).
MIXED_PROBLEMS: tuple[str, ...] = tuple(MIXED_FACTORIES)
_FACTORIES.update(MIXED_FACTORIES)
#: Every problem of the full run, in report order.
ALL_PROBLEMS: tuple[str, ...] = PROBLEM_NAMES + MIXED_PROBLEMS


def problem_names() -> list[str]:
    return list(ALL_PROBLEMS)


@functools.cache
def get_problem(name: str) -> Problem:
    """The problem called ``name`` (built once per process)."""
    from hpo.errors import UnknownNameError

    factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownNameError(f"bench samplers: unknown problem {name!r}; valid: {problem_names()}")
    return factory()

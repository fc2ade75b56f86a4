"""Learning-curve problems: :class:`CurveProblem` and those of ``hpo bench fidelity``.

A :class:`CurveProblem` knows, for any configuration, the loss after every step of
training and how many (simulated) seconds each step takes; it may be synthetic or a
table of measured curves. Called as an objective it runs for real (reporting each
step); :class:`hpo.execution.SimulatedExecutor` plays it on a simulated clock.

- ``augmented-branin`` / ``augmented-hartmann``: BoTorch's multi-fidelity test
  functions; the budget ``b`` in 1..27 steps is the fidelity ``s = (b - 1) / 26``
  (``s = 1`` is the target), and a run to ``b`` costs ``b`` steps.
- ``synthetic-curves``: :class:`SyntheticCurves` (4 parameters,
  1..81 epochs, crossing saturating curves).
- ``mlp-digits``: a real task: a torch MLP trained with Adam on scikit-learn's
  digits (1,200 training, 597 validation images), epochs 1..27 as fidelity,
  validation error as the loss. Each configuration is trained once, lazily:
  the model is kept and trained further when a larger step is asked for, so a
  scheduler that stops a run early never pays for its remaining epochs.
"""

from __future__ import annotations

import math
import zlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hpo.fidelity import Fidelity
from hpo.space import Float, Int, SearchSpace

if TYPE_CHECKING:
    from hpo.trial import Trial

__all__ = [
    "get_curve_problem", "report_steps", "CURVE_PROBLEMS", "BotorchCurves", "CurveProblem", "MLPDigitsCurves",
    "SyntheticCurves",
]


def report_steps(fidelity: Fidelity, start: float, budget: float, n_grid: int = 32) -> list[float]:
    """The steps at which a trial trained from ``start`` to ``budget`` reports: every whole
    step for an integer fidelity, else a grid of ``n_grid`` levels over the fidelity's range
    (plus ``budget``)."""
    if fidelity.integer:
        first = max(int(math.floor(start)) + 1, int(fidelity.min))
        return [float(s) for s in range(first, int(budget) + 1)]
    grid = [fidelity.from_unit(u) for u in np.linspace(0.0, 1.0, n_grid)]
    steps = sorted({g for g in grid if start < g < budget} | {float(budget)})
    return steps


class CurveProblem(ABC):
    """A problem with learning curves: the loss after each step, and each step's time.

    Subclasses set ``space`` and ``fidelity`` and implement :meth:`loss`; the
    study minimises the loss (reported under the study's first objective's name).
    """

    name: ClassVar[str] = "curves"
    space: SearchSpace
    fidelity: Fidelity

    @abstractmethod
    def loss(self, params: dict[str, Any], step: float) -> float:
        """The loss of ``params`` after training to ``step`` (the value that would be reported)."""

    def step_time(self, params: dict[str, Any], step: float) -> float:
        """Simulated seconds per fidelity unit of training around ``step`` (default 1)."""
        return 1.0

    def optimum(self) -> float | None:
        """The best loss at the target fidelity, when known (for regret)."""
        return None

    def __call__(self, trial: Trial) -> float:
        """Run the problem for real (without simulated time): report each step, honour stops."""
        from hpo.errors import TrialPruned

        loss = math.nan
        for step in report_steps(self.fidelity, trial.start_step, trial.budget):
            loss = self.loss(trial.params, step)
            trial.report(step, loss)
            if trial.should_stop():
                raise TrialPruned()
        return loss


class SyntheticCurves(CurveProblem):
    """Exponentially saturating curves whose final loss is a 4-dimensional function.

    ``loss(x, t) = final(x) + (start - final(x)) * exp(-t / tau(x))`` with ``final``
    a shifted Hartmann-4-like bowl mixture and ``tau`` depending on the learning rate
    parameter, so that fast starters are not always the best finishers (curves
    cross). Steps are epochs 1..81; an epoch takes ``0.5 + width`` simulated seconds.
    """

    name: ClassVar[str] = "synthetic-curves"

    def __init__(self, seed: int = 0) -> None:
        self.space = SearchSpace({
            "lr": Float(1e-4, 1e-1, log=True),
            "width": Float(0.0, 1.0),
            "dropout": Float(0.0, 0.8),
            "decay": Float(1e-6, 1e-2, log=True),
        })
        self.fidelity = Fidelity("epochs", 1, 81)
        rng = np.random.default_rng(seed)
        self._centres = rng.uniform(0.15, 0.85, size=(4, 4))
        self._depths = np.array([1.0, 0.8, 0.6, 0.4])
        self._widths = rng.uniform(0.15, 0.35, size=4)

    def _unit(self, params: dict[str, Any]) -> np.ndarray:
        encoder = self.space.encoder(onehot=False)
        return encoder.encode([params])[0]

    def final(self, params: dict[str, Any]) -> float:
        u = self._unit(params)
        d2 = ((u[None, :] - self._centres) ** 2).sum(axis=1) / self._widths**2
        return float(1.0 - (self._depths * np.exp(-d2)).sum())

    def loss(self, params: dict[str, Any], step: float) -> float:
        u = self._unit(params)
        tau = 2.0 + 40.0 * (1.0 - u[0]) ** 2  # small learning rates learn slowly
        start = 2.0
        return self.final(params) + (start - self.final(params)) * math.exp(-step / tau)

    def step_time(self, params: dict[str, Any], step: float) -> float:
        return 0.5 + float(params["width"])

    def optimum(self) -> float:
        from scipy.optimize import minimize

        encoder = self.space.encoder(onehot=False)
        best = math.inf
        for centre in self._centres:
            res = minimize(lambda u: self.final(encoder.decode(np.clip(u, 0, 1)[None, :])[0]), centre,
                           method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9})
            best = min(best, float(res.fun))
        return best


class BotorchCurves(CurveProblem):
    """A BoTorch multi-fidelity function whose last input is the fidelity ``s`` in [0, 1]."""

    def __init__(self, name: str, function: Any, bounds: list[tuple[float, float]], optimum: float) -> None:
        self.name = name  # type: ignore[misc]
        self._function = function
        self.space = SearchSpace({f"x{i}": Float(lo, hi) for i, (lo, hi) in enumerate(bounds)})
        self.fidelity = Fidelity("steps", 1, 27)
        self._optimum = optimum

    def loss(self, params: dict[str, Any], step: float) -> float:
        import torch

        s = (step - self.fidelity.min) / (self.fidelity.max - self.fidelity.min)
        x = [params[f"x{i}"] for i in range(len(self.space.names))] + [s]
        with torch.no_grad():
            return float(self._function(torch.tensor([x], dtype=torch.float64))[0])

    def optimum(self) -> float:
        return self._optimum


def _branin() -> BotorchCurves:
    from botorch.test_functions.multi_fidelity import AugmentedBranin

    return BotorchCurves("augmented-branin", AugmentedBranin(), [(-5.0, 10.0), (0.0, 15.0)], 0.397887)


def _hartmann() -> BotorchCurves:
    from botorch.test_functions.multi_fidelity import AugmentedHartmann

    return BotorchCurves("augmented-hartmann", AugmentedHartmann(), [(0.0, 1.0)] * 6, -3.32237)


class MLPDigitsCurves(CurveProblem):
    """A torch MLP on scikit-learn's digits; loss = validation error after ``step`` epochs."""

    name: ClassVar[str] = "mlp-digits"

    def __init__(self) -> None:
        self.space = SearchSpace({
            "lr": Float(1e-4, 3e-1, log=True),
            "weight_decay": Float(1e-6, 1e-1, log=True),
            "width": Int(8, 256, log=True),
            "batch_size": Int(8, 256, log=True),
            "dropout": Float(0.0, 0.7),
        })
        self.fidelity = Fidelity("epochs", 1, 27)
        self._runs: dict[str, tuple[Any, Any, list[float]]] = {}
        self._data: tuple[Any, ...] | None = None

    def _load(self) -> tuple[Any, ...]:
        if self._data is None:
            import torch
            from sklearn.datasets import load_digits

            X, y = load_digits(return_X_y=True)
            order = np.random.default_rng(0).permutation(len(X))
            X, y = X[order] / 16.0, y[order]
            self._data = (torch.tensor(X[:1200], dtype=torch.float32), torch.tensor(y[:1200]),
                          torch.tensor(X[1200:], dtype=torch.float32), torch.tensor(y[1200:]))
        return self._data

    def loss(self, params: dict[str, Any], step: float) -> float:
        import torch

        key = repr(sorted(params.items()))
        x_train, y_train, x_val, y_val = self._load()
        if key not in self._runs:
            torch.manual_seed(zlib.crc32(key.encode()))  # the same run for the same params, in any process
            model = torch.nn.Sequential(
                torch.nn.Linear(64, params["width"]), torch.nn.ReLU(), torch.nn.Dropout(params["dropout"]),
                torch.nn.Linear(params["width"], 10),
            )
            optimiser = torch.optim.Adam(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
            self._runs[key] = (model, optimiser, [])
        model, optimiser, errors = self._runs[key]
        batch = int(params["batch_size"])
        while len(errors) < int(step):
            model.train()
            order = torch.randperm(len(x_train))
            for i in range(0, len(order), batch):
                idx = order[i:i + batch]
                optimiser.zero_grad()
                torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
                optimiser.step()
            model.eval()
            with torch.no_grad():
                wrong = (model(x_val).argmax(dim=1) != y_val).float().mean().item()
            errors.append(wrong if math.isfinite(wrong) else 1.0)
        return float(errors[int(step) - 1])


CURVE_PROBLEMS: dict[str, Any] = {
    "augmented-branin": _branin,
    "augmented-hartmann": _hartmann,
    "synthetic-curves": lambda: SyntheticCurves(seed=0),
    "mlp-digits": MLPDigitsCurves,
}


def get_curve_problem(name: str) -> CurveProblem:
    from hpo.errors import UnknownNameError

    if name not in CURVE_PROBLEMS:
        raise UnknownNameError(f"bench fidelity: unknown problem {name!r}; valid: {sorted(CURVE_PROBLEMS)}")
    return CURVE_PROBLEMS[name]()

"""The demo study: tune scikit-learn's HistGradientBoosting on the digits data set.

``make demo`` runs ``hpo demo``: 30 trials, 3-fold cross-validated accuracy,
stored in ``./hpo.db``. The objective is an ordinary function of a trial; the
same function runs from a config file (see README.md, ``hpo run``).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from hpo.space import Categorical, Float, Int

__all__ = ["SPACE", "objective", "run_demo"]

#: The search space of the demo.
SPACE = {
    "learning_rate": Float(0.01, 0.5, log=True),
    "max_iter": Int(10, 80),
    "max_leaf_nodes": Int(4, 64, log=True),
    "min_samples_leaf": Int(2, 40, log=True),
    "l2_regularization": Float(1e-6, 1.0, log=True),
    "max_features": Categorical([0.5, 1.0]),
}


@lru_cache(maxsize=1)
def _digits() -> tuple[Any, Any]:
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def objective(trial: Any) -> float:
    """Mean 3-fold cross-validated accuracy of HistGradientBoosting on digits (maximise)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    X, y = _digits()
    model = HistGradientBoostingClassifier(early_stopping=False, random_state=0, **trial.params)
    return float(cross_val_score(model, X, y, cv=3).mean())


def run_demo(n_trials: int = 30, storage: str = "sqlite:///hpo.db", sampler: str = "gp", seed: int = 0,
             show_progress_bar: bool = True, name: str | None = None) -> Any:
    """Create a new demo study, run it, and return it."""
    from hpo.study_setup import create_study

    name = name or "digits-hgb-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    study = create_study(
        name=name, space=SPACE, objectives={"accuracy": "maximize"}, storage=storage, sampler=sampler, seed=seed
    )
    study.optimize(objective, n_trials=n_trials, show_progress_bar=show_progress_bar)
    return study

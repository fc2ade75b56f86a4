"""The demo study: tune scikit-learn's HistGradientBoosting on the digits data set.

``make demo`` runs ``hpo demo``: 30 trials, 3-fold cross-validated accuracy,
stored in ``./hpo.db``. The objective is an ordinary function of a trial; the
same function runs from a config file (see README.md, ``hpo run``).

Threads: the model's OpenMP threads and torch's (the GP sampler) are limited to
``$HPO_THREADS`` (default 1) while the demo runs. Unlimited, they oversubscribe a
busy machine's cores and a 1-minute demo can take many minutes; ``HPO_THREADS=4
make demo`` gives each trial 4 threads.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from hpo.space import Categorical, Float, Int

__all__ = ["SPACE", "DEFAULT_THREADS", "SECONDS_PER_TRIAL", "THREADS_ENV", "demo_threads", "expected_seconds",
           "objective", "run_demo"]

#: The environment variable that sets the demo's thread count.
THREADS_ENV = "HPO_THREADS"
#: Threads per trial without ``$HPO_THREADS``.
DEFAULT_THREADS = 1
#: About how long one trial takes with one thread (model fit and the GP sampler's suggestion), seconds.
SECONDS_PER_TRIAL = 2.0

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


def demo_threads() -> int:
    """The thread count of the demo's trials: ``$HPO_THREADS`` (an integer >= 1), else :data:`DEFAULT_THREADS`.

    Raises:
        ConfigError: ``$HPO_THREADS`` is set but is not an integer >= 1.
    """
    from hpo.errors import ConfigError, short_repr

    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return DEFAULT_THREADS
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"${THREADS_ENV}: must be an integer >= 1 (threads per trial), but got {short_repr(text, 40)}")
    return threads


def expected_seconds(n_trials: int, threads: int = DEFAULT_THREADS) -> float:
    """A rough duration of ``n_trials`` demo trials on an idle machine (more threads help only a little)."""
    return n_trials * SECONDS_PER_TRIAL / min(threads, 2) ** 0.5


@contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """Limit OpenMP/BLAS thread pools (threadpoolctl) and torch's intra-op threads to ``threads``."""
    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


def run_demo(n_trials: int = 30, storage: str = "sqlite:///hpo.db", sampler: str = "gp", seed: int = 0,
             show_progress_bar: bool = True, name: str | None = None, threads: int | None = None) -> Any:
    """Create a new demo study, run it with ``threads`` threads per trial (default :func:`demo_threads`),
    and return it."""
    from hpo.study_setup import create_study
    from hpo.validators import positive_int

    threads = demo_threads() if threads is None else positive_int("threads", threads)
    name = name or "digits-hgb-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    study = create_study(
        name=name, space=SPACE, objectives={"accuracy": "maximize"}, storage=storage, sampler=sampler, seed=seed
    )
    with limited_threads(threads):
        study.optimize(objective, n_trials=n_trials, show_progress_bar=show_progress_bar)
    return study

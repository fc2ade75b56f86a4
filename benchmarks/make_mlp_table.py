"""Builds ``hpo/bench/data/mlp_cancer_table.csv``: the lookup table of the ``tabular-mlp`` problem.

Every configuration of a grid of 9 list-valued hyperparameters of scikit-learn's
``MLPClassifier`` (1728 configurations) is trained once on a fixed split of
``load_breast_cancer`` (569 x 30, standardised; 379 training and 190 validation rows,
``random_state=0`` everywhere) and its validation log-loss (capped at log 2, the
value of a coin flip, also recorded when the weights diverge) is written with the configuration. Deterministic: the same table on every run (one thread).

Run from the repository root: ``python benchmarks/make_mlp_table.py`` (a few minutes of
one CPU core; ``--limit N`` trains only the first N rows, for a try). A grid on
``load_digits`` was tried first and cut: it would have taken about an hour here.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

GRID: dict[str, list] = {
    "activation": ["relu", "tanh", "logistic"],
    "solver": ["adam", "sgd"],
    "learning_rate_init": [1e-4, 1e-2, 1e0],
    "batch_size": [8, 32, 128],
    "hidden_units": [4, 64],
    "n_layers": [1, 2],
    "alpha": [1e-5, 1e-2],
    "max_iter": [5, 30],
    "momentum": [0.5, 0.95],
}
#: The log-loss recorded for a run whose weights diverged (and the cap of every value): log 2, a coin flip.
DIVERGED = math.log(2.0)
OUT = Path(__file__).resolve().parent.parent / "hpo" / "bench" / "data" / "mlp_cancer_table.csv"


def evaluate(cfg: dict, data: tuple) -> float:
    from sklearn.neural_network import MLPClassifier

    X_tr, X_va, y_tr, y_va = data
    opts = dict(cfg)
    layers = (opts.pop("hidden_units"),) * opts.pop("n_layers")
    model = MLPClassifier(hidden_layer_sizes=layers, random_state=0, **opts)
    from sklearn.metrics import log_loss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning; overflow of a diverging run
        try:
            model.fit(X_tr, y_tr)
            proba = model.predict_proba(X_va)
        except ValueError:  # the weights diverged (non-finite): as good as a coin flip
            return DIVERGED
    if not np.isfinite(proba).all():
        return DIVERGED
    return float(min(log_loss(y_va, np.clip(proba, 1e-6, 1 - 1e-6)), DIVERGED))


def main() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="train only the first N configurations")
    parser.add_argument("--out", type=Path, default=OUT, help="CSV file to write")
    args = parser.parse_args()
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=1 / 3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    data = (scaler.transform(X_tr), scaler.transform(X_va), y_tr, y_va)
    names = list(GRID)
    combos = list(itertools.product(*GRID.values()))[: args.limit]
    start = time.process_time()
    with threadpool_limits(1), args.out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names, "log_loss"])
        for combo in combos:
            writer.writerow([*combo, f"{evaluate(dict(zip(names, combo)), data):.6f}"])
    print(f"{len(combos)} configurations, {time.process_time() - start:.0f} s CPU -> {args.out}")


if __name__ == "__main__":
    main()

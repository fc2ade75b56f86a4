"""Quickstart: a study in a SQLite file, 20 trials of TPE, the best configuration.

Run: .venv/bin/python examples/quickstart.py   (writes ./quickstart.db; running it again adds 20 trials)
"""

import hpo


def objective(trial):
    x, y, kind = trial["x"], trial["y"], trial["kind"]
    return (x - 2) ** 2 + (y + 1) ** 2 + (0.5 if kind == "b" else 0.0)


study = hpo.create_study(
    "quickstart",
    space={"x": hpo.Float(-5, 5), "y": hpo.Float(-5, 5), "kind": hpo.Categorical(["a", "b"])},
    storage="sqlite:///quickstart.db",
    sampler={"name": "tpe", "options": {"n_startup_trials": 5}},
    seed=0,
    load_if_exists=True,
)
study.optimize(objective, n_trials=20, show_progress_bar=False)
print(f"{len(study.trials)} trials; best value {study.best_value:.4f} at {study.best_params}")

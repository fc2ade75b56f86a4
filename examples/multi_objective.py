"""Two objectives and a constraint: error against model size, latency at most 20 ms; the Pareto front.

``directions=[...]`` is accepted as in Optuna (the objectives are then named ``value_0``, ``value_1``);
here they are named, so the objective returns a mapping that also carries the constraint's value.

Run: .venv/bin/python examples/multi_objective.py   (writes ./multi_objective.db)
"""

import math

import hpo


def accuracy_vs_size(trial):
    width, lr = trial["width"], trial["lr"]
    error = 0.05 + 2.0 / width + abs(math.log10(lr) + 2.5) / 10
    return {"error": error, "params_m": width * width / 1e4, "latency_ms": width / 20}


study = hpo.create_study(
    "multi-objective-example",
    space={"width": hpo.Int(16, 512, log=True), "lr": hpo.Float(1e-4, 1e-1, log=True)},
    objectives={"error": "minimize", "params_m": "minimize"},
    constraints={"latency_ms": ("<=", 20)},
    sampler="nsga2",
    seed=0,
    storage="sqlite:///multi_objective.db",
    load_if_exists=True,
)
study.optimize(accuracy_vs_size, n_trials=24, show_progress_bar=False)
front = sorted(study.pareto_front(), key=lambda t: t.values["params_m"])
print(f"{len(front)} trials on the Pareto front:")
for t in front:
    print(f"  width {t.params['width']:4d}  error {t.values['error']:.3f}  params {t.values['params_m']:.2f} M")

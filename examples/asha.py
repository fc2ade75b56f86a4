"""ASHA with a fidelity: trials train for up to 27 "epochs"; the scheduler stops the poor ones early.

The objective reads ``trial.budget`` (how far to train), reports every epoch with
``trial.report(epoch, loss)`` and returns when ``trial.should_stop()`` says so.

Run: .venv/bin/python examples/asha.py   (writes ./asha.db)
"""

import math

import hpo


def train(trial):
    loss = 2.0
    rate = 0.05 + 0.3 * (1 - abs(math.log10(trial["lr"]) + 2) / 3)  # learns fastest near lr = 1e-2
    for epoch in range(int(trial.start_step) + 1, int(trial.budget) + 1):
        loss *= 1 - rate
        trial.report(epoch, loss)
        if trial.should_stop():
            raise hpo.TrialPruned()
    return loss


study = hpo.create_study(
    "asha-example",
    space={"lr": hpo.Float(1e-5, 1e-1, log=True)},
    fidelity=hpo.Fidelity("epochs", min=1, max=27),
    scheduler={"name": "asha", "options": {"reduction_factor": 3}},
    sampler="random",
    seed=0,
    storage="sqlite:///asha.db",
    load_if_exists=True,
)
study.optimize(train, n_trials=20, show_progress_bar=False)
states = [t.state.value for t in study.trials]
print(f"{states.count('COMPLETE')} trials trained to the end, {states.count('PRUNED')} stopped early; "
      f"best lr {study.best_params['lr']:.4g}")

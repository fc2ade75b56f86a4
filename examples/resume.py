"""Resume after a crash: a worker process dies in the middle of a study; running again continues it.

The first part starts this script again as a child process that is killed (``os._exit``) during its
sixth trial, like a machine that loses power. Every trial told before the crash is in the store; the
trial that was running holds a lease that ends ``stale_after`` seconds after its last heartbeat, and the
next ``optimize`` reclaims it (FAILED, and its parameters queued again: ``stale_policy="requeue"``).

Run: .venv/bin/python examples/resume.py   (writes ./resume.db)
"""

import os
import subprocess
import sys
import time

import hpo

STORAGE = "sqlite:///resume.db"
TOTAL = 12


def open_study():
    return hpo.create_study(
        "resume-demo",
        space={"x": hpo.Float(-3, 3)},
        storage=STORAGE,
        sampler="random",
        seed=0,
        load_if_exists=True,
        heartbeat_interval=0.1,  # short leases, so the example does not wait long for the reclaim
        stale_after=0.5,
    )


def objective(trial):
    if "--crash" in sys.argv and trial.number == 5:
        os._exit(1)  # the process dies mid-trial: no tell, no cleanup
    return trial["x"] ** 2


if "--crash" in sys.argv:
    open_study().optimize(objective, n_trials=TOTAL, show_progress_bar=False)
    sys.exit(0)  # not reached

child = subprocess.run([sys.executable, __file__, "--crash"])
study = open_study()
states = [t.state.value for t in study.trials]
print(f"the worker died (exit code {child.returncode}) after {states.count('COMPLETE')} complete trials; "
      f"{states.count('RUNNING')} left RUNNING")
time.sleep(0.6)  # let the dead worker's lease run out (stale_after)
done = sum(t.state.value == "COMPLETE" for t in study.trials)
study.optimize(objective, n_trials=TOTAL - done, show_progress_bar=False)
states = [t.state.value for t in study.trials]
print(f"resumed: {states.count('COMPLETE')} complete, {states.count('FAILED')} reclaimed as FAILED; "
      f"best x^2 = {study.best_value:.4f}")

"""Example stores for the dashboard's tests, screenshots and demo, built with the public API.

``build_store(url)`` writes five studies into one store:

- ``single``: one objective, intermediate reports, PRUNED and FAILED trials,
  trials carrying a scheduler ``decision`` attribute, one RUNNING trial;
- ``multi``: three objectives and a constraint;
- ``fidelity``: a declared fidelity (epochs) with learning curves;
- ``seeds``: tuning and test evaluations keyed by seed;
- ``fresh``: no trials at all.

``build_stn_store(url)`` writes one study, ``stn``: self-tuning-network trials whose reports carry
the validation loss and ``hp/<name>`` hyperparameter schedules (values from a small formula, written
through ``trial.report``; no network is trained), next to fixed-hyperparameter trials without schedules.
"""

from __future__ import annotations

import math

import hpo
from hpo.records import TrialState

__all__ = ["build_store", "build_empty_store", "build_stn_store", "STUDIES", "STN_SPACE"]

STUDIES = ("single", "multi", "fidelity", "seeds", "fresh")

SPACE = {
    "lr": hpo.Float(1e-4, 1e-1, log=True),
    "width": hpo.Int(16, 256, log=True),
    "dropout": hpo.Float(0.0, 0.5),
    "optimizer": hpo.Categorical(["sgd", "adam"]),
}


def _loss(p: dict) -> float:
    return (math.log10(p["lr"]) + 2.5) ** 2 + 0.3 * p["dropout"] + (0.2 if p["optimizer"] == "sgd" else 0.0) \
        + 0.1 * abs(math.log2(p["width"]) - 6)


def _single(url: str, n: int) -> None:
    study = hpo.create_study(name="single", space=SPACE, storage=url, sampler="random", seed=0)
    for i, decision in enumerate(["promote", "stop", "promote", "stop"]):
        study.enqueue({"lr": 10 ** (-1.5 - i * 0.5), "width": 64, "dropout": 0.1, "optimizer": "adam"},
                      attrs={"decision": decision})

    def objective(trial: hpo.Trial) -> float:
        loss = _loss(trial.params)
        for step in range(8):
            trial.report(step, {"value": loss * (1 + 2.0 / (step + 1)), "accuracy": 1 / (1 + loss + 1 / (step + 1))})
            if step == 3 and trial.attrs.get("decision") == "stop":
                raise hpo.TrialPruned()
        if trial.number % 9 == 5:
            raise RuntimeError(f"CUDA out of memory in trial {trial.number} (simulated)")
        if trial.number % 11 == 7:
            raise hpo.TrialPruned()
        return loss

    study.optimize(objective, n_trials=n, show_progress_bar=False)
    running = study.ask()
    running.report(0, {"value": 5.0})
    running.report(1, {"value": 3.0})


def _multi(url: str, n: int) -> None:
    study = hpo.create_study(
        name="multi", space=SPACE, storage=url, sampler="random", seed=1,
        objectives={"error": "minimize", "latency_ms": "minimize", "accuracy": "maximize"},
        constraints={"memory_gb": ("<=", 12.0)},
    )

    def objective(trial: hpo.Trial) -> dict:
        p = trial.params
        loss = _loss(p)
        return {"error": loss, "latency_ms": p["width"] / 8 + (3 if p["optimizer"] == "adam" else 0),
                "accuracy": 1 / (1 + loss) + p["width"] / 2560, "memory_gb": p["width"] / 16}

    study.optimize(objective, n_trials=n, show_progress_bar=False)


def _fidelity(url: str, n: int) -> None:
    study = hpo.create_study(name="fidelity", space=SPACE, storage=url, sampler="random", seed=2,
                             objectives={"val_loss": "minimize"},
                             fidelity={"name": "epochs", "min": 1, "max": 27})
    budgets = [3, 9, 27]

    def objective(trial: hpo.Trial) -> float:
        loss = _loss(trial.params)
        epochs = budgets[trial.number % 3]
        for epoch in range(1, epochs + 1):
            trial.report(epoch, {"val_loss": loss + 3.0 / epoch})
        if epochs < 27:
            raise hpo.TrialPruned()
        return loss + 3.0 / epochs

    study.optimize(objective, n_trials=n, show_progress_bar=False)


def _seeds(url: str, n: int) -> None:
    study = hpo.create_study(name="seeds", space=SPACE, storage=url, sampler="random", seed=3,
                             objectives={"return": "maximize"})
    store = study.store
    for _ in range(n):
        trial = study.ask()
        base = 100 - 20 * _loss(trial.params)
        scores = []
        for seed in range(3):
            score = base + 5 * math.sin(seed * 7 + trial.number)
            store.add_evaluation(study.study_id, trial.number, seed, "tuning", TrialState.COMPLETE, {"return": score})
            scores.append(score)
        study.tell(trial, sum(scores) / len(scores))
    best = sorted(study.get_trials(["COMPLETE"]), key=lambda t: -t.value)[:4]
    for rank, t in enumerate(best):
        for seed in (1000, 1001, 1002):
            if rank == 3 and seed == 1002:
                store.add_evaluation(study.study_id, t.number, seed, "test", TrialState.FAILED, error="env crashed")
                continue
            score = t.value - 4 - 3 * rank + 2 * math.cos(seed + t.number)
            store.add_evaluation(study.study_id, t.number, seed, "test", TrialState.COMPLETE, {"return": score})


def build_store(url: str, n_trials: int = 30) -> str:
    """Write the five studies into ``url``; return ``url``."""
    _single(url, n_trials)
    _multi(url, max(n_trials, 40))
    _fidelity(url, n_trials)
    _seeds(url, max(n_trials // 2, 8))
    hpo.create_study(name="fresh", space=SPACE, storage=url)
    return url


def build_empty_store(url: str) -> str:
    """A store with the schema and no study."""
    from hpo.store import open_store

    open_store(url)
    return url


STN_SPACE = {"dropout": hpo.Float(0.0, 0.9), "noise": hpo.Float(0.0, 1.0)}


def build_stn_store(url: str, n_stn: int = 3, n_fixed: int = 2, steps: int = 40) -> str:
    """Write the ``stn`` study into ``url`` (``n_stn`` trials with schedules, ``n_fixed`` without); return ``url``.

    A self-tuning trial ``i`` reports at every step ``val_loss`` and ``hp/dropout``, ``hp/noise`` moving
    from their initial values 0.05 towards 0.3 + 0.1 i and 0.2 + 0.05 i; a fixed trial reports ``val_loss`` only.
    """
    study = hpo.create_study(name="stn", space=STN_SPACE, storage=url, sampler="random", seed=4,
                             objectives={"val_loss": "minimize"})
    for i in range(n_stn + n_fixed):
        trial = study.ask()
        tuned = i < n_stn
        loss = 0.0
        for step in range(steps):
            approach = 1.0 - math.exp(-step / 10.0)
            loss = 0.2 + 0.05 * i + 1.5 / (1 + step)
            values = {"val_loss": loss}
            if tuned:
                values["hp/dropout"] = 0.05 + (0.25 + 0.1 * i) * approach
                values["hp/noise"] = 0.05 + (0.15 + 0.05 * i) * approach
            trial.report(step * 5, values)
        study.tell(trial, loss)
    return url

"""Optuna users' habits (issue 24 point 10): direction=/directions=, optimize(n_jobs=), an Optuna sampler
object as sampler=, and pruner= answered with the scheduler that replaces it."""

from __future__ import annotations

import threading
from typing import Any

import optuna
import pytest

import hpo
from hpo.errors import ConfigError, SamplerError

SPACE = {"x": hpo.Float(0.0, 1.0)}


def _x(trial: Any) -> float:
    return float(trial.params["x"])


def test_direction_is_objectives(sqlite_url: str) -> None:
    study = hpo.create_study("d", SPACE, storage=sqlite_url, sampler="random", direction="maximize")
    assert [(o.name, o.direction.value) for o in study.objectives] == [("value", "maximize")]
    enum = hpo.create_study("e", SPACE, storage=sqlite_url, sampler="random",
                            direction=optuna.study.StudyDirection.MAXIMIZE)
    assert enum.objectives[0].direction.value == "maximize"


def test_directions_name_the_objectives_in_order(sqlite_url: str) -> None:
    study = hpo.create_study("m", SPACE, storage=sqlite_url, sampler="random", directions=["minimize", "maximize"])
    assert [(o.name, o.direction.value) for o in study.objectives] == [("value_0", "minimize"), ("value_1", "maximize")]
    study.optimize(lambda t: (t.params["x"], 2 * t.params["x"]), n_trials=2, show_progress_bar=False)
    done = study.trials[0]
    assert done.values == {"value_0": done.params["x"], "value_1": 2 * done.params["x"]}
    one = hpo.create_study("one", SPACE, storage=sqlite_url, sampler="random", directions=["maximize"])
    assert [(o.name, o.direction.value) for o in one.objectives] == [("value", "maximize")]


@pytest.mark.parametrize("kwargs", [
    {"objectives": "minimize", "direction": "maximize"},
    {"direction": "maximize", "directions": ["maximize"]},
    {"objectives": {"a": "minimize"}, "directions": ["maximize"]},
])
def test_two_names_for_the_objectives_are_refused(sqlite_url: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="give one of them"):
        hpo.create_study("x", SPACE, storage=sqlite_url, sampler="random", **kwargs)
    assert hpo.list_studies(sqlite_url) == []


@pytest.mark.parametrize("bad", ["maximize", [], [1], {"a": "minimize"}])
def test_bad_directions_name_the_field(sqlite_url: str, bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"directions"):
        hpo.create_study("x", SPACE, storage=sqlite_url, sampler="random", directions=bad)


def test_n_jobs_runs_trials_at_once(sqlite_url: str) -> None:
    study = hpo.create_study("j", SPACE, storage=sqlite_url, sampler="random")
    barrier = threading.Barrier(2, timeout=60)  # passes only when two trials run at the same time

    def objective(trial: Any) -> float:
        barrier.wait()
        return _x(trial)

    study.optimize(objective, n_trials=2, n_jobs=2, show_progress_bar=False)
    assert [t.state.value for t in study.trials] == ["COMPLETE", "COMPLETE"]


def test_n_jobs_and_n_workers_together_are_refused(sqlite_url: str) -> None:
    study = hpo.create_study("j", SPACE, storage=sqlite_url, sampler="random")
    with pytest.raises(ConfigError, match="n_workers and n_jobs"):
        study.optimize(_x, n_trials=1, n_workers=2, n_jobs=2, show_progress_bar=False)
    assert study.trials == []


def test_an_optuna_sampler_object_drives_the_suggestions(sqlite_url: str) -> None:
    grid = optuna.samplers.GridSampler({"x": [0.25, 0.75]})
    study = hpo.create_study("g", SPACE, storage=sqlite_url, sampler=grid)
    study.optimize(_x, n_trials=2, show_progress_bar=False)
    assert sorted(t.params["x"] for t in study.trials) == [0.25, 0.75]
    spec = study.record.settings["sampler"]
    assert spec["custom"] is True and spec["name"].endswith("GridSampler")


def test_a_seeded_optuna_sampler_object_replays(sqlite_url: str) -> None:
    runs = []
    for name in ("a", "b"):
        tpe = optuna.samplers.TPESampler(seed=7, n_startup_trials=2)
        study = hpo.create_study(name, SPACE, storage=sqlite_url, sampler=tpe)
        study.optimize(_x, n_trials=5, show_progress_bar=False)
        runs.append([t.params["x"] for t in study.trials])
    assert runs[0] == runs[1]


def test_a_study_made_with_an_optuna_object_is_loaded_with_one(sqlite_url: str) -> None:
    hpo.create_study("o", SPACE, storage=sqlite_url, sampler=optuna.samplers.RandomSampler(seed=1))
    with pytest.raises(SamplerError, match="RandomSampler; pass sampler="):
        hpo.load_study("o", sqlite_url)
    study = hpo.load_study("o", sqlite_url, sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(_x, n_trials=1, show_progress_bar=False)
    assert len(study.trials) == 1


def test_an_optuna_cmaes_object_is_checked_like_cmaes(sqlite_url: str) -> None:
    with pytest.raises(SamplerError, match="cmaes: handles one objective"):
        hpo.create_study("c", SPACE, storage=sqlite_url, sampler=optuna.samplers.CmaEsSampler(),
                         directions=["minimize", "minimize"])


@pytest.mark.parametrize(("pruner", "scheduler"), [
    (optuna.pruners.MedianPruner(), "median"),
    (optuna.pruners.SuccessiveHalvingPruner(), "asha"),
    (optuna.pruners.HyperbandPruner(), "hyperband"),
])
def test_pruner_names_the_scheduler(sqlite_url: str, pruner: Any, scheduler: str) -> None:
    with pytest.raises(ConfigError, match=f"use scheduler='{scheduler}' for {type(pruner).__name__}"):
        hpo.create_study("p", SPACE, storage=sqlite_url, sampler="random", pruner=pruner)
    assert hpo.list_studies(sqlite_url) == []


def test_other_pruners_get_the_mapping_and_none_is_accepted(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match="MedianPruner -> scheduler='median'"):
        hpo.create_study("p", SPACE, storage=sqlite_url, sampler="random", pruner=optuna.pruners.NopPruner())
    hpo.create_study("p", SPACE, storage=sqlite_url, sampler="random", pruner=None)


def test_an_optuna_sampler_object_under_a_scheduler(sqlite_url: str) -> None:
    """Under ASHA the mirror is rebuilt at each new level; the object's cached search space starts again."""
    def train(trial: Any) -> float:
        loss = 1.0
        for epoch in range(int(trial.start_step) + 1, int(trial.budget) + 1):
            loss *= 0.5 + 0.4 * trial.params["x"]
            trial.report(epoch, loss)
            if trial.should_stop():
                raise hpo.TrialPruned()
        return loss

    tpe = optuna.samplers.TPESampler(seed=0, n_startup_trials=3)
    study = hpo.create_study("a", SPACE, storage=sqlite_url, sampler=tpe, seed=0,
                             fidelity=hpo.Fidelity("epochs", min=1, max=9), scheduler="asha")
    study.optimize(train, n_trials=15, show_progress_bar=False)
    states = [t.state.value for t in study.trials]
    assert len(states) == 15 and "FAILED" not in states and states.count("COMPLETE") >= 1

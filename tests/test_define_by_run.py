"""Define-by-run trials: Optuna's suggest API on hpo's Trial, growing spaces, declared-space checks,
``should_prune`` and ``optuna.TrialPruned`` (an unchanged Optuna objective runs in an hpo study)."""

from __future__ import annotations

import optuna
import pytest

import hpo
from hpo.define_by_run import RELATIVE_ATTR
from hpo.errors import DefinitionMismatchError
from hpo.records import TrialState

CHEAP_GP = {"name": "gp", "options": {"n_initial": 2, "num_restarts": 2, "raw_samples": 32, "mc_samples": 16}}


def optuna_objective(trial: optuna.Trial) -> float:
    """An Optuna objective as Optuna users write it: conditional parameters, reports, pruning, user attrs."""
    x = trial.suggest_float("x", -3.0, 3.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    if kind == "a":
        extra = float(trial.suggest_int("n", 1, 8, log=True))
    else:
        extra = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.set_user_attr("kind", kind)
    for step in range(3):
        trial.report((x - 1.0) ** 2 + 1.0 / (step + 1), step)  # Optuna's order: value, step
        if trial.should_prune():
            raise optuna.TrialPruned()
    if kind == "b" and x > 2.0:
        raise optuna.TrialPruned()
    return (x - 1.0) ** 2 + extra


def _db(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'hpo.db'}"


def test_an_unchanged_optuna_objective_runs_and_grows_the_stored_space(tmp_path) -> None:  # type: ignore[no-untyped-def]
    study = hpo.create_study(name="dbr", storage=_db(tmp_path), sampler="random", seed=0)
    study.optimize(optuna_objective, n_trials=16, n_jobs=2, show_progress_bar=False)
    trials = study.trials
    assert len(trials) == 16 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    assert pruned and all(t.params["kind"] == "b" and t.params["x"] > 2.0 for t in pruned)
    for t in trials:  # conditional parameters: the branch not taken is inactive (absent)
        assert set(t.params) == ({"x", "kind", "n"} if t.params["kind"] == "a" else {"x", "kind", "lr"})
        assert isinstance(t.params["x"], float) and t.user_attrs == {"kind": t.params["kind"]}
        if "n" in t.params:
            assert isinstance(t.params["n"], int) and 1 <= t.params["n"] <= 8
    reports = study.store.get_reports(study.study_id, [trials[0].number])
    assert [r.step for r in reports] == [0.0, 1.0, 2.0]  # report(value, step) read in Optuna's order
    assert reports[0].values["value"] == pytest.approx((trials[0].params["x"] - 1.0) ** 2 + 1.0)
    loaded = hpo.load_study("dbr", storage=_db(tmp_path))
    assert loaded.space.params == {"x": hpo.Float(-3.0, 3.0), "kind": hpo.Categorical(("a", "b")),
                                   "n": hpo.Int(1, 8, log=True), "lr": hpo.Float(1e-4, 1e-1, log=True)}
    assert loaded.record.space == study.store.get_study("dbr").space
    loaded.optimize(optuna_objective, n_trials=2, show_progress_bar=False)  # a reloaded study goes on
    assert len(loaded.trials) == 18
    again = hpo.create_study(name="dbr", storage=_db(tmp_path), sampler="random", load_if_exists=True)
    assert set(again.space.names) == {"x", "kind", "n", "lr"}


def test_the_sampler_models_the_intersection_space_and_a_seed_replays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def run(name: str, seed: int) -> list[hpo.FrozenTrial]:
        study = hpo.create_study(name=name, storage=_db(tmp_path), sampler=CHEAP_GP, seed=seed)
        study.optimize(optuna_objective, n_trials=5, show_progress_bar=False)
        return study.trials

    a, b = run("a", 1), run("b", 1)
    assert [t.params for t in a] == [t.params for t in b]
    assert any(RELATIVE_ATTR in t.attrs for t in a)
    for t in a:
        done = [set(u.params) for u in a if u.number < t.number and u.state is TrialState.COMPLETE]
        if not done:  # nothing completed yet: every value is drawn at random
            assert RELATIVE_ATTR not in t.attrs
            continue
        relative = t.attrs[RELATIVE_ATTR]  # the intersection of the COMPLETE trials before it
        assert set(relative) == set.intersection(*done) >= {"x", "kind"}
        assert {k: t.params[k] for k in relative if k in t.params} == {k: v for k, v in relative.items()
                                                                       if k in t.params}
    assert [t.params for t in run("c", 2)] != [t.params for t in a]


def test_a_declared_space_checks_every_suggest_call(tmp_path) -> None:  # type: ignore[no-untyped-def]
    space = {"x": hpo.Float(-3.0, 3.0), "kind": hpo.Categorical(("a", "b")),
             "n": hpo.Int(1, 8, log=True, active_if={"kind": "a"}),
             "lr": hpo.Float(1e-4, 1e-1, log=True, active_if={"kind": "b"})}
    study = hpo.create_study(name="declared", storage=_db(tmp_path), space=space, sampler="random", seed=0)
    study.optimize(optuna_objective, n_trials=6, show_progress_bar=False)
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)

    trial = study.ask()
    assert trial.suggest_float("x", -3.0, 3.0) == trial.params["x"]
    with pytest.raises(DefinitionMismatchError, match=r"'x'.*Float.*high=2\.0.*Float.*high=3\.0"):
        trial.suggest_float("x", -3.0, 2.0)
    with pytest.raises(DefinitionMismatchError, match=r"'x'.*log=True"):
        trial.suggest_float("x", 1e-3, 3.0, log=True)
    with pytest.raises(DefinitionMismatchError, match="has no parameter 'depth'"):
        trial.suggest_int("depth", 1, 4)
    inactive = "lr" if trial.params["kind"] == "a" else "n"
    with pytest.raises(DefinitionMismatchError, match=f"'{inactive}'.*inactive"):
        if inactive == "lr":
            trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        else:
            trial.suggest_int("n", 1, 8, log=True)


def test_a_grown_parameter_keeps_its_first_definition(tmp_path) -> None:  # type: ignore[no-untyped-def]
    study = hpo.create_study(name="grown", storage=_db(tmp_path), sampler="random", seed=0)
    study.optimize(lambda t: t.suggest_int("n", 0, 10), n_trials=2, show_progress_bar=False)
    trial = study.ask()
    with pytest.raises(DefinitionMismatchError, match=r"'n'.*Int.*high=20.*Int.*high=10"):
        trial.suggest_int("n", 0, 20)
    assert trial.suggest_int("n", 0, 10) == study.get_trials(["RUNNING"])[0].params["n"]  # stored when suggested
    assert trial.suggest_float("same", 1.0, 1.0) == 1.0  # a single value (Optuna allows low == high)


def test_should_prune_is_the_schedulers_decision(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for epoch in range(1, 10):
            trial.report(x + 1.0 / epoch, epoch)
            if trial.should_prune():
                assert trial.should_stop()
                raise optuna.TrialPruned()
        return x

    study = hpo.create_study(name="pruned", storage=_db(tmp_path), space={"x": hpo.Float(0.0, 1.0)},
                             fidelity=hpo.Fidelity("epochs", 1, 9), scheduler={"name": "median", "options": {
                                 "grace_period": 1, "min_samples": 2}}, sampler="random", seed=0)
    for x in (0.0, 0.05, 0.1, 0.9, 0.95, 0.97):
        study.enqueue({"x": x})
    study.optimize(objective, n_trials=6, show_progress_bar=False)
    states = {t.params["x"]: t.state for t in study.trials}
    assert states[0.0] is TrialState.COMPLETE and states[0.9] is TrialState.PRUNED


def test_define_by_run_refuses_a_scheduler_without_a_space(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(hpo.errors.ConfigError, match="declared space"):
        hpo.create_study(storage=_db(tmp_path), fidelity=hpo.Fidelity("epochs", 1, 9), scheduler="median")

"""``hpo import optuna`` and ``hpo export NAME --format optuna``: round trips of studies made by Optuna itself
(RDB on SQLite and a journal file; single- and multi-objective; pruned and failed trials; constraints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from hpo.cli import main
from hpo.integrations.optuna import HpoStorage

optuna.logging.set_verbosity(optuna.logging.WARNING)

FIELDS = ("number", "state", "values", "params", "distributions", "intermediate_values", "user_attrs",
          "system_attrs", "datetime_start", "datetime_complete")


def _single(trial: optuna.Trial) -> float:
    kind = trial.suggest_categorical("kind", ["a", "b"])
    x = trial.suggest_float("x", 1e-3, 10.0, log=True)
    if kind == "b":
        trial.suggest_int("n", 0, 8, step=2)
    for step in range(3):
        trial.report(x / (step + 1), step)
    if trial.number % 5 == 3:
        raise optuna.TrialPruned()
    if trial.number % 5 == 4:
        raise ValueError("a failing trial")
    trial.set_user_attr("note", {"kind": kind, "tags": [1, 2]})
    return x


def _multi(trial: optuna.Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", -2.0, 2.0)
    y = trial.suggest_int("y", 0, 3)
    trial.set_user_attr("memory", x * x)
    trial.set_constraint("memory", x * x - 1.0)  # Optuna 5's form: the system attribute "constraints:memory"
    if trial.number == 6:
        raise RuntimeError("out of memory")
    return x * x + y, (x - 1) ** 2


def _constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
    return [trial.user_attrs["memory"] - 1.0]


def _constrained(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -2.0, 2.0)
    trial.set_user_attr("memory", x * x)
    return x


def _make_studies(rdb: str, journal: Any) -> None:
    single = optuna.create_study(storage=rdb, study_name="single", sampler=optuna.samplers.RandomSampler(seed=1))
    single.set_user_attr("owner", "me")
    single._storage.set_study_system_attr(single._study_id, "origin", "test")
    single.optimize(_single, n_trials=15, catch=(ValueError,))
    multi = optuna.create_study(storage=journal, study_name="multi", directions=["minimize", "maximize"],
                                sampler=optuna.samplers.NSGAIISampler(seed=2, population_size=4))
    multi.optimize(_multi, n_trials=12, catch=(RuntimeError,))
    # The list form of constraints (system attribute "constraints"), as a sampler's constraints_func writes it.
    old = optuna.create_study(storage=rdb, study_name="constrained", sampler=optuna.samplers.RandomSampler(seed=3))
    old.optimize(_constrained, n_trials=6)
    listed = optuna.create_study(storage=rdb, study_name="listed")
    for trial in old.trials:
        listed.add_trial(optuna.trial.create_trial(params=trial.params, distributions=trial.distributions,
                                                   value=trial.value, user_attrs=trial.user_attrs,
                                                   system_attrs={"constraints": _constraints(trial)}))


def _journal(path: Path) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(path)))


def _same(a: optuna.Study, b: optuna.Study) -> None:
    assert a.directions == b.directions
    assert a.user_attrs == b.user_attrs
    assert a._storage.get_study_system_attrs(a._study_id) == b._storage.get_study_system_attrs(b._study_id)
    ta, tb = a.get_trials(deepcopy=False), b.get_trials(deepcopy=False)
    assert len(ta) == len(tb)
    for x, y in zip(ta, tb):
        for name in FIELDS:
            assert getattr(x, name) == getattr(y, name), (x.number, name)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture
def optuna_made(tmp_path: Path) -> tuple[str, Path]:
    rdb = f"sqlite:///{tmp_path / 'optuna.db'}"
    journal = tmp_path / "optuna.log"
    _make_studies(rdb, _journal(journal))
    return rdb, journal


def test_import_then_export_round_trips_optuna_studies_from_rdb_and_journal(
    tmp_path: Path, optuna_made: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rdb, journal = optuna_made
    ours = f"sqlite:///{tmp_path / 'hpo.db'}"
    out = _cli(capsys, "import", "optuna", "--from", rdb, "--all", "--storage", ours)
    assert "imported study 'single' (15 trials)" in out and "imported study 'listed' (6 trials)" in out
    out = _cli(capsys, "import", "optuna", "--from", f"journal:{journal}", "--study", "multi", "--storage", ours)
    assert "imported study 'multi' (12 trials)" in out

    src_single = optuna.load_study(study_name="single", storage=rdb)
    src_multi = optuna.load_study(study_name="multi", storage=_journal(journal))
    states = {t.state for t in src_single.trials} | {t.state for t in src_multi.trials}
    assert {optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE} <= states
    assert all("constraints:memory" in t.system_attrs for t in src_multi.trials if t.state.name == "COMPLETE")
    _same(src_single, optuna.load_study(study_name="single", storage=HpoStorage(ours)))
    assert HpoStorage(ours).get_study_system_attrs(HpoStorage(ours).get_study_id_from_name("single")) == {
        "origin": "test"}
    _same(src_multi, optuna.load_study(study_name="multi", storage=HpoStorage(ours)))

    # hpo's own views see the imported studies: states, the Pareto front, feasibility from Optuna's constraints.
    status = _cli(capsys, "status", "multi", "--storage", ours)
    assert "value_0 (minimize), value_1 (maximize)" in status and "feasible" in status
    assert "FAILED=1" in _cli(capsys, "studies", "--storage", ours)
    src_listed = optuna.load_study(study_name="listed", storage=rdb)
    _same(src_listed, optuna.load_study(study_name="listed", storage=HpoStorage(ours)))
    feasible = sum(all(c <= 0 for c in t.system_attrs["constraints"]) for t in src_listed.trials)
    assert 0 < feasible < 6 and f"6 completed trials, {feasible} feasible" in _cli(capsys, "status", "listed",
                                                                                    "--storage", ours)
    record = HpoStorage(ours).store.get_study("multi")
    assert [c.to_dict() for c in record.constraints] == [{"name": "constraint_memory", "op": "<=", "bound": 0.0}]

    back_rdb = f"sqlite:///{tmp_path / 'back.db'}"
    out = _cli(capsys, "export", "single", "--format", "optuna", "--to", back_rdb, "--storage", ours)
    assert "exported study 'single' (15 trials)" in out and "not represented" not in out
    _same(src_single, optuna.load_study(study_name="single", storage=back_rdb))
    back_journal = tmp_path / "back.log"
    _cli(capsys, "export", "multi", "--format", "optuna", "--to", f"journal:{back_journal}", "--storage", ours)
    _same(src_multi, optuna.load_study(study_name="multi", storage=_journal(back_journal)))


def test_export_of_an_hpo_study_says_what_optuna_cannot_represent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hpo

    ours = f"sqlite:///{tmp_path / 'hpo.db'}"
    study = hpo.create_study(name="native", space={"x": hpo.Float(0, 1), "seed": hpo.Fixed(3)},
                             constraints={"mem": ("<=", 0.5)}, storage=ours, sampler="random", seed=0)

    def objective(trial: Any) -> dict[str, float]:
        trial.report(0.5, trial["x"])  # a fractional step: Optuna's steps are integers
        trial.report(1, trial["x"])
        return {"value": trial["x"], "mem": trial["x"]}

    study.optimize(objective, n_trials=4, show_progress_bar=False)
    to = f"sqlite:///{tmp_path / 'optuna.db'}"
    out = _cli(capsys, "export", "native", "--format", "optuna", "--to", to, "--storage", ours)
    assert "exported study 'native' (4 trials)" in out
    assert "fixed parameters ['seed'] become one-choice categorical" in out
    assert "4 report(s) at fractional steps" in out and "sampler settings" in out
    back = optuna.load_study(study_name="native", storage=to)
    for ours_trial, theirs in zip(study.trials, back.trials):
        assert theirs.params == ours_trial.params and theirs.value == ours_trial.values["value"]
        assert theirs.intermediate_values == {1: ours_trial.params["x"]}
        assert theirs.system_attrs == {"constraints:mem": pytest.approx(ours_trial.params["x"] - 0.5)}
        assert theirs.constraints == {"mem": pytest.approx(ours_trial.params["x"] - 0.5)}


def test_import_and_export_refuse_what_they_cannot_do(
    tmp_path: Path, optuna_made: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rdb, _ = optuna_made
    ours = f"sqlite:///{tmp_path / 'hpo.db'}"
    _cli(capsys, "import", "optuna", "--from", rdb, "--study", "single", "--storage", ours)
    cases = [
        (["import", "optuna", "--from", rdb, "--study", "single"], "already exists"),
        (["import", "optuna", "--from", rdb, "--study", "nope"], "no study named 'nope'"),
        (["import", "optuna", "--from", f"sqlite:///{tmp_path / 'missing.db'}", "--all"], "no SQLite file"),
        (["import", "optuna", "--from", ours, "--all"], "is an hpo store"),
        (["export", "single", "--format", "optuna"], "needs --to"),
    ]
    for argv, message in cases:
        assert main([*argv, "--storage", ours]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()

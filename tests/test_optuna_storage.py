"""``HpoStorage``: hpo's store as an Optuna storage.

Optuna's own storage test suite (``optuna.testing.pytest_storages.StorageTestCase``, imported from the
installed package) runs on a real SQLite file and on the PostgreSQL fixture; a real Optuna script
(define-by-run, conditional parameters, pruning, ``n_jobs=4``) runs on it and its study then shows in
hpo's CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.testing.pytest_storages import StorageTestCase

from hpo.cli import main
from hpo.integrations.optuna import HpoStorage

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TestHpoStorageOnSQLite(StorageTestCase):
    """Optuna's StorageTestCase on a SQLite file."""

    @pytest.fixture
    def storage(self, sqlite_url: str) -> HpoStorage:
        return HpoStorage(sqlite_url)


class TestHpoStorageOnPostgres(StorageTestCase):
    """Optuna's StorageTestCase on the PostgreSQL fixture (marker ``postgres``)."""

    @pytest.fixture
    def storage(self, postgres_url: str) -> HpoStorage:
        return HpoStorage(postgres_url)


OPTUNA_SCRIPT = '''
import sys

import optuna

from hpo.integrations.optuna import HpoStorage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    kind = trial.suggest_categorical("kind", ["linear", "square"])
    x = trial.suggest_float("x", -3.0, 3.0)
    if kind == "square":
        power = trial.suggest_int("power", 1, 4)       # conditional: only some trials have it
        scale = trial.suggest_float("scale", 1e-3, 1.0, log=True)
    else:
        power, scale = 1, 1.0
    loss = 0.0
    for step in range(5):
        loss = scale * abs(x) ** power + 1.0 / (step + 1)
        trial.report(loss, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    trial.set_user_attr("kind_seen", kind)
    return loss


study = optuna.create_study(
    storage=HpoStorage(sys.argv[1]), study_name="optuna-script",
    sampler=optuna.samplers.RandomSampler(seed=0),
    pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
)
study.optimize(objective, n_trials=40, n_jobs=4)
states = [t.state.name for t in study.trials]
print("TRIALS", len(states), "PRUNED", states.count("PRUNED"), "COMPLETE", states.count("COMPLETE"))
print("BEST", study.best_trial.number, study.best_value)
'''


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_an_optuna_script_with_pruning_and_four_threads_runs_on_hpo_storage_and_shows_in_hpo_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    script = tmp_path / "optuna_script.py"
    script.write_text(OPTUNA_SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), url], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = dict(zip(*[iter(done.stdout.split("\n")[0].split())] * 2))
    assert summary["TRIALS"] == "40" and int(summary["PRUNED"]) >= 1 and int(summary["COMPLETE"]) >= 1
    best_number = int(done.stdout.split("\n")[1].split()[1])

    # Optuna reads back what it wrote, through its own API on a fresh storage object.
    again = optuna.load_study(study_name="optuna-script", storage=HpoStorage(url))
    assert len(again.trials) == 40 and again.best_trial.number == best_number
    conditional = [t for t in again.trials if t.params.get("kind") == "square"]
    assert conditional and all({"power", "scale"} <= set(t.params) for t in conditional)
    assert all("power" not in t.params for t in again.trials if t.params.get("kind") == "linear")
    assert all(t.intermediate_values for t in again.trials)

    studies = _cli(capsys, "studies", "--storage", url)
    assert "optuna-script" in studies and "PRUNED=" in studies and "COMPLETE=" in studies
    status = _cli(capsys, "status", "optuna-script", "--storage", url)
    assert "value (minimize)" in status and "trials: COMPLETE=" in status
    for name in ("kind", "x", "power", "scale"):  # every parameter Optuna suggested is a column of hpo's table
        assert name in status
    assert f"\n{best_number} " in status  # the best trial Optuna found heads hpo's table of best trials

    exported = json.loads(_cli(capsys, "export", "optuna-script", "--storage", url, "--format", "json"))
    assert len(exported["trials"]) == 40 and set(exported["space"]) == {"kind", "x", "power", "scale"}
    states = {r["state"] for r in exported["trials"]}
    assert {"COMPLETE", "PRUNED"} <= states


def test_a_study_written_by_hpo_reads_through_hpo_storage(sqlite_url: str) -> None:
    import hpo

    study = hpo.create_study(name="native", space={"x": hpo.Float(0, 1), "n": hpo.Int(1, 5),
                                                   "k": hpo.Categorical(["a", "b"])},
                             storage=sqlite_url, sampler="random", seed=0)

    def objective(trial: Any) -> float:
        trial.report(0, trial["x"])
        return trial["x"] + trial["n"]

    study.optimize(objective, n_trials=4, show_progress_bar=False)
    loaded = optuna.load_study(study_name="native", storage=HpoStorage(sqlite_url))
    assert len(loaded.trials) == 4 and loaded.direction == optuna.study.StudyDirection.MINIMIZE
    first = loaded.trials[0]
    assert first.distributions == {"x": optuna.distributions.FloatDistribution(0, 1),
                                   "n": optuna.distributions.IntDistribution(1, 5),
                                   "k": optuna.distributions.CategoricalDistribution(["a", "b"])}
    assert first.params == study.trials[0].params and first.intermediate_values == {0: study.trials[0].params["x"]}
    assert loaded.best_value == study.best_value
    # Optuna can go on with hpo's study: a new trial in the same store, seen by hpo.
    loaded.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 1, 5), n_trials=2)
    assert len(hpo.load_study("native", storage=sqlite_url).trials) == 6


def test_infinite_values_and_constraints_keep_optuna_exact_and_hpo_views_readable(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = HpoStorage(sqlite_url)
    study = optuna.create_study(storage=storage, study_name="edges")
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions={
        "x": optuna.distributions.FloatDistribution(0, 1)}, value=float("inf"),
        system_attrs={"constraints": [0.5, -1.0]}, intermediate_values={0: float("nan"), 1: 2.0}))
    study.add_trial(optuna.trial.create_trial(params={"x": 0.25}, distributions={
        "x": optuna.distributions.FloatDistribution(0, 1)}, value=1.0, system_attrs={"constraints": [-0.5, -1.0]}))
    t0, t1 = optuna.load_study(study_name="edges", storage=HpoStorage(sqlite_url)).trials
    assert t0.value == float("inf") and t0.intermediate_values[1] == 2.0
    assert t0.intermediate_values[0] != t0.intermediate_values[0]  # NaN stays NaN
    assert t0.system_attrs == {"constraints": [0.5, -1.0]}
    record = storage.store.get_study("edges")
    assert [c.to_dict() for c in record.constraints] == [{"name": "constraint_0", "op": "<=", "bound": 0.0},
                                                         {"name": "constraint_1", "op": "<=", "bound": 0.0}]
    status = _cli(capsys, "status", "edges", "--storage", sqlite_url)
    assert "2 completed trials, 1 feasible" in status


@pytest.mark.slow
def test_bench_optuna_storage_part_runs_tiny_and_resumes_from_its_runs_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "runs.jsonl"
    argv = ["bench", "optuna", "--quick", "--part", "storage", "--output-dir", str(tmp_path), "--runs-log", str(log)]
    assert "optuna.md" in _cli(capsys, *argv)
    text = (tmp_path / "optuna.md").read_text()
    assert "| sqlite | 20 | 1 |" in text and "| sqlite | 20 | 2 |" in text and "HpoStorage / RDB" in text
    assert "### Time per trial as the history grows" in text and "Target: HpoStorage at least 5x" in text
    assert (tmp_path / "optuna_storage.png").stat().st_size > 1000
    cells = log.read_text().splitlines()
    assert len(cells) >= 4 and all(json.loads(c)["done"] == 20 for c in cells)
    _cli(capsys, *argv)  # a rerun measures nothing again: every cell is in the log
    assert log.read_text().splitlines() == cells


def test_bench_optuna_report_evaluates_the_storage_targets(tmp_path: Path) -> None:
    from hpo.bench.optuna_bench import StorageRun
    from hpo.bench.optuna_report import write_optuna_report

    runs = [
        StorageRun("hpo", "sqlite", 10000, 1, 10000, 20.0, 1.0, 1.2, [1.0, 1.1, 1.2]),
        StorageRun("optuna-rdb", "sqlite", 10000, 1, 500, 10.0, 10.0, 30.0, [10.0, 20.0, 30.0]),
        StorageRun("hpo", "sqlite", 10000, 4, 10000, 10.0, 1.0, 1.1),
        StorageRun("optuna-rdb", "sqlite", 10000, 4, 10000, 40.0, 2.0, 2.5),
    ]
    text = write_optuna_report({"storage": runs, "sampler": []}, tmp_path).read_text()
    assert "| sqlite | 10000 | 1 | 500.0 | 50.0 * (500 reached) | 10x |" in text
    assert "| sqlite | 10000 | 4 | 1000.0 | 250.0 | 4x |" in text
    assert "smallest ratio 4x -> **not met**" in text and "largest growth 1.2x -> **met**" in text
    assert "## Sampler" in text and "not measured" in text


CRASHING_WORKER = '''
import os
import sys
import time

import optuna

from hpo.integrations.optuna import HpoStorage

storage = HpoStorage(sys.argv[1], heartbeat_interval=1, grace_period=2)
study = optuna.create_study(storage=storage, study_name="heartbeat")


def objective(trial):
    trial.suggest_float("x", 0.0, 1.0)
    time.sleep(1.5)   # the heartbeat thread records the trial alive
    os._exit(3)       # then the worker dies without telling


study.optimize(objective, n_trials=1)
'''


def test_optuna_heartbeat_fails_a_dead_workers_trial_and_the_retry_callback_reruns_it(tmp_path: Path) -> None:
    import time

    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_WORKER, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), url], capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr
    storage = HpoStorage(url, heartbeat_interval=1, grace_period=2,
                         heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
    study = optuna.load_study(study_name="heartbeat", storage=storage)
    assert [t.state.name for t in study.trials] == ["RUNNING"]
    deadline = time.monotonic() + 60  # wait for the dead trial's lease to end (2 s after its last heartbeat)
    while not storage._get_stale_trial_ids(study._study_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    dead, retry = study.trials
    assert dead.state.name == "FAIL" and retry.state.name == "COMPLETE"
    assert retry.params == dead.params and retry.system_attrs["failed_trial"] == dead.number
    assert pickle_roundtrip(storage).get_heartbeat_interval() == 1


def pickle_roundtrip(storage: HpoStorage) -> HpoStorage:
    import pickle

    return pickle.loads(pickle.dumps(storage))


def test_cached_reads_see_what_another_storage_object_wrote(storage_url: str) -> None:
    """Each HpoStorage keeps finished trials in memory and reads only what changed: another process's
    (here: another storage object's) trials, finished or still running, are seen at the next read."""
    a, b = HpoStorage(storage_url), HpoStorage(storage_url)
    study_a = optuna.create_study(storage=a, study_name="shared", sampler=optuna.samplers.TPESampler(seed=0))
    study_a.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study_b = optuna.load_study(study_name="shared", storage=b, sampler=optuna.samplers.RandomSampler(seed=1))
    study_b.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    running = study_a.ask()
    assert [t.state.name for t in study_b.trials] == ["COMPLETE"] * 5 + ["RUNNING"]
    study_b.tell(running.number, 0.25)
    seen = study_a.get_trials(deepcopy=False)
    assert [(t.number, t.state.name, t.values) for t in seen] == [
        (t.number, t.state.name, t.values) for t in study_b.get_trials(deepcopy=False)]
    assert seen[-1].value == 0.25 and a.get_trial(seen[-1]._trial_id).value == 0.25
    study_a.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)  # TPE reads the whole history each ask
    assert len(study_b.trials) == 8 and len({t.number for t in study_b.trials}) == 8
    a.delete_study(study_a._study_id)
    with pytest.raises(KeyError):
        a.get_all_trials(study_a._study_id)

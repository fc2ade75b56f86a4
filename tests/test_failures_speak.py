"""Issue 24 points 1, 8, 9: failed trials say so (log lines, progress bar, a warning, fail-fast, the CLI's
summary, exit status and trial commands), ``n_trials`` says what it means, and trial/study metadata
(user attrs, ``best_trials``, ``stop()``)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.errors import AllTrialsFailedError, TrialFailuresWarning, TrialStateError, ValidationError
from hpo.records import TrialState

SPACE = {"x": hpo.Float(0.0, 1.0)}
FAILING = (1, 2, 3, 5, 6, 7)  # 6 of the first 10 trials fail; trial 0 completes, so fail_fast never trips


def _study(url: str, name: str = "s", **kwargs: Any) -> Any:
    return hpo.create_study(name=name, space=SPACE, storage=url, sampler="random", seed=0, **kwargs)


def _oom(trial: Any) -> float:
    if trial.number in FAILING:
        raise RuntimeError("CUDA out of memory")
    return trial["x"]


# -- Python: warning, log lines, progress bar, fail-fast ------------------------------------------------
def test_optimize_warns_with_the_count_and_first_error(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    with pytest.warns(TrialFailuresWarning) as caught:
        study.optimize(_oom, n_trials=10, show_progress_bar=False)
    (message,) = [str(w.message) for w in caught if issubclass(w.category, TrialFailuresWarning)]
    assert "6 of 10 trials failed" in message
    assert "first error: RuntimeError: CUDA out of memory" in message
    assert "study.trials[1].error" in message and "hpo trial s 1" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrialFailuresWarning)  # a call without failures stays quiet
        study.optimize(lambda t: t["x"], n_trials=2, show_progress_bar=False)


def test_each_finished_trial_is_logged_and_the_library_is_silent_by_default(
        sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("hpo").handlers)
    study = _study(sqlite_url)
    with caplog.at_level(logging.INFO, logger="hpo"), pytest.warns(TrialFailuresWarning):
        study.optimize(_oom, n_trials=3, show_progress_bar=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "hpo.execution"]
    assert len(lines) == 3
    assert lines[0].startswith("s: trial 0 COMPLETE value=") and lines[0].endswith(" s)")
    assert lines[1].startswith("s: trial 1 FAILED: RuntimeError: CUDA out of memory (")


def test_progress_bar_shows_the_failures_and_the_first_error(sqlite_url: str, capsys: Any) -> None:
    study = _study(sqlite_url)
    with pytest.warns(TrialFailuresWarning):
        study.optimize(_oom, n_trials=4, show_progress_bar=True)
    err = capsys.readouterr().err
    assert "3 failed (first: RuntimeError: CUDA out of memory)" in err


def test_fail_fast_stops_when_the_first_trials_all_fail_alike(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    with pytest.raises(AllTrialsFailedError, match=r"first 5 trials .* ZeroDivisionError: division by zero") as info:
        study.optimize(lambda t: 1 / 0, n_trials=50, show_progress_bar=False)
    assert "hpo trial s 0" in str(info.value)
    assert info.value.numbers == (0, 1, 2, 3, 4) and info.value.error == "ZeroDivisionError: division by zero"
    assert len(study.trials) == 5  # not 50

    with pytest.raises(AllTrialsFailedError):  # configurable
        study.optimize(lambda t: 1 / 0, n_trials=50, fail_fast=2, show_progress_bar=False)
    assert len(study.trials) == 7
    with pytest.warns(TrialFailuresWarning, match="6 of 6 trials failed"):
        study.optimize(lambda t: 1 / 0, n_trials=6, fail_fast=None, show_progress_bar=False)
    assert len(study.trials) == 13


def test_fail_fast_needs_the_same_error(sqlite_url: str) -> None:
    study = _study(sqlite_url)

    def alternating(trial: Any) -> float:
        raise (KeyError("a") if trial.number % 2 else ValueError("b"))

    with pytest.warns(TrialFailuresWarning, match="8 of 8 trials failed"):
        study.optimize(alternating, n_trials=8, show_progress_bar=False)
    with pytest.raises(hpo.errors.ConfigError, match="fail_fast"):
        study.optimize(alternating, n_trials=1, fail_fast=-1)


# -- Python: stop(), best_trials, user attrs ----------------------------------------------------------
@pytest.mark.parametrize("n_workers", [1, 2])
def test_stop_from_the_objective_ends_the_call(sqlite_url: str, n_workers: int) -> None:
    study = _study(sqlite_url)

    def objective(trial: Any) -> float:
        if trial.number == 2:
            trial.study.stop()
        return trial["x"]

    study.optimize(objective, n_trials=40, n_workers=n_workers, show_progress_bar=False)
    assert 3 <= len(study.trials) <= 2 + n_workers  # the running trials finish, no new one starts
    assert all(t.state is TrialState.COMPLETE for t in study.trials)


def test_stop_from_a_callback_and_outside_optimize(sqlite_url: str) -> None:
    study = _study(sqlite_url)

    def callback(s: Any, frozen: Any) -> None:
        if frozen.number == 3:
            s.stop()

    study.optimize(lambda t: t["x"], n_trials=40, callbacks=[callback], show_progress_bar=False)
    assert len(study.trials) == 4
    with pytest.raises(TrialStateError, match="no optimize"):
        study.stop()
    study.optimize(lambda t: t["x"], n_trials=2, show_progress_bar=False)  # a new call runs again
    assert len(study.trials) == 6


def test_best_trials(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    assert study.best_trials == []
    study.optimize(lambda t: t["x"], n_trials=5, show_progress_bar=False)
    assert [t.number for t in study.best_trials] == [study.best_trial.number]
    multi = hpo.create_study(name="m", space=SPACE, storage=sqlite_url, sampler="random", seed=0,
                             objectives={"a": "minimize", "b": "minimize"})
    multi.optimize(lambda t: {"a": t["x"], "b": 1 - t["x"]}, n_trials=4, show_progress_bar=False)
    assert [t.number for t in multi.best_trials] == [t.number for t in multi.pareto_front()] == [0, 1, 2, 3]


def test_user_attrs_round_trip(storage_url: str) -> None:
    study = _study(storage_url, name="attrs")

    def objective(trial: Any) -> float:
        trial.set_user_attr("acc", 0.5 + trial.number)
        trial.set_user_attr("notes", {"fold": [1, 2]})
        assert trial.user_attrs == {"acc": 0.5 + trial.number, "notes": {"fold": [1, 2]}}
        with pytest.raises(ValidationError, match="JSON"):
            trial.set_user_attr("bad", float("nan"))
        if trial.number == 1:
            raise RuntimeError("boom")  # kept on a failed trial too
        return trial["x"]

    with pytest.warns(TrialFailuresWarning):
        study.optimize(objective, n_trials=3, show_progress_bar=False)
    again = hpo.load_study("attrs", storage_url)
    assert [t.user_attrs["acc"] for t in again.trials] == [0.5, 1.5, 2.5]
    assert again.trials[1].state is TrialState.FAILED and again.trials[1].user_attrs["notes"] == {"fold": [1, 2]}
    frame = again.trials_dataframe()
    assert frame["user_attrs_acc"].tolist() == [0.5, 1.5, 2.5]
    assert frame["user_attrs_notes"].tolist() == [{"fold": [1, 2]}] * 3
    assert frame.columns.tolist()[-1] == "error"

    trial = study.ask()
    study.tell(trial, 0.1)
    with pytest.raises(TrialStateError, match="COMPLETE"):
        trial.set_user_attr("late", 1)

    study.set_user_attr("owner", "ana")
    study.set_user_attr("dataset", ["digits", 1797])
    assert study.user_attrs == {"owner": "ana", "dataset": ["digits", 1797]}
    assert hpo.load_study("attrs", storage_url).user_attrs == study.user_attrs
    with pytest.raises(ValidationError, match="key"):
        study.set_user_attr("", 1)


# -- the CLI, as a user runs it ----------------------------------------------------------------------
CLI_OBJECTIVE = '''
import os

def objective(trial):
    mode = os.environ["HPO_TEST_MODE"]
    if mode == "all" or (mode == "some" and trial.number in (1, 2, 3, 5, 6, 7)):
        raise RuntimeError("CUDA out of memory")
    return trial["x"]
'''


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Any]:
    """``run(mode, *args)``: the installed ``hpo`` script in ``tmp_path``, on a config over ``url``."""
    module = f"hpo_fail_obj_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{module}.py").write_text(CLI_OBJECTIVE, encoding="utf-8")
    url = f"sqlite:///{tmp_path}/cli.db"
    cfg = tmp_path / "study.yaml"
    cfg.write_text(f"name: oom\nobjective: {module}:objective\nstorage: {url}\nobjectives: {{loss: minimize}}\n"
                   "space:\n  x: {type: float, low: 0, high: 1}\nsampler: random\nseed: 0\nn_trials: 10\n",
                   encoding="utf-8")
    script = Path(sys.executable).parent / "hpo"

    def run(mode: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**{k: v for k, v in os.environ.items() if k != "HPO_STORAGE"}, "HPO_TEST_MODE": mode}
        args = tuple(str(cfg) if a == "CFG" else a for a in args)
        return subprocess.run([str(script), *args], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=300)

    run.url = url  # type: ignore[attr-defined]
    yield run


def test_cli_run_where_every_trial_fails_exits_3(cli: Any) -> None:
    done = cli("all", "run", "CFG", "--no-progress")
    assert done.returncode == 3, done.stderr
    assert "(no completed trials yet)" in done.stdout
    assert "5 of 5 trials of this run failed; first error (trial 0): RuntimeError: CUDA out of memory" in done.stdout
    assert "first 5 trials" in done.stdout  # fail-fast stopped it, not the 10 of n_trials
    assert "[hpo] oom: trial 0 FAILED: RuntimeError: CUDA out of memory" in done.stderr
    quiet = cli("all", "-q", "run", "CFG", "--no-progress", "--fail-fast", "0")
    assert quiet.returncode == 3
    assert "[hpo]" not in quiet.stderr
    assert "5 of 5 trials of this run failed" in quiet.stdout  # the 5 still missing from n_trials: 10


def test_cli_some_failures_are_reported_and_shown(cli: Any) -> None:
    done = cli("some", "run", "CFG", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "best 4 of 4 completed trials" in done.stdout
    assert "6 of 10 trials of this run failed; first error (trial 1): RuntimeError: CUDA out of memory" in done.stdout
    assert done.stderr.count("FAILED: RuntimeError: CUDA out of memory") == 6

    status = cli("some", "status", "oom", "--storage", cli.url)
    assert status.returncode == 0, status.stderr
    assert "failed trials (hpo trial oom N shows the traceback):" in status.stdout
    assert "  trial 1: RuntimeError: CUDA out of memory" in status.stdout
    assert "  +1 more" in status.stdout

    table = cli("some", "trials", "oom", "--state", "failed", "--limit", "2", "--storage", cli.url)
    assert table.returncode == 0, table.stderr
    rows = [line.split()[:2] for line in table.stdout.splitlines()[2:4]]
    assert rows == [["6", "FAILED"], ["7", "FAILED"]]
    assert "2 of 6 shown" in table.stdout

    one = cli("some", "trial", "oom", "1", "--storage", cli.url)
    assert one.returncode == 0, one.stderr
    assert "trial 1: FAILED" in one.stdout and "params:" in one.stdout and '"x":' in one.stdout
    assert "Traceback (most recent call last)" in one.stdout
    assert one.stdout.rstrip().endswith("RuntimeError: CUDA out of memory")
    missing = cli("some", "trial", "oom", "99", "--storage", cli.url)
    assert missing.returncode == 2 and "99" in missing.stderr


def test_cli_n_trials_is_the_study_total(cli: Any) -> None:
    first = cli("none", "run", "CFG", "--no-progress", "--n-trials", "6")
    assert first.returncode == 0, first.stderr
    assert "running 6 (to reach n_trials=6, the study's total)" in first.stdout
    again = cli("none", "run", "CFG", "--no-progress", "--n-trials", "4")
    assert again.returncode == 0, again.stderr
    assert "already has 6 of 4 trials: nothing to run" in again.stdout
    assert len(hpo.load_study("oom", cli.url).trials) == 6

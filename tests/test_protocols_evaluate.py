"""Tuning protocols, the test phase: ``study.evaluate`` and ``hpo evaluate`` re-run the best tuning
configurations on the test seeds / evaluation data set; idempotent, resumable after a SIGKILL, on threads
and on Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.errors import ConfigError, ProtocolError, TrialFailuresWarning
from hpo.protocols import DatasetSplit, SeedSplit
from hpo.records import TrialState

SPACE = {"x": hpo.Float(0.0, 1.0)}
SPLIT = SeedSplit(tuning=[0, 1, 2], test=[5, 6, 7], aggregate="mean")


def tune(trial: Any) -> dict[int, float]:
    return {s: trial["x"] + 0.01 * s for s in trial.seeds}


def test_objective(trial: Any) -> dict[int, float]:
    return {s: 10.0 * trial["x"] + s for s in trial.seeds}


test_objective.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _tuned(url: str, protocol: Any = SPLIT, n: int = 4) -> hpo.Study:
    study = hpo.create_study("ev", SPACE, storage=url, sampler="random", seed=0, protocol=protocol)
    study.optimize(tune, n_trials=n, show_progress_bar=False)
    return study


def _tests(study: hpo.Study) -> list[Any]:
    return [e for e in study.store.get_evaluations(study.study_id) if e.split == "test"]


def test_evaluate_reruns_top_k_and_is_idempotent(tmp_path: Path) -> None:
    study = _tuned(f"sqlite:///{tmp_path}/s.db")
    calls: list[tuple[int, tuple[int, ...]]] = []
    lock = threading.Lock()

    def objective(trial: Any) -> dict[int, float]:
        assert trial.phase == "test" and trial.dataset is None
        assert trial.suggest_float("x", 0.0, 1.0) == trial["x"]
        with lock:
            calls.append((trial.number, trial.seeds))
        return test_objective(trial)

    first = study.evaluate(objective, top_k=2, n_jobs=2)
    best = sorted(study.get_trials([TrialState.COMPLETE]), key=lambda t: (t.values["value"], t.number))[:2]
    assert [r.number for r in first] == [t.number for t in best]
    assert sorted(calls) == sorted((t.number, (s,)) for t in best for s in SPLIT.test)
    for r, t in zip(first, best):
        assert r.tuning_value == t.values["value"]
        assert r.test_value == pytest.approx(10.0 * t.params["x"] + 6.0)  # mean over seeds 5, 6, 7
        assert (r.n_test, r.n_seeds) == (3, 3)
    calls.clear()
    again = study.evaluate(objective, top_k=2, n_jobs=2)
    assert calls == [] and again == first
    assert len(_tests(study)) == 6
    # a larger top_k runs only the new configurations
    study.evaluate(objective, top_k=3)
    assert len(calls) == 3 and {n for n, _ in calls} == {r.number for r in study.evaluate(objective, top_k=3)[2:]}


def test_failed_seed_is_stored_and_rerun(tmp_path: Path) -> None:
    study = _tuned(f"sqlite:///{tmp_path}/s.db")

    def flaky(trial: Any) -> None:
        if trial.seeds == (6,):
            raise RuntimeError("diverged")
        trial.report_seed(trial.seeds[0], 1.0)

    (result,) = study.evaluate(flaky, top_k=1)
    assert (result.n_test, result.test_value) == (2, 1.0)
    failed = [e for e in _tests(study) if e.state is TrialState.FAILED]
    assert [e.seed for e in failed] == [6] and "diverged" in (failed[0].error or "")
    (result,) = study.evaluate(lambda t: {t.seeds[0]: 4.0}, top_k=1)
    assert (result.n_test, result.test_value) == (3, 2.0)
    assert all(e.state is TrialState.COMPLETE for e in _tests(study)) and len(_tests(study)) == 3


def test_evaluate_on_the_evaluation_data_set(tmp_path: Path) -> None:
    study = _tuned(f"sqlite:///{tmp_path}/s.db", DatasetSplit(tuning="digits", evaluation="mnist1d", seeds=[0, 1]))
    seen: list[Any] = []
    study.evaluate(lambda t: seen.append(t.dataset) or {t.seeds[0]: 0.5}, top_k=1)
    assert seen == ["mnist1d", "mnist1d"]
    assert [(e.seed, e.dataset) for e in _tests(study)] == [(0, "mnist1d"), (1, "mnist1d")]


def test_evaluate_is_refused_without_protocol_or_with_bad_arguments(tmp_path: Path) -> None:
    plain = hpo.create_study("plain", SPACE, storage=f"sqlite:///{tmp_path}/s.db", sampler="random")
    with pytest.raises(ProtocolError, match="no tuning protocol"):
        plain.evaluate(test_objective)
    study = _tuned(f"sqlite:///{tmp_path}/t.db")
    with pytest.raises(ProtocolError, match="phase must be 'test'"):
        study.evaluate(test_objective, phase="tuning")
    with pytest.raises(ConfigError, match="top_k"):
        study.evaluate(test_objective, top_k=0)
    with pytest.raises(ConfigError, match="backend"):
        study.evaluate(test_objective, backend="dask")
    assert _tests(study) == []


_KILLED = """
import sys, time
import hpo

def objective(trial):
    if trial.number == {slow} and trial.seeds == (7,):
        open({ready!r}, "w").close()
        time.sleep(300)  # killed here
    return {{s: 10.0 * trial["x"] + s for s in trial.seeds}}

study = hpo.load_study("ev", {url!r})
study.evaluate(objective, top_k=2, n_jobs=1)
"""


def test_evaluate_resumes_after_sigkill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    study = _tuned(url)
    from hpo.protocols.evaluate import top_trials

    best = [t.number for t in top_trials(study, 2)]
    ready = tmp_path / "ready"
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(_KILLED.format(slow=best[1], ready=str(ready), url=url)))
    proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for _ in range(1200):
            if ready.exists() and len(_tests(study)) >= 5 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the evaluate subprocess ended before it was killed"
        assert len(_tests(study)) == 5  # 3 seeds of the best, 2 of the second stored before the kill
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    calls: list[tuple[int, tuple[int, ...]]] = []
    results = study.evaluate(lambda t: calls.append((t.number, t.seeds)) or test_objective(t), top_k=2)
    assert calls == [(best[1], (7,))]  # only the run the kill interrupted
    assert all(r.n_test == 3 for r in results) and len(_tests(study)) == 6


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    pytest.importorskip("ray")
    from hpo.testing.ray_local import local_ray

    with local_ray(num_cpus=2) as r:
        yield r


def test_evaluate_on_ray(tmp_path: Path, ray_session: Any) -> None:
    study = _tuned(f"sqlite:///{tmp_path}/s.db")
    results = study.evaluate(test_objective, top_k=2, n_jobs=2, backend="ray")
    by_number = {t.number: t for t in study.trials}
    for r in results:
        assert r.test_value == pytest.approx(10.0 * by_number[r.number].params["x"] + 6.0)
        assert r.n_test == 3
    assert len(_tests(study)) == 6
    assert study.evaluate(test_objective, top_k=2, backend="ray") == results  # nothing left to run


def reported(trial: Any) -> None:
    for s in trial.seeds:
        trial.report_seed(s, trial["x"] + 0.01 * s)


def leaks_a_test_seed(trial: Any) -> None:
    trial.report_seed(5, trial["x"])


@pytest.mark.parametrize("objective", [tune, reported], ids=["returns-mapping", "report_seed"])
def test_protocol_study_tunes_on_ray(tmp_path: Path, ray_session: Any, objective: Any) -> None:
    study = hpo.create_study("ray", SPACE, storage=f"sqlite:///{tmp_path}/s.db", sampler="random", seed=0,
                             protocol=SPLIT)
    study.optimize(objective, n_trials=3, n_jobs=2, backend="ray", show_progress_bar=False)
    trials = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert len(trials) == 3
    evals = study.store.get_evaluations(study.study_id)
    assert {e.split for e in evals} == {"tuning"}
    for t in trials:
        assert sorted(e.seed for e in evals if e.trial_number == t.number) == [0, 1, 2]
        assert t.value == pytest.approx(t.params["x"] + 0.01)  # the mean over seeds 0, 1, 2
        assert t.attrs["seed_spread"]["value"]["n"] == 3


def test_ray_worker_refuses_a_test_seed(tmp_path: Path, ray_session: Any) -> None:
    study = hpo.create_study("leak", SPACE, storage=f"sqlite:///{tmp_path}/s.db", sampler="random", seed=0,
                             protocol=SPLIT)
    with pytest.warns(TrialFailuresWarning):  # as on threads: the trial fails, the study goes on
        study.optimize(leaks_a_test_seed, n_trials=2, backend="ray", show_progress_bar=False)
    assert [t.state for t in study.trials] == [TrialState.FAILED] * 2
    assert "ProtocolError: trial 0: seed 5 is not one of the tuning seeds [0, 1, 2] (it is a test seed)" in (
        study.trials[0].error or "")
    assert study.store.get_evaluations(study.study_id) == []


def test_hpo_evaluate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.cli import main

    (tmp_path / "objective_mod.py").write_text(textwrap.dedent("""
        def objective(trial):
            scale = 10.0 if trial.phase == "test" else 1.0
            return {s: scale * trial["x"] + s for s in trial.seeds}
    """))
    (tmp_path / "study.yaml").write_text(
        "name: cli\nobjective: objective_mod:objective\nstorage: sqlite:///s.db\nsampler: random\nseed: 0\n"
        "n_trials: 3\nspace: {x: {type: float, low: 0, high: 1}}\n"
        "protocol: {kind: seeds, tuning: [0, 1], test: [5, 6], aggregate: median}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["run", str(tmp_path / "study.yaml"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "study.yaml"), "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 configuration(s) on the test seeds" in out and out.count(" 2/2") == 2
    study = hpo.load_study("cli", f"sqlite:///{tmp_path / 's.db'}")
    assert len(_tests(study)) == 4
    assert main(["evaluate", str(tmp_path / "study.yaml"), "--top-k", "2"]) == 0  # idempotent
    assert len(_tests(study)) == 4
    (tmp_path / "plain.yaml").write_text(
        "name: plain\nobjective: objective_mod:objective\nstorage: sqlite:///s.db\n"
        "space: {x: {type: float, low: 0, high: 1}}\n")
    assert main(["evaluate", str(tmp_path / "plain.yaml")]) == 2
    assert "no protocol" in capsys.readouterr().err

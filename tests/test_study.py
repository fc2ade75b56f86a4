"""The study API as a user relies on it: ask/tell, enqueue, optimize, results, samplers, store."""

from __future__ import annotations

import math
import random
import threading
import time
from typing import Any

import numpy as np
import pytest

import hpo
from hpo.errors import (
    DuplicateStudyError,
    HpoError,
    NoCompletedTrialsError,
    ObjectiveError,
    SamplerError,
    SpaceError,
    StudyNotFoundError,
    TrialNotFoundError,
    TrialStateError,
    UnknownNameError,
    ValueTypeError,
)
from hpo.records import TrialState

SPACE = {"x": hpo.Float(-5.0, 5.0), "n": hpo.Int(1, 10), "c": hpo.Categorical(["a", "b", "c"])}


def _quad(trial: Any) -> float:
    p = trial.params
    return (p["x"] - 1.0) ** 2 + p["n"] / 10 + {"a": 0.0, "b": 0.5, "c": 1.0}[p["c"]]


def _study(url: str, name: str = "s", **kwargs: Any) -> Any:
    kwargs.setdefault("space", SPACE)
    kwargs.setdefault("sampler", "random")
    kwargs.setdefault("seed", 0)
    return hpo.create_study(name=name, storage=url, **kwargs)


# -- ask / tell -------------------------------------------------------------------------
def test_ask_tell_round_trip(storage_url: str) -> None:
    study = _study(storage_url)
    trial = study.ask()
    assert trial.number == 0
    assert set(trial.params) == {"x", "n", "c"}
    assert trial["x"] == trial.params["x"]
    assert study.space.validate(trial.params) == trial.params
    assert study.get_trials([TrialState.RUNNING])[0].number == 0

    frozen = study.tell(trial, 1.25)
    assert frozen.state is TrialState.COMPLETE
    assert frozen.values == {"value": 1.25}
    stored = hpo.load_study("s", storage_url).trials
    assert [(t.number, t.state, t.values, t.params) for t in stored] == [
        (0, TrialState.COMPLETE, {"value": 1.25}, trial.params)
    ]

    second = study.ask()
    assert second.number == 1
    study.tell(second.number, 0.5)  # by number
    assert study.best_trial.number == 1


def test_tell_twice_and_unknown_number_raise(storage_url: str) -> None:
    study = _study(storage_url)
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(TrialStateError):
        study.tell(trial, 2.0)
    with pytest.raises(TrialStateError):
        study.tell(trial, state="FAILED")
    assert study.trials[0].values == {"value": 1.0}
    with pytest.raises(HpoError) as info:
        study.tell(99, 1.0)
    assert isinstance(info.value, (TrialNotFoundError, TrialStateError))
    assert len(study.trials) == 1


def test_tell_rejects_non_trial_and_unfinished_state(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    trial = study.ask()
    with pytest.raises(TrialStateError):
        study.tell("0", 1.0)
    with pytest.raises(TrialStateError):
        study.tell(True, 1.0)
    with pytest.raises(TrialStateError):
        study.tell(trial, 1.0, state="RUNNING")
    with pytest.raises(ObjectiveError):
        study.tell(trial, 1.0, state="DONE")
    with pytest.raises(ObjectiveError):
        study.tell(trial)  # COMPLETE without values
    assert study.trials[0].state is TrialState.RUNNING


def test_tell_string_raises_and_trial_stays_running(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    trial = study.ask()
    with pytest.raises(ValueTypeError):
        study.tell(trial, "abc")
    with pytest.raises(ValueTypeError):
        study.tell(trial, True)
    with pytest.raises(ValueTypeError):
        study.tell(trial, [None])
    (stored,) = study.trials
    assert stored.state is TrialState.RUNNING
    assert stored.values is None
    study.tell(trial, 3.0)  # still tellable
    assert study.trials[0].values == {"value": 3.0}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_tell_non_finite_fails_the_trial(sqlite_url: str, bad: float) -> None:
    study = _study(sqlite_url)
    trial = study.ask()
    frozen = study.tell(trial, bad)
    assert frozen.state is TrialState.FAILED
    assert "value=" in frozen.error and str(float(bad)) in frozen.error
    assert frozen.values is None
    with pytest.raises(NoCompletedTrialsError):
        study.best_trial


def test_tell_numpy_and_torch_scalars(sqlite_url: str) -> None:
    torch = pytest.importorskip("torch")
    study = _study(sqlite_url)
    for value in (np.float32(0.5), np.array(0.25), np.int64(2), torch.tensor(0.125), torch.tensor([0.75])):
        trial = study.ask()
        frozen = study.tell(trial, value)
        assert frozen.state is TrialState.COMPLETE
        assert isinstance(frozen.values["value"], float)
        assert frozen.values["value"] == pytest.approx(float(value))
    trial = study.ask()
    with pytest.raises(ValueTypeError):
        study.tell(trial, np.array([1.0, 2.0]))


def test_tell_huge_integer_is_not_finite(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    trial = study.ask()
    frozen = study.tell(trial, 10**400)
    assert frozen.state is TrialState.FAILED
    assert "non-finite" in frozen.error


# -- values validation ---------------------------------------------------------------------
def test_values_validation(sqlite_url: str) -> None:
    study = _study(sqlite_url, objectives={"loss": "minimize", "acc": "maximize"})
    trial = study.ask()
    with pytest.raises(ObjectiveError, match="missing"):
        study.tell(trial, {"loss": 1.0})
    with pytest.raises(ObjectiveError, match="unknown"):
        study.tell(trial, {"loss": 1.0, "acc": 0.5, "bogus": 2.0})
    with pytest.raises(ObjectiveError, match="unknown"):
        study.tell(trial, {"loss": 1.0, "acc": 0.5, 3: 2.0, None: 1.0})  # mixed key types
    with pytest.raises(ObjectiveError, match="expected 2"):
        study.tell(trial, [1.0])
    with pytest.raises(ObjectiveError, match="expected 2"):
        study.tell(trial, (1.0, 2.0, 3.0))
    with pytest.raises(ObjectiveError):
        study.tell(trial, 1.0)
    assert study.trials[0].state is TrialState.RUNNING
    assert study.tell(trial, (1.0, 0.5)).values == {"loss": 1.0, "acc": 0.5}


def test_constraints_must_be_in_the_mapping(sqlite_url: str) -> None:
    study = _study(sqlite_url, constraints={"mem": ("<=", 16)})
    trial = study.ask()
    with pytest.raises(ObjectiveError, match="mem"):
        study.tell(trial, 1.0)
    with pytest.raises(ObjectiveError, match="mem"):
        study.tell(trial, [1.0])
    with pytest.raises(ObjectiveError, match="mem"):
        study.tell(trial, {"value": 1.0})
    frozen = study.tell(trial, {"value": 1.0, "mem": 8})
    assert frozen.values == {"value": 1.0}
    assert frozen.constraint_values == {"mem": 8.0}


# -- enqueue -------------------------------------------------------------------------------
def test_enqueue_is_asked_first_in_order(storage_url: str) -> None:
    study = _study(storage_url)
    first = study.enqueue({"x": 0.5, "n": 3, "c": "b"})
    second = study.enqueue({"x": -1.0, "n": 7, "c": "a"}, attrs={"why": "baseline"})
    assert (first, second) == (0, 1)
    assert [t.state for t in study.trials] == [TrialState.WAITING, TrialState.WAITING]

    a, b, c = study.ask(), study.ask(), study.ask()
    assert (a.number, a.params) == (0, {"x": 0.5, "n": 3, "c": "b"})
    assert (b.number, b.params) == (1, {"x": -1.0, "n": 7, "c": "a"})
    assert a.attrs.get("enqueued") is True and b.attrs == {"enqueued": True, "why": "baseline"}
    assert c.number == 2 and not c.attrs.get("enqueued")
    for t in (a, b, c):
        study.tell(t, _quad(t))
    assert all(t.state is TrialState.COMPLETE for t in study.trials)


@pytest.mark.parametrize(
    "params",
    [
        {"x": 6.0, "n": 3, "c": "a"},  # out of range
        {"x": 0.0, "n": 3},  # missing
        {"x": 0.0, "n": 3, "c": "z"},  # not a choice
        {"x": 0.0, "n": 3, "c": "a", "y": 1},  # unknown name
        {"x": "0.5", "n": 3, "c": "a"},  # wrong type
        {"x": 0.0, "n": 2.5, "c": "a"},  # not an integer
        {"x": math.nan, "n": 2, "c": "a"},
    ],
)
def test_enqueue_invalid_params_writes_nothing(storage_url: str, params: dict) -> None:
    study = _study(storage_url)
    with pytest.raises(SpaceError):
        study.enqueue(params)
    assert study.trials == []
    with pytest.raises(SpaceError):
        study.enqueue([("x", 0.0)])  # not a mapping
    assert study.trials == []


def test_enqueue_with_optimize(sqlite_url: str) -> None:
    study = _study(sqlite_url, sampler="tpe")
    study.enqueue({"x": 1.0, "n": 1, "c": "a"})
    study.optimize(_quad, n_trials=3, show_progress_bar=False)
    assert study.trials[0].params == {"x": 1.0, "n": 1, "c": "a"}
    assert study.best_params == {"x": 1.0, "n": 1, "c": "a"}
    assert study.best_value == pytest.approx(0.1)


# -- optimize ------------------------------------------------------------------------------
def test_optimize_float_objective(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    seen: list[int] = []
    study.optimize(_quad, n_trials=7, callbacks=[lambda s, ft: seen.append(ft.number)], show_progress_bar=False)
    trials = study.trials
    assert len(trials) == 7
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert seen == list(range(7))
    for t in trials:
        assert t.values["value"] == pytest.approx(_quad(t))
    study.optimize(_quad, n_trials=2, show_progress_bar=False)  # n_trials is per call
    assert len(study.trials) == 9
    study.optimize(_quad, n_trials=0, show_progress_bar=False)
    assert len(study.trials) == 9


def test_optimize_dict_and_sequence_objectives(sqlite_url: str) -> None:
    study = _study(sqlite_url, objectives={"loss": "minimize", "size": "maximize"})
    study.optimize(lambda t: {"loss": t["x"] ** 2, "size": t["n"]}, n_trials=4, show_progress_bar=False)
    study.optimize(lambda t: (t["x"] ** 2, t["n"]), n_trials=3, show_progress_bar=False)
    study.optimize(lambda t: [t["x"] ** 2, float(t["n"])], n_trials=2, show_progress_bar=False)
    trials = study.trials
    assert len(trials) == 9
    for t in trials:
        assert t.state is TrialState.COMPLETE, t.error
        assert t.values == {"loss": pytest.approx(t.params["x"] ** 2), "size": t.params["n"]}


def test_optimize_callbacks_get_study_and_frozen_trial(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    calls: list[tuple[Any, int, TrialState]] = []
    study.optimize(
        lambda t: 1.0 if t.number % 2 else float("nan"),
        n_trials=4,
        callbacks=[lambda s, ft: calls.append((s, ft.number, ft.state))],
        show_progress_bar=False,
    )
    assert [c[0] for c in calls] == [study] * 4
    assert [(n, st) for _, n, st in calls] == [
        (0, TrialState.FAILED), (1, TrialState.COMPLETE), (2, TrialState.FAILED), (3, TrialState.COMPLETE)
    ]


def test_optimize_timeout_stops(sqlite_url: str) -> None:
    study = _study(sqlite_url)

    def slow(trial: Any) -> float:
        time.sleep(0.05)
        return _quad(trial)

    study.optimize(slow, timeout=0.3, show_progress_bar=False)  # no n_trials: only the timeout stops it
    trials = study.trials
    assert len(trials) >= 1
    assert all(t.state is TrialState.COMPLETE for t in trials)
    study.optimize(slow, n_trials=1000, timeout=0.2, show_progress_bar=False)
    assert len(study.trials) < len(trials) + 1000


def test_optimize_n_workers_threads(storage_url: str) -> None:
    study = _study(storage_url, sampler="tpe")
    threads: set[str] = set()
    lock = threading.Lock()

    def objective(trial: Any) -> float:
        with lock:
            threads.add(threading.current_thread().name)
        time.sleep(0.01)
        return _quad(trial)

    study.optimize(objective, n_trials=12, n_workers=2, show_progress_bar=False)
    trials = study.trials
    assert len(trials) == 12
    assert sorted(t.number for t in trials) == list(range(12))
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert len({t.worker_id for t in trials}) >= 1
    assert all(name.startswith("hpo-worker") for name in threads)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_optimize_rejects_bad_run_arguments(sqlite_url: str, bad: Any) -> None:
    study = _study(sqlite_url)
    with pytest.raises(hpo.errors.ConfigError):
        study.optimize(_quad, n_trials=1, n_workers=bad, show_progress_bar=False)
    for timeout in (0, -1.0, math.nan, "1"):
        with pytest.raises(hpo.errors.ConfigError):
            study.optimize(_quad, n_trials=1, timeout=timeout, show_progress_bar=False)
    with pytest.raises(hpo.errors.ConfigError):
        study.optimize(_quad, n_trials=-1, show_progress_bar=False)
    assert study.trials == []


def test_failing_objective_is_recorded_and_study_goes_on(sqlite_url: str) -> None:
    study = _study(sqlite_url)

    def objective(trial: Any) -> float:
        if trial.number == 1:
            raise RuntimeError("boom at trial one")
        return _quad(trial)

    study.optimize(objective, n_trials=4, show_progress_bar=False)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAILED, TrialState.COMPLETE, TrialState.COMPLETE]
    failed = study.trials[1]
    assert "boom at trial one" in failed.error
    assert "Traceback" in failed.error and "RuntimeError" in failed.error
    assert failed.values is None


def test_exception_not_in_catch_propagates_and_fails_the_trial(sqlite_url: str) -> None:
    study = _study(sqlite_url)

    def objective(trial: Any) -> float:
        if trial.number == 2:
            raise KeyError("not caught")
        if trial.number == 1:
            raise ValueError("caught")
        return 1.0

    with pytest.raises(KeyError, match="not caught"):
        study.optimize(objective, n_trials=10, catch=(ValueError,), show_progress_bar=False)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAILED, TrialState.FAILED]
    assert "caught" in trials[1].error
    assert "not caught" in trials[2].error
    assert study.get_trials(["RUNNING"]) == []

    with pytest.raises(ZeroDivisionError):
        study.optimize(lambda t: 1 / 0, n_trials=3, catch=(), show_progress_bar=False)
    assert study.trials[-1].state is TrialState.FAILED
    assert len(study.trials) == 4


def test_pruned_objective(sqlite_url: str) -> None:
    study = _study(sqlite_url)

    def objective(trial: Any) -> float:
        trial.report(0, 5.0)
        if trial.number % 2:
            raise hpo.TrialPruned()
        return 1.0

    study.optimize(objective, n_trials=4, show_progress_bar=False)
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE, TrialState.PRUNED
    ]
    assert study.best_trial.number == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_objective_is_failed_never_complete(sqlite_url: str, bad: float) -> None:
    study = _study(sqlite_url, objectives={"a": "minimize", "b": "maximize"})
    study.optimize(lambda t: {"a": 1.0, "b": bad}, n_trials=2, show_progress_bar=False)
    study.optimize(lambda t: (bad, 2.0), n_trials=1, show_progress_bar=False)
    trials = study.trials
    assert len(trials) == 3
    for t in trials:
        assert t.state is TrialState.FAILED
        assert t.values is None
        assert str(bad) in t.error
    assert t.error and ("b=" in trials[0].error) and ("a=" in trials[2].error)
    assert study.pareto_front() == []


@pytest.mark.parametrize("bad", ["abc", None, [1.0, 2.0], {"nope": 1.0}, object()])
def test_objective_returning_invalid_value_fails_with_message(sqlite_url: str, bad: Any) -> None:
    study = _study(sqlite_url)
    study.optimize(lambda t: bad if t.number == 0 else 2.0, n_trials=3, show_progress_bar=False)
    trials = study.trials
    assert len(trials) == 3
    assert trials[0].state is TrialState.FAILED
    assert "invalid values" in trials[0].error or "no values" in trials[0].error
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETE] * 2


# -- best trial / Pareto front ------------------------------------------------------------------
def _tell_all(study: Any, values: list[Any]) -> list[int]:
    numbers = []
    for v in values:
        t = study.ask()
        study.tell(t, v)
        numbers.append(t.number)
    return numbers


def test_best_trial_minimize_and_maximize(sqlite_url: str) -> None:
    values = [3.0, -1.0, 7.5, -1.0, 2.0]
    lo = _study(sqlite_url, name="lo", objectives="minimize")
    hi = _study(sqlite_url, name="hi", objectives="maximize")
    named = _study(sqlite_url, name="named", objectives={"acc": "maximize"})
    for study in (lo, hi, named):
        with pytest.raises(NoCompletedTrialsError):
            study.best_trial
        with pytest.raises(NoCompletedTrialsError):
            study.best_params
        _tell_all(study, values)
    assert lo.best_trial.number == 1 and lo.best_value == -1.0  # ties: the earliest
    assert hi.best_trial.number == 2 and hi.best_value == 7.5
    assert named.best_value == 7.5 and named.best_trial.values == {"acc": 7.5}
    assert lo.best_params == lo.trials[1].params
    # a fresh Study object on the same store agrees
    assert hpo.load_study("hi", sqlite_url).best_trial.number == 2


def test_infeasible_trials_are_never_best(sqlite_url: str) -> None:
    study = _study(sqlite_url, constraints={"mem": ("<=", 16), "acc": (">=", 0.5)})
    _tell_all(
        study,
        [
            {"value": -100.0, "mem": 32, "acc": 0.9},  # mem too high
            {"value": -50.0, "mem": 8, "acc": 0.1},  # acc too low
            {"value": 5.0, "mem": 16, "acc": 0.5},  # feasible (bounds inclusive)
            {"value": 3.0, "mem": 1, "acc": 0.7},  # feasible, best
        ],
    )
    assert study.best_trial.number == 3
    assert study.best_value == 3.0
    assert [t.number for t in study.pareto_front()] == [3]

    only_bad = _study(sqlite_url, name="bad", constraints={"mem": ("<=", 16)})
    _tell_all(only_bad, [{"value": 1.0, "mem": 17}])
    with pytest.raises(NoCompletedTrialsError):
        only_bad.best_trial


def test_best_trial_on_multi_objective_raises(sqlite_url: str) -> None:
    study = _study(sqlite_url, objectives={"a": "minimize", "b": "minimize"})
    _tell_all(study, [(1.0, 2.0)])
    with pytest.raises(ObjectiveError, match="pareto_front"):
        study.best_trial
    with pytest.raises(ObjectiveError):
        study.best_value


def _brute_force_front(points: list[tuple[float, ...]], signs: list[float]) -> set[int]:
    front = set()
    for i, p in enumerate(points):
        pi = [s * v for s, v in zip(signs, p)]
        dominated = False
        for j, q in enumerate(points):
            qj = [s * v for s, v in zip(signs, q)]
            if j != i and all(a <= b for a, b in zip(qj, pi)) and any(a < b for a, b in zip(qj, pi)):
                dominated = True
                break
        if not dominated:
            front.add(i)
    return front


@pytest.mark.parametrize("seed", range(4))
def test_pareto_front_matches_brute_force(sqlite_url: str, seed: int) -> None:
    rng = random.Random(seed)
    directions = {"a": "minimize", "b": "maximize", "c": "minimize"}
    study = _study(sqlite_url, name=f"p{seed}", objectives=directions)
    points = [
        tuple(float(rng.randint(0, 5)) if rng.random() < 0.5 else rng.uniform(0, 5) for _ in range(3))
        for _ in range(40)
    ]
    numbers = _tell_all(study, points)
    failed = study.ask()
    study.tell(failed, state="FAILED", error="x")
    front = study.pareto_front()
    expected = {numbers[i] for i in _brute_force_front(points, [1.0, -1.0, 1.0])}
    assert [t.number for t in front] == sorted(expected)
    assert all(t.state is TrialState.COMPLETE for t in front)


def test_pareto_front_two_objectives_simple(sqlite_url: str) -> None:
    study = _study(sqlite_url, objectives={"a": "minimize", "b": "minimize"})
    _tell_all(study, [(1.0, 5.0), (2.0, 2.0), (3.0, 3.0), (5.0, 1.0), (2.0, 2.0)])
    assert [t.number for t in study.pareto_front()] == [0, 1, 3, 4]
    empty = _study(sqlite_url, name="empty", objectives={"a": "minimize", "b": "minimize"})
    assert empty.pareto_front() == []


# -- trials_dataframe --------------------------------------------------------------------------
def test_trials_dataframe(sqlite_url: str) -> None:
    study = _study(
        sqlite_url,
        space={"x": hpo.Float(0, 1), "opt": hpo.Categorical(["sgd", "adam"]),
               "mom": hpo.Float(0, 1, active_if={"opt": "sgd"})},
        objectives={"loss": "minimize"},
        constraints={"mem": ("<=", 4)},
    )
    study.enqueue({"x": 0.5, "opt": "sgd", "mom": 0.9})
    study.enqueue({"x": 0.25, "opt": "adam"})
    t0, t1, _t2 = study.ask(), study.ask(), study.ask()
    study.tell(t0, {"loss": 1.0, "mem": 2})
    study.tell(t1, state="FAILED", error="oops")
    frame = study.trials_dataframe()
    assert list(frame.columns) == [
        "number", "state", "values_loss", "constraints_mem", "feasible", "params_x", "params_opt", "params_mom",
        "datetime_start", "datetime_complete", "duration_s", "worker_id", "error",
    ]
    assert list(frame["number"]) == [0, 1, 2]
    assert list(frame["state"]) == ["COMPLETE", "FAILED", "RUNNING"]
    assert frame.loc[0, "values_loss"] == 1.0 and frame.loc[0, "constraints_mem"] == 2.0
    assert frame.loc[0, "params_mom"] == 0.9
    assert frame.loc[0, "feasible"] is True
    assert frame["feasible"].isna()[1]  # FAILED: not judged
    assert frame.loc[1, "params_opt"] == "adam" and frame["params_mom"].isna()[1]
    assert frame.loc[1, "error"] == "oops"
    assert frame["duration_s"].isna()[2] and frame.loc[0, "duration_s"] >= 0
    assert len(_study(sqlite_url, name="empty").trials_dataframe()) == 0


# -- determinism -------------------------------------------------------------------------------
DET_SPACE = {"x": hpo.Float(-5.0, 5.0), "y": hpo.Int(0, 10), "c": hpo.Categorical(["a", "b", "c"])}


def _det_objective(trial: Any) -> Any:
    p = trial.params
    value = (p["x"] - 1.0) ** 2 + (p["y"] - 3) ** 2 / 10 + {"a": 0.0, "b": 0.3, "c": 0.6}[p["c"]]
    return value


def _params_sequence(url: str, name: str, sampler: Any, seed: int, n: int = 15, **kwargs: Any) -> list[dict]:
    study = hpo.create_study(name=name, space=DET_SPACE, storage=url, sampler=sampler, seed=seed, **kwargs)
    study.optimize(_det_objective, n_trials=n, show_progress_bar=False)
    trials = study.trials
    assert len(trials) == n
    assert all(t.state is TrialState.COMPLETE for t in trials), [t.error for t in trials]
    return [t.params for t in trials]


@pytest.mark.parametrize("sampler", ["random", "sobol", "grid", "tpe", "cmaes", "nsga2"])
def test_seeded_samplers_are_deterministic(tmp_path: Any, sampler: str) -> None:
    spec: Any = sampler
    if sampler == "tpe":
        spec = {"name": "tpe", "options": {"n_startup_trials": 5}}
    elif sampler == "nsga2":
        spec = {"name": "nsga2", "options": {"population_size": 4}}
    a = _params_sequence(f"sqlite:///{tmp_path}/a.db", "det", spec, seed=3)
    b = _params_sequence(f"sqlite:///{tmp_path}/b.db", "det", spec, seed=3)
    assert a == b
    c = _params_sequence(f"sqlite:///{tmp_path}/c.db", "det", spec, seed=4)
    assert c != a  # grid: a shuffled order of 5*11*3 points, so two seeds differ too
    assert len({repr(p) for p in a}) > 1


def test_resumed_study_continues_the_same_sequence(tmp_path: Any) -> None:
    spec = {"name": "tpe", "options": {"n_startup_trials": 4}}
    whole = _params_sequence(f"sqlite:///{tmp_path}/whole.db", "r", spec, seed=1, n=10)
    url = f"sqlite:///{tmp_path}/parts.db"
    _params_sequence(url, "r", spec, seed=1, n=6)
    again = hpo.load_study("r", url)
    again.optimize(_det_objective, n_trials=4, show_progress_bar=False)
    assert [t.params for t in again.trials] == whole


# -- store: load / create / delete / list ---------------------------------------------------------
def test_load_study_rebuilds_the_sampler(sqlite_url: str) -> None:
    from hpo.samplers import BOSampler, GridSampler, SobolSampler
    from hpo.samplers.optuna_adapter import OptunaSampler

    _study(sqlite_url, name="tpe", sampler={"name": "tpe", "options": {"n_startup_trials": 3}})
    _study(sqlite_url, name="grid", sampler={"name": "grid", "options": {"resolution": 3, "shuffle": False}})
    _study(sqlite_url, name="sobol", sampler="sobol")
    _study(sqlite_url, name="default", sampler=None)

    tpe = hpo.load_study("tpe", sqlite_url)
    assert isinstance(tpe.sampler, OptunaSampler) and tpe.sampler.algorithm == "tpe"
    assert tpe.sampler.options()["n_startup_trials"] == 3
    grid = hpo.load_study("grid", sqlite_url)
    assert isinstance(grid.sampler, GridSampler)
    assert grid.sampler.options() == {"resolution": 3, "shuffle": False}
    assert isinstance(hpo.load_study("sobol", sqlite_url).sampler, SobolSampler)
    default = hpo.load_study("default", sqlite_url)
    assert isinstance(default.sampler, BOSampler) and default.sampler.surrogate.name == "gp"
    assert default.settings["sampler"]["name"] == "gp" == hpo.study.DEFAULT_SAMPLER
    _study(sqlite_url, name="default-mo", sampler=None, objectives={"a": "minimize", "b": "maximize"})
    default_mo = hpo.load_study("default-mo", sqlite_url)
    assert isinstance(default_mo.sampler, BOSampler) and default_mo.sampler.resolved_acquisition(2) == "nehvi"
    assert default_mo.settings["sampler"]["name"] == hpo.study.DEFAULT_MULTI_OBJECTIVE_SAMPLER
    # an explicit sampler wins
    assert isinstance(hpo.load_study("tpe", sqlite_url, sampler="sobol").sampler, SobolSampler)
    # the rebuilt study keeps its definition
    loaded = hpo.load_study("grid", sqlite_url)
    assert loaded.space == hpo.SearchSpace(SPACE) and loaded.seed == 0 and loaded.directions == ["minimize"]


def test_custom_sampler_instance_needs_sampler_on_load(sqlite_url: str) -> None:
    from hpo.samplers import RandomSampler

    _study(sqlite_url, name="custom", sampler=RandomSampler())
    with pytest.raises(SamplerError, match="custom"):
        hpo.load_study("custom", sqlite_url)
    assert isinstance(hpo.load_study("custom", sqlite_url, sampler=RandomSampler()).sampler, RandomSampler)


def test_load_missing_duplicate_delete_and_list(sqlite_url: str) -> None:
    with pytest.raises(StudyNotFoundError, match="nope"):
        hpo.load_study("nope", sqlite_url)
    first = _study(sqlite_url, name="dup")
    _tell_all(first, [1.0, 2.0])
    with pytest.raises(DuplicateStudyError):
        _study(sqlite_url, name="dup")
    with pytest.raises(DuplicateStudyError):
        _study(sqlite_url, name="dup", space={"other": hpo.Int(0, 3)})
    same = _study(sqlite_url, name="dup", load_if_exists=True)
    assert same.study_id == first.study_id and len(same.trials) == 2
    fresh = _study(sqlite_url, name="fresh", load_if_exists=True)
    assert fresh.trials == []

    summaries = {s.name: s for s in hpo.list_studies(sqlite_url)}
    assert set(summaries) == {"dup", "fresh"}
    assert summaries["dup"].n_trials == 2 and summaries["dup"].states == {"COMPLETE": 2}
    assert summaries["fresh"].n_trials == 0

    hpo.delete_study("dup", sqlite_url)
    assert [s.name for s in hpo.list_studies(sqlite_url)] == ["fresh"]
    with pytest.raises(StudyNotFoundError):
        hpo.load_study("dup", sqlite_url)
    with pytest.raises(StudyNotFoundError):
        hpo.delete_study("dup", sqlite_url)
    again = _study(sqlite_url, name="dup")  # the name is free again
    assert again.trials == []


def test_default_name_and_generated_names_are_unique(sqlite_url: str) -> None:
    a = hpo.create_study(space=SPACE, storage=sqlite_url, sampler="random")
    b = hpo.create_study(space=SPACE, storage=sqlite_url, sampler="random")
    assert a.name != b.name
    assert {s.name for s in hpo.list_studies(sqlite_url)} == {a.name, b.name}


@pytest.mark.parametrize("name", ["", " x", "a b", "x/y", "abc\n", "é", "a" * 201, "-x", 5, b"x"])
def test_bad_study_names_are_refused(sqlite_url: str, name: Any) -> None:
    with pytest.raises(hpo.errors.ConfigError):
        hpo.create_study(name=name, space=SPACE, storage=sqlite_url, sampler="random")
    assert hpo.list_studies(sqlite_url) == []


# -- reports -----------------------------------------------------------------------------------
def test_report_lands_in_the_store(sqlite_url: str) -> None:
    study = _study(sqlite_url, objectives={"loss": "minimize", "acc": "maximize"})
    trial = study.ask()
    assert trial.should_stop() is False
    trial.report(1, 0.5)
    trial.report(2, {"loss": 0.25, "acc": math.nan})
    trial.report(3.5, {"loss": math.inf, "extra": np.float32(2.0)})
    with pytest.raises(ValueTypeError):
        trial.report(4, "abc")
    with pytest.raises(ObjectiveError):
        trial.report(math.nan, 1.0)
    with pytest.raises(ValueTypeError):
        trial.report("5", 1.0)
    reports = study.store.get_reports(study.study_id)
    assert [(r.trial_number, r.step, r.values) for r in reports] == [
        (0, 1.0, {"loss": 0.5}),
        (0, 2.0, {"loss": 0.25, "acc": None}),
        (0, 3.5, {"loss": None, "extra": 2.0}),
    ]
    study.tell(trial, (0.25, 0.5))
    assert study.trials[0].state is TrialState.COMPLETE


# -- sampler names and options -------------------------------------------------------------------
def test_unknown_sampler_name_lists_valid_names(sqlite_url: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        _study(sqlite_url, sampler="bogus")
    message = str(info.value)
    for name in ("random", "sobol", "grid", "tpe", "cmaes", "nsga2"):
        assert name in message
    with pytest.raises(UnknownNameError):
        _study(sqlite_url, sampler={"name": "bogus"})
    assert hpo.list_studies(sqlite_url) == []


@pytest.mark.parametrize(
    "spec, valid",
    [
        ({"name": "tpe", "options": {"bogus": 1}}, "n_startup_trials"),
        ({"name": "random", "options": {"bogus": 1}}, "bogus"),
        ({"name": "grid", "options": {"bogus": 1}}, "resolution"),
        ({"name": "sobol", "options": {"bogus": 1}}, "scramble"),
        ({"name": "cmaes", "options": {"seed": 1}}, "sigma0"),
    ],
)
def test_unknown_sampler_option_lists_valid_options(sqlite_url: str, spec: dict, valid: str) -> None:
    with pytest.raises(SamplerError) as info:
        _study(sqlite_url, sampler=spec)
    assert valid in str(info.value)
    assert hpo.list_studies(sqlite_url) == []


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "tpe", "options": {1: 2}},
        {"name": "random", "options": {None: 2}},
        {"name": "random", "options": {"args": 2}},  # RandomSampler takes no options at all
        {"name": "tpe", "options": {"n_startup_trials": object()}},
        {"name": "tpe", "options": {"prior_weight": math.nan}},
        {"name": "grid", "options": {"resolution": 1}},
        {"name": "tpe", "options": [1]},
        {"options": {}},
        {"name": "tpe", "extra": 1},
        5,
    ],
)
def test_bad_sampler_specs_are_sampler_errors(sqlite_url: str, spec: Any) -> None:
    with pytest.raises(SamplerError):
        _study(sqlite_url, sampler=spec)
    assert hpo.list_studies(sqlite_url) == []


# -- settings validation -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"heartbeat_interval": None},
        {"heartbeat_interval": 0},
        {"heartbeat_interval": math.nan},
        {"heartbeat_interval": math.inf},
        {"stale_after": -1},
        {"stale_after": math.nan},
        {"stale_policy": "retry"},
        {"seed": -1},
        {"seed": 1.5},
        {"seed": True},
        {"fidelity": [1]},
        {"fidelity": {"budget": object()}},
        {"fidelity": {"budget": math.inf}},
        {"constraints": {"mem": ("<", 1)}},
        {"constraints": {"mem": ("<=", 10**400)}},
        {"constraints": {"value": ("<=", 1)}},
        {"objectives": "sideways"},
        {"objectives": {}},
        {"space": {}},
        {"space": None, "scheduler": "median"},  # without a space (define-by-run): no scheduler
    ],
)
def test_bad_definitions_write_nothing(sqlite_url: str, kwargs: dict) -> None:
    with pytest.raises(HpoError):
        _study(sqlite_url, **kwargs)
    assert hpo.list_studies(sqlite_url) == []


# -- stale trials -----------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["fail", "requeue"])
def test_stale_trials_are_reclaimed_by_policy(sqlite_url: str, policy: str) -> None:
    study = _study(sqlite_url, heartbeat_interval=0.1, stale_after=0.5, stale_policy=policy)
    abandoned = study.ask(heartbeat=True)
    no_heartbeat = study.ask()  # an ask()/tell() trial has the (long) ask_lease
    assert study.reclaim_stale() == []
    time.sleep(0.7)
    assert study.reclaim_stale() == [abandoned.number]
    assert study.reclaim_stale() == []
    old = study.store.get_trial(study.study_id, abandoned.number)
    assert old.state is TrialState.FAILED and old.attrs["reclaimed"] is True
    assert "heartbeat" in old.error
    assert study.store.get_trial(study.study_id, no_heartbeat.number).state is TrialState.RUNNING
    waiting = study.get_trials([TrialState.WAITING])
    if policy == "fail":
        assert waiting == []
        assert "requeued_as" not in old.attrs
        with pytest.warns(hpo.errors.LateResultWarning, match="attrs"):
            kept = study.tell(abandoned, 1.0)  # the paused worker's result is kept, not refused
        assert kept.number == abandoned.number and kept.attrs["late_result"]["values"] == {"value": 1.0}
        resumed = study.ask()
        assert resumed.number not in (abandoned.number, no_heartbeat.number)
        study.tell(resumed, 2.0)
        assert study.count_done() == 2  # the reclaimed failure (not re-queued) and the new trial
    else:
        (retry,) = waiting
        assert retry.params == abandoned.params
        assert retry.attrs["retry_of"] == abandoned.number
        assert old.attrs["requeued_as"] == retry.number
        resumed = study.ask()
        assert resumed.number == retry.number and resumed.params == abandoned.params
        study.tell(resumed, 1.0)
        with pytest.warns(hpo.errors.LateResultWarning):  # the retry ran: the late result goes to attrs
            study.tell(abandoned, 1.5)
        assert study.count_done() == 1  # a re-queued failure does not count
    with pytest.raises(TrialStateError, match="told once"):
        study.tell(abandoned, 1.0)


def test_load_if_exists_refuses_a_changed_definition(sqlite_url: str) -> None:
    hpo.create_study(name="same", space={"x": hpo.Float(0, 1)}, storage=sqlite_url)
    again = hpo.create_study(name="same", space={"x": hpo.Float(0, 1)}, storage=sqlite_url, load_if_exists=True)
    assert again.name == "same"
    with pytest.raises(hpo.errors.ConfigError, match="different space"):
        hpo.create_study(name="same", space={"x": hpo.Float(0, 2)}, storage=sqlite_url, load_if_exists=True)
    with pytest.raises(hpo.errors.ConfigError, match="different objectives"):
        hpo.create_study(name="same", space={"x": hpo.Float(0, 1)}, objectives="maximize", storage=sqlite_url,
                         load_if_exists=True)


def test_stale_after_must_exceed_heartbeat_interval(sqlite_url: str) -> None:
    with pytest.raises(hpo.errors.ConfigError, match="stale_after"):
        hpo.create_study(space={"x": hpo.Float(0, 1)}, storage=sqlite_url, heartbeat_interval=10, stale_after=5)
    assert not hpo.list_studies(sqlite_url)


def test_catch_accepts_a_single_exception_class(sqlite_url: str) -> None:
    study = hpo.create_study(space={"x": hpo.Float(0, 1)}, storage=sqlite_url, sampler="random")

    def objective(trial):
        raise ValueError("bad")

    study.optimize(objective, n_trials=2, catch=ValueError, show_progress_bar=False)
    assert [t.state for t in study.trials] == [hpo.TrialState.FAILED] * 2

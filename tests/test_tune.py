"""HpoSearch: a Ray Tune Tuner with ASHA runs on an hpo study, and every trial lands in the store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.errors import ConfigError
from hpo.records import TrialState

pytest.importorskip("ray.tune")

from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402

from hpo.integrations.tune import HpoSearch  # noqa: E402
from hpo.testing.ray_local import local_ray  # noqa: E402

MAX_T = 9

# Ray workers cannot import this test module: ship `train` by value.
from ray import cloudpickle  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    with local_ray(num_cpus=2) as r:
        yield r


def train(config: dict[str, Any]) -> None:
    for i in range(1, MAX_T + 1):
        tune.report({"loss": (config["x"] - 0.5) ** 2 + 1.0 / i + 0.01 * config["depth"]})


def _study(url: str, name: str = "tune") -> hpo.Study:
    return hpo.create_study(name=name, space={"x": hpo.Float(0, 1), "depth": hpo.Int(1, 8)},
                            objectives={"loss": "minimize"}, storage=url, sampler="tpe", seed=0)


@pytest.mark.slow
def test_tuner_with_asha_stores_every_trial(ray_session: Any, sqlite_url: str, tmp_path: Path) -> None:
    study = _study(sqlite_url)
    search = HpoSearch(study, max_t=MAX_T)
    tuner = tune.Tuner(
        train,
        tune_config=tune.TuneConfig(search_alg=search, scheduler=ASHAScheduler(max_t=MAX_T, grace_period=1,
                                                                              reduction_factor=3),
                                    metric="loss", mode="min", num_samples=8, max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="asha", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 8 and not results.errors

    trials = study.trials
    assert len(trials) == 8
    states = [t.state for t in trials]
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states  # ASHA stopped some, others ran to max_t
    reports = study.store.get_reports(study.study_id)
    per_trial = {t.number: [r.step for r in reports if r.trial_number == t.number] for t in trials}
    for t in trials:
        steps = per_trial[t.number]
        assert steps == list(range(1, len(steps) + 1))  # every result streamed, at training_iteration
        if t.state is TrialState.COMPLETE:
            assert len(steps) == MAX_T
            assert t.values["loss"] == pytest.approx((t.params["x"] - 0.5) ** 2 + 1.0 / MAX_T + 0.01 * t.params["depth"])
        else:
            assert len(steps) < MAX_T
    best = results.get_best_result()
    assert best.metrics["loss"] == pytest.approx(study.best_value)


def test_save_and_restore_round_trip(sqlite_url: str, tmp_path: Path) -> None:
    study = _study(sqlite_url, name="ckpt")
    search = HpoSearch(study)
    config = search.suggest("t1")
    search.on_trial_result("t1", {"training_iteration": 1, "loss": 0.5})
    search.save(str(tmp_path / "searcher.json"))

    other = HpoSearch(_study(sqlite_url, name="other"))
    other.restore(str(tmp_path / "searcher.json"))
    assert other.study.name == "ckpt" and other.metric == "loss" and other.mode == "min"
    other.on_trial_result("t1", {"training_iteration": 2, "loss": 0.25})
    other.on_trial_complete("t1", {"training_iteration": 2, "loss": 0.25, "done": True})
    (trial,) = study.trials
    assert trial.params == config and trial.state is TrialState.COMPLETE and trial.values == {"loss": 0.25}
    assert [r.step for r in study.store.get_reports(study.study_id)] == [1.0, 2.0]


def test_errors_and_pickling(sqlite_url: str) -> None:
    import pickle

    study = _study(sqlite_url, name="err")
    with pytest.raises(ConfigError, match=r"mode must be 'min', but got 'max'"):
        HpoSearch(study, mode="max")
    search = HpoSearch(study)
    search.suggest("a")
    search.on_trial_complete("a", None, error=True)
    search.suggest("b")
    search.on_trial_complete("b", {"training_iteration": 1, "loss": float("nan"), "done": True})
    copy = pickle.loads(pickle.dumps(search))
    assert copy.study.name == "err" and copy.metric == "loss"
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.FAILED, TrialState.FAILED]
    assert "raised an error" in trials[0].error and "non-finite" in trials[1].error

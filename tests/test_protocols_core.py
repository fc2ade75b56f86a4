"""Tuning protocols, the tuning phase: splits, their storage and reload, the store's refusals through the
study API (SQLite and PostgreSQL), per-seed aggregates and what the sampler sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpo
from hpo.errors import ConfigError, ProtocolError
from hpo.protocols import DatasetSplit, SeedSplit, protocol_from_config
from hpo.records import TrialState
from hpo.samplers import RandomSampler

SPACE = {"x": hpo.Float(0.0, 1.0)}


def _study(url: str, protocol: Any, **kwargs: Any) -> hpo.Study:
    return hpo.create_study("p", SPACE, storage=url, sampler="random", seed=0, protocol=protocol, **kwargs)


# -- splits ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(tuning=[0, 1, 2], test=[2, 3]), r"disjoint.*\[2\]"),
    (dict(tuning=[], test=[1]), "non-empty"),
    (dict(tuning=[0, 0], test=[1]), "repeat"),
    (dict(tuning=[0, 1.5], test=[2]), "integer seeds"),
    (dict(tuning=[0, True], test=[2]), "integer seeds"),
    (dict(tuning="012", test=[3]), "list of integer seeds"),
    (dict(tuning=[0], test=[1], aggregate="mode"), "aggregate must be one of"),
])
def test_seed_split_is_validated(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        SeedSplit(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(tuning="digits", evaluation="digits"), "must differ"),
    (dict(tuning="", evaluation="mnist1d"), "non-empty data set name"),
    (dict(tuning="digits", evaluation=3), "non-empty data set name"),
    (dict(tuning="digits", evaluation="mnist1d", seeds=[]), "non-empty"),
])
def test_dataset_split_is_validated(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        DatasetSplit(**kwargs)


def test_split_settings_round_trip() -> None:
    seeds = SeedSplit(tuning=[0, 1], test=[5, 6], aggregate="median")
    data = DatasetSplit(tuning="digits", evaluation="mnist1d", seeds=[0, 1, 2])
    assert seeds.as_settings() == {"kind": "seeds", "tuning": [0, 1], "test": [5, 6], "aggregate": "median"}
    assert data.as_settings() == {"kind": "datasets", "tuning": "digits", "evaluation": "mnist1d",
                                  "seeds": [0, 1, 2], "aggregate": "mean"}
    assert protocol_from_config(seeds.as_settings()) == seeds
    assert protocol_from_config(data.as_settings()) == data
    assert protocol_from_config({"tuning": [0], "test": [1]}) == SeedSplit([0], [1])  # kind inferred
    with pytest.raises(ProtocolError, match="unknown key"):
        protocol_from_config({"kind": "seeds", "tuning": [0], "test": [1], "evaluation": "x"})


def test_overlapping_split_refused_at_create_study_nothing_written(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with pytest.raises(ProtocolError, match="disjoint"):
        _study(f"sqlite:///{db}", {"kind": "seeds", "tuning": [0, 1, 2], "test": [2, 5]})
    assert not db.exists()  # validated before the store is opened
    url = f"sqlite:///{db}"
    hpo.create_study("other", SPACE, storage=url)
    with pytest.raises(ProtocolError, match="must differ"):
        _study(url, {"kind": "datasets", "tuning": "digits", "evaluation": "digits"})
    assert [s.name for s in hpo.list_studies(url)] == ["other"]


# -- reload ------------------------------------------------------------------------------------------
def test_protocol_is_stored_and_reloaded(storage_url: str) -> None:
    split = SeedSplit(tuning=[0, 1, 2, 3, 4], test=[5, 6, 7, 8, 9], aggregate="iqm")
    study = _study(storage_url, split)
    assert study.protocol == split
    assert study.settings["protocol"] == split.as_settings()
    loaded = hpo.load_study("p", storage_url)
    assert loaded.protocol == split
    assert _study(storage_url, split, load_if_exists=True).protocol == split
    with pytest.raises(ConfigError, match="different protocol"):
        _study(storage_url, SeedSplit(tuning=[0, 1], test=[5]), load_if_exists=True)


def test_protocol_from_config_file(tmp_path: Path) -> None:
    from hpo.config import load_config

    (tmp_path / "study.yaml").write_text(
        "name: cfg\nobjective: m:f\nstorage: sqlite:///s.db\nspace: {x: {type: float, low: 0, high: 1}}\n"
        "protocol: {kind: datasets, tuning: digits, evaluation: mnist1d, seeds: [0, 1, 2]}\n")
    cfg = load_config(tmp_path / "study.yaml")
    study = cfg.create_study()
    want = DatasetSplit(tuning="digits", evaluation="mnist1d", seeds=[0, 1, 2], aggregate="mean")
    assert study.protocol == want
    assert hpo.load_study("cfg", f"sqlite:///{tmp_path / 's.db'}").protocol == want
    (tmp_path / "bad.yaml").write_text(
        "name: bad\nobjective: m:f\nspace: {x: {type: float, low: 0, high: 1}}\n"
        "protocol: {tuning: [0, 1], test: [1, 2]}\n")
    with pytest.raises(ConfigError, match="protocol: .*disjoint"):
        load_config(tmp_path / "bad.yaml")


# -- tuning phase ------------------------------------------------------------------------------------
def test_trial_sees_tuning_seeds_and_data_set(tmp_path: Path) -> None:
    seen: list[tuple[Any, ...]] = []

    def objective(trial: hpo.Trial) -> dict[int, float]:
        seen.append((trial.phase, trial.seeds, trial.dataset))
        return {s: trial["x"] for s in trial.seeds}

    study = _study(f"sqlite:///{tmp_path}/s.db", DatasetSplit(tuning="digits", evaluation="mnist1d", seeds=[3, 4]))
    study.optimize(objective, n_trials=1, show_progress_bar=False)
    assert seen == [("tuning", (3, 4), "digits")]
    evals = study.store.get_evaluations(study.study_id)
    assert [(e.seed, e.split, e.dataset) for e in evals] == [(3, "tuning", "digits"), (4, "tuning", "digits")]


def test_report_seed_of_a_test_seed_is_refused(storage_url: str) -> None:
    study = _study(storage_url, SeedSplit(tuning=[0, 1, 2], test=[5, 6]))
    trial = study.ask()
    trial.report_seed(0, 1.0)
    with pytest.raises(ProtocolError, match="seed 5 is not one of the tuning seeds"):
        trial.report_seed(5, 0.0)
    assert [(e.seed, e.split) for e in study.store.get_evaluations(study.study_id)] == [(0, "tuning")]


def test_returned_mapping_with_a_test_seed_writes_nothing(storage_url: str) -> None:
    study = _study(storage_url, SeedSplit(tuning=[0, 1, 2], test=[5, 6]))
    with pytest.raises(ProtocolError, match="seed 6 is not one of the tuning seeds"):
        study.optimize(lambda t: {0: 1.0, 1: 2.0, 6: 0.0}, n_trials=1, show_progress_bar=False)
    assert study.store.get_evaluations(study.study_id) == []
    (trial,) = study.trials
    assert trial.state is TrialState.FAILED and "seed 6" in (trial.error or "")


@pytest.mark.parametrize("how, expected", [
    ("mean", (1.0 + 2.0 + 3.0 + 4.0 + 100.0) / 5),
    ("median", 3.0),
    ("iqm", 3.0),  # trim_mean(.., 0.25) of 5 values drops one at each end: mean(2, 3, 4)
])
def test_aggregate_of_returned_mapping(tmp_path: Path, how: str, expected: float) -> None:
    per_seed = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0, 4: 100.0}
    study = _study(f"sqlite:///{tmp_path}/s.db", SeedSplit(tuning=list(per_seed), test=[9], aggregate=how))
    study.optimize(lambda t: per_seed, n_trials=1, show_progress_bar=False)
    (trial,) = study.trials
    assert trial.values == {"value": pytest.approx(expected)}
    spread = trial.attrs["seed_spread"]["value"]
    values = np.array(list(per_seed.values()))
    assert spread["n"] == 5 and spread["low"] == 1.0 and spread["high"] == 100.0
    assert spread["std"] == pytest.approx(values.std(ddof=1))
    assert spread["iqr"] == pytest.approx(4.0 - 2.0)


def test_report_seed_multi_objective_and_failed_seed(tmp_path: Path) -> None:
    study = hpo.create_study("mo", SPACE, objectives={"loss": "minimize", "acc": "maximize"},
                             storage=f"sqlite:///{tmp_path}/s.db", sampler="random", seed=0,
                             protocol=SeedSplit(tuning=[0, 1, 2, 3], test=[7], aggregate="median"))

    def objective(trial: hpo.Trial) -> None:
        trial.report_seed(0, {"loss": 1.0, "acc": 0.5})
        trial.report_seed(1, {"loss": 3.0, "acc": 0.7})
        trial.report_seed(2, {"loss": 2.0, "acc": 0.9})
        trial.report_seed(3, {"loss": float("nan"), "acc": 0.1})  # a diverged seed: FAILED, left out

    study.optimize(objective, n_trials=1, show_progress_bar=False)
    (trial,) = study.trials
    assert trial.state is TrialState.COMPLETE
    assert trial.values == {"loss": 2.0, "acc": pytest.approx(0.7)}
    assert trial.attrs["seed_spread"]["acc"]["n"] == 3
    states = [e.state for e in study.store.get_evaluations(study.study_id)]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.FAILED]


def test_plain_value_in_protocol_study_fails_trial(tmp_path: Path) -> None:
    study = _study(f"sqlite:///{tmp_path}/s.db", SeedSplit(tuning=[0, 1], test=[5]))
    study.optimize(lambda t: 0.5, n_trials=1, show_progress_bar=False)
    (trial,) = study.trials
    assert trial.state is TrialState.FAILED and "report_seed" in (trial.error or "")


def test_report_seed_without_protocol_is_refused(tmp_path: Path) -> None:
    study = hpo.create_study("plain", SPACE, storage=f"sqlite:///{tmp_path}/s.db", sampler="random")
    trial = study.ask()
    assert trial.seeds == () and trial.dataset is None
    with pytest.raises(ProtocolError, match="no tuning protocol"):
        trial.report_seed(0, 1.0)


class RecordingSampler(RandomSampler):
    """Random suggestions; records every value of the history it is given."""

    uses_history = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def suggest(self, context: Any) -> dict[str, Any]:
        self.seen = [t.values["value"] for t in context.history if t.values]
        return super().suggest(context)


def test_sampler_sees_only_the_tuning_aggregates(tmp_path: Path) -> None:
    sampler = RecordingSampler()
    study = hpo.create_study("rec", SPACE, storage=f"sqlite:///{tmp_path}/s.db", sampler=sampler, seed=0,
                             protocol=SeedSplit(tuning=[0, 1, 2], test=[5, 6], aggregate="mean"))
    study.optimize(lambda t: {s: t["x"] + s for s in t.seeds}, n_trials=3, show_progress_bar=False)
    study.evaluate(lambda t: {s: 1000.0 + s for s in t.seeds}, top_k=3)  # test values far from any tuning one
    study.optimize(lambda t: {s: t["x"] + s for s in t.seeds}, n_trials=1, show_progress_bar=False)
    tuned = sorted(t.values["value"] for t in study.trials[:3])
    assert sorted(sampler.seen) == pytest.approx(tuned)
    assert tuned == pytest.approx(sorted(t.params["x"] + 1.0 for t in study.trials[:3]))  # mean of x+0, x+1, x+2
    assert all(v < 1000.0 for v in sampler.seen)
    assert len([e for e in study.store.get_evaluations(study.study_id) if e.split == "test"]) == 6


def test_protocol_report_wrapper(tmp_path: Path) -> None:
    pytest.importorskip("hpo.protocols.report")
    study = _study(f"sqlite:///{tmp_path}/s.db", SeedSplit(tuning=[0, 1], test=[5, 6]))
    study.optimize(lambda t: {s: t["x"] + s for s in t.seeds}, n_trials=2, show_progress_bar=False)
    assert study.protocol_report() is not None

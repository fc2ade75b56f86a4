"""Schedulers: the conformance suite for each, hand-checked decisions, PBT with real
checkpoints, and decisions that survive a driver restart."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpo
from hpo.bench.fidelity_problems import SyntheticCurves
from hpo.errors import ConfigError, NothingToRun, SamplerExhausted, UnknownNameError
from hpo.execution import SimulatedExecutor
from hpo.records import TrialState
from hpo.schedulers import ASHA, PBT, Hyperband, MedianStopping, make_scheduler
from hpo.schedulers.pbt import explore
from hpo.testing.scheduler_suite import SchedulerConformance

SPACE = {"x": hpo.Float(0.0, 1.0), "lr": hpo.Float(1e-4, 1e-1, log=True), "n": hpo.Int(1, 8)}


class TestASHAStopping(SchedulerConformance):
    registered_name = "asha"

    @pytest.fixture
    def scheduler_factory(self) -> Any:
        return lambda: ASHA(reduction_factor=3)


class TestASHAPromotion(SchedulerConformance):
    @pytest.fixture
    def scheduler_factory(self) -> Any:
        return lambda: ASHA(reduction_factor=3, type="promotion")


class TestHyperband(SchedulerConformance):
    registered_name = "hyperband"

    @pytest.fixture
    def scheduler_factory(self) -> Any:
        return lambda: Hyperband(reduction_factor=3)


class TestHyperbandPromotion(SchedulerConformance):
    @pytest.fixture
    def scheduler_factory(self) -> Any:
        return lambda: Hyperband(reduction_factor=3, type="promotion")


class TestMedianStopping(SchedulerConformance):
    registered_name = "median"

    @pytest.fixture
    def scheduler_factory(self) -> Any:
        return lambda: MedianStopping(grace_period=3, min_samples=2)


class TestPBT(SchedulerConformance):
    registered_name = "pbt"

    @pytest.fixture
    def scheduler_factory(self) -> Any:
        return lambda: PBT(population_size=4, interval=9)


# -- helpers ------------------------------------------------------------------------------
def _study(tmp_path: Path, scheduler: Any, name: str = "s", fidelity: Any = None, **kwargs: Any) -> hpo.Study:
    return hpo.create_study(
        name=name, space=SPACE, storage=f"sqlite:///{tmp_path / 'h.db'}", sampler="random", seed=0,
        fidelity=fidelity or hpo.Fidelity("epochs", 1, 27), scheduler=scheduler,
        checkpoint_root=str(tmp_path / "ckpt"), **kwargs,
    )


def _finish_at_budget(study: hpo.Study, loss: float) -> Any:
    trial = study.ask()
    trial.report(trial.budget, loss)
    return study.tell(trial, loss)


# -- fidelity --------------------------------------------------------------------------------
def test_fidelity_validates_and_round_trips() -> None:
    f = hpo.Fidelity("epochs", 1, 81)
    assert f.integer and hpo.Fidelity.from_dict(f.to_dict()) == f
    assert f.levels(3) == [1, 3, 9, 27, 81]
    assert hpo.Fidelity("epochs", 1, 100).levels(3) == [1, 3, 9, 27, 81, 100]
    assert f.round(3.4) == 3 and f.round(500) == 81
    frac = hpo.Fidelity("data_fraction", 0.1, 1.0, log=True)
    assert not frac.integer and frac.from_unit(frac.to_unit(0.3)) == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="0 < min < max"):
        hpo.Fidelity("epochs", 5, 1)
    with pytest.raises(ConfigError, match="unknown key"):
        hpo.Fidelity.from_dict({"name": "epochs", "min": 1, "max": 9, "step": 2})
    with pytest.raises(ConfigError, match="integer fidelity needs whole"):
        hpo.Fidelity("epochs", 1, 9.5, integer=True)


def test_scheduler_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a fidelity"):
        hpo.create_study(space=SPACE, storage=f"sqlite:///{tmp_path / 'e.db'}", scheduler="asha")
    with pytest.raises(UnknownNameError, match="valid names: \\['asha', 'hyperband', 'median', 'pbt'\\]"):
        make_scheduler("bohb")
    with pytest.raises(ConfigError, match="unknown option"):
        make_scheduler("asha", eta=3)
    with pytest.raises(ConfigError, match="reduction_factor > 1"):
        ASHA(reduction_factor=1)
    with pytest.raises(ConfigError, match="valid types"):
        ASHA(type="pause")
    with pytest.raises(ConfigError, match="one objective"):
        hpo.create_study(space=SPACE, storage=f"sqlite:///{tmp_path / 'e.db'}", scheduler="asha",
                         objectives={"a": "minimize", "b": "minimize"}, fidelity=hpo.Fidelity("epochs", 1, 9))
    with pytest.raises(ConfigError, match="no fidelity"):
        trial = hpo.create_study(space=SPACE, storage=f"sqlite:///{tmp_path / 'e.db'}", sampler="random").ask()
        trial.budget  # noqa: B018


def test_the_scheduler_is_stored_with_the_study(tmp_path: Path) -> None:
    study = _study(tmp_path, {"name": "asha", "options": {"reduction_factor": 2, "type": "promotion"}})
    again = hpo.load_study("s", storage=study.store.url)
    assert isinstance(again.scheduler, ASHA)
    assert again.scheduler.options() == {"reduction_factor": 2.0, "min_budget": None, "brackets": 1,
                                         "type": "promotion", "metric": None}
    assert again.fidelity == hpo.Fidelity("epochs", 1, 27)


# -- hand-checked decisions ----------------------------------------------------------------------
def test_asha_promotion_hand_checked(tmp_path: Path) -> None:
    """eta=3, rungs 1, 3, 9, 27: three results at rung 0 promote the best one (floor(3/3) = 1),
    then new configurations start at the bottom until three more results arrive."""
    study = _study(tmp_path, ASHA(reduction_factor=3, type="promotion"))
    assert study.scheduler.rungs() == [1, 3, 9, 27]
    first = [_finish_at_budget(study, loss) for loss in (0.5, 0.2, 0.9)]
    assert [t.attrs["budget"] for t in first] == [1, 1, 1]
    promoted = study.ask()
    assert promoted.budget == 3 and promoted.start_step == 1
    assert promoted.attrs["resume_from"] == first[1].number and promoted.params == first[1].params
    with pytest.raises(ConfigError, match="must save its state in trial.checkpoint_dir"):
        promoted.load_checkpoint()  # trial 1 saved no checkpoint: resuming it would skip epochs
    fresh = study.ask()  # trial 1 is promoted already (running): a new configuration at rung 0
    assert fresh.budget == 1 and "resume_from" not in fresh.attrs
    study.tell(promoted, 0.15)
    study.tell(fresh, 0.4)
    # rung 0 now has 0.5, 0.2, 0.9, 0.4: floor(4/3) = 1, the best (0.2) is promoted already -> new config
    assert study.ask().budget == 1
    best = _finish_at_budget(study, 0.1)
    # rung 0: 0.5 0.2 0.9 0.4 0.1 (the running trial does not count): floor(5/3) = 1 -> 0.1 is promoted
    nxt = study.ask()
    assert nxt.budget == 3 and nxt.attrs["resume_from"] == best.number


def test_asha_stopping_hand_checked(tmp_path: Path) -> None:
    """A trial continues past a rung iff its loss there is within the best third of those recorded."""
    study = _study(tmp_path, ASHA(reduction_factor=3))
    trials = [study.ask() for _ in range(4)]
    assert all(t.budget == 27 for t in trials)
    decisions = []
    for t, loss in zip(trials, (0.5, 0.2, 0.9, 0.1)):
        t.report(1, loss)
        decisions.append(t.should_stop())
    # recorded at rung 1: [0.5] -> go on; [0.5, 0.2] -> 1/3 quantile 0.4: 0.2 goes on;
    # [0.5, 0.2, 0.9] -> quantile 0.4: 0.9 stops; [.., 0.1] -> quantile 0.3: 0.1 goes on
    assert decisions == [False, False, True, False]
    trials[0].report(2, 0.45)  # between rungs: the rung-1 decision stands
    assert not trials[0].should_stop()


def test_median_stopping_hand_checked(tmp_path: Path) -> None:
    study = _study(tmp_path, MedianStopping(grace_period=2, min_samples=2))
    others = [study.ask() for _ in range(2)]
    for t, curve in zip(others, ([0.9, 0.5, 0.4], [0.8, 0.6, 0.2])):
        for step, loss in enumerate(curve, start=1):
            t.report(step, loss)
    # running averages at step 2: (0.9+0.5)/2 = 0.7, (0.8+0.6)/2 = 0.7 -> median 0.7
    bad, good = study.ask(), study.ask()
    bad.report(1, 0.95)
    assert not bad.should_stop()  # step 1 < grace period 2
    bad.report(2, 0.75)
    assert bad.should_stop()  # best 0.75 > 0.7
    good.report(1, 1.0)
    good.report(2, 0.69)
    assert not good.should_stop()


# -- PBT with real checkpoints ---------------------------------------------------------------------
def _pbt_objective(trial: Any) -> float:
    """A 'model' whose state is a number; its loss falls faster with lr close to 0.01."""
    state = {"w": 1.0, "history": []}
    if (resume := trial.load_checkpoint()) is not None:
        state = json.loads((resume / "state.json").read_text())
    speed = 1.0 / (1.0 + abs(np.log10(trial["lr"]) + 2.0))
    for step in range(int(trial.start_step) + 1, int(trial.budget) + 1):
        state["w"] *= 1.0 - 0.2 * speed
        state["history"].append([trial.number, step])
        trial.report(step, state["w"])
    (trial.checkpoint_dir / "state.json").write_text(json.dumps(state))
    return state["w"]


def test_pbt_exploits_and_explores_with_real_checkpoints(tmp_path: Path) -> None:
    study = _study(tmp_path, PBT(population_size=4, interval=3, quantile=0.25, resample_probability=0.0),
                   fidelity=hpo.Fidelity("epochs", 1, 12))
    study.optimize(_pbt_objective, n_trials=None, show_progress_bar=False)  # until the population is done
    trials = {t.number: t for t in study.trials}
    assert all(t.state is TrialState.COMPLETE for t in trials.values())
    lineages = {t.attrs["lineage"] for t in trials.values()}
    assert len(lineages) == 4 and len(trials) == 4 * 4  # 4 members x 4 segments of 3 epochs
    exploits = [t for t in trials.values() if "exploited" in t.attrs]
    assert exploits, "the bottom quarter exploits the top quarter at every step"
    for t in exploits:
        source = trials[t.attrs["exploited"]]
        assert t.attrs["resume_from"] == source.number and source.attrs["lineage"] != t.attrs["lineage"]
        ratio = t.params["lr"] / source.params["lr"]
        assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.2) or t.params["lr"] in (1e-4, 1e-1)
        saved = json.loads(Path(t.attrs["checkpoint_dir"], "state.json").read_text())
        copied = json.loads(Path(source.attrs["checkpoint_dir"], "state.json").read_text())
        assert saved["history"][: len(copied["history"])] == copied["history"]  # it continued the source's state
        assert saved["history"][len(copied["history"])][1] == source.attrs["budget"] + 1
    with pytest.raises(SamplerExhausted, match="every one of the 4 members"):
        study.ask()


def test_pbt_waits_while_every_member_trains(tmp_path: Path) -> None:
    study = _study(tmp_path, PBT(population_size=2, interval=3), fidelity=hpo.Fidelity("epochs", 1, 12))
    study.ask(), study.ask()
    with pytest.raises(NothingToRun):
        study.ask()


def test_explore_stays_in_the_space() -> None:
    space = hpo.SearchSpace({**SPACE, "opt": hpo.Categorical(["a", "b"])})
    rng = np.random.default_rng(0)
    params = {"x": 0.99, "lr": 0.09, "n": 8, "opt": "a"}
    for _ in range(50):
        out = explore(space, params, rng, (0.8, 1.2), 0.2)
        assert space.validate(out) == out


# -- a driver restart -------------------------------------------------------------------------------
_RESTART = textwrap.dedent('''
    import sys, hpo
    study = hpo.load_study("restart", storage=sys.argv[1])
    def objective(trial):
        loss = (trial["x"] - 0.3) ** 2 + 1.0 / trial.budget
        trial.report(trial.budget, loss)
        return loss
    study.optimize(objective, n_trials=int(sys.argv[2]), show_progress_bar=False)
''')


def test_promotions_continue_after_a_driver_restart(tmp_path: Path) -> None:
    """A driver that stops after 9 trials and a new process that loads the study give the same
    trials as one driver running 18."""
    def run(name: str, chunks: list[int]) -> list[tuple]:
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        hpo.create_study(name="restart", space=SPACE, storage=url, sampler="random", seed=1,
                         fidelity=hpo.Fidelity("epochs", 1, 27), scheduler={"name": "asha", "options": {
                             "type": "promotion"}}, checkpoint_root=str(tmp_path / name))
        for n in chunks:
            subprocess.run([sys.executable, "-c", _RESTART, url, str(n)], check=True, timeout=300)
        study = hpo.load_study("restart", storage=url)
        return [(t.params["x"], t.attrs["budget"], t.attrs.get("resume_from"), t.state.value) for t in study.trials]

    once, restarted = run("once", [18]), run("twice", [9, 9])
    assert once == restarted
    assert any(budget > 1 for _, budget, _, _ in once)


# -- the sampler under a scheduler; config files -------------------------------------------------------
def test_the_sampler_learns_from_the_highest_rung_with_enough_data(tmp_path: Path) -> None:
    study = _study(tmp_path, ASHA(reduction_factor=3))
    losses = [0.9, 0.1, 0.5, 0.7, 0.3, 0.8, 0.6, 0.4, 0.2, 0.05]
    for loss in losses:  # ten trials stopped after epoch 1
        trial = study.ask()
        trial.report(1, loss)
        study.tell(trial, state="PRUNED")
    # ten results at rung 1; none at rung 3 (fewer than max(d + 2, 6) = 6): the sampler sees rung 1
    level, history = study.scheduler.sampler_data(study.scheduler_state(), min_points=6)  # max(d + 2, 6)
    assert sorted(t.values["value"] for t in history) == sorted(losses)
    assert level == 1.0 and {t.attrs["level"] for t in history} == {1.0}
    for i in range(6):  # six trials that reach epoch 3
        trial = study.ask()
        trial.report(1, 0.5)
        trial.report(3, 0.01 * i)
        study.tell(trial, state="PRUNED")
    level, history = study.scheduler.sampler_data(study.scheduler_state(), min_points=6)
    assert level == 3.0 and {t.attrs["level"] for t in history} == {3.0}
    assert sorted(t.values["value"] for t in history) == [0.01 * i for i in range(6)]


def test_asha_with_bo_proposals(tmp_path: Path) -> None:
    problem = SyntheticCurves(seed=0)
    study = hpo.create_study(space=problem.space, fidelity=problem.fidelity, scheduler="asha", seed=0,
                             sampler={"name": "gp", "options": {"num_restarts": 2, "raw_samples": 32}},
                             storage=f"sqlite:///{tmp_path / 'bo.db'}")
    executor = SimulatedExecutor(problem, max_resource=81 * 4)
    study.optimize(problem, n_trials=None, n_workers=2, backend=executor, show_progress_bar=False)
    assert len(study.trials) > 8  # past the Sobol design of max(5, 2d) = 8 trials: BO proposed the rest
    assert TrialState.PRUNED in {t.state for t in study.trials}


def test_config_files_declare_fidelity_and_scheduler(tmp_path: Path) -> None:
    from hpo.config import parse_config

    config = parse_config({
        "name": "cfg", "objective": "m:f", "space": {"x": {"type": "float", "low": 0, "high": 1}},
        "fidelity": {"name": "epochs", "min": 1, "max": 27},
        "scheduler": {"name": "hyperband", "options": {"reduction_factor": 3}},
        "checkpoint_root": "ckpt", "storage": f"sqlite:///{tmp_path / 'c.db'}",
    }, base_dir=tmp_path)
    study = config.create_study()
    assert isinstance(study.scheduler, Hyperband) and study.fidelity.max == 27
    trial = study.ask()
    assert trial.checkpoint_dir.parent.parent == tmp_path / "ckpt"

"""The BO sampler: conformance, finding Branin's optimum, parallel suggestions, acquisitions, errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

import hpo
from hpo.errors import SamplerError, SurrogateError, UnknownNameError
from hpo.records import TrialState
from hpo.samplers import Sampler, make_sampler
from hpo.samplers.bo import BOSampler
from hpo.testing.sampler_suite import SamplerConformance


class TestGPSampler(SamplerConformance):
    registered_name = "gp"
    supports_multi_objective = True
    n_trials = 12

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("gp", n_initial=5, num_restarts=2, raw_samples=64)


class TestEnsembleSampler(SamplerConformance):
    registered_name = "ensemble"
    supports_multi_objective = True
    n_trials = 10

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("ensemble", n_initial=5, num_restarts=2, raw_samples=64,
                                    surrogate_options={"steps": 100})


def _branin(trial: hpo.Trial) -> float:
    x1, x2 = trial["x1"], trial["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN_SPACE = {"x1": hpo.Float(-5, 10), "x2": hpo.Float(0, 15)}
BRANIN_MIN = 0.397887357729739


@pytest.mark.slow
def test_gp_finds_branins_optimum_within_40_evaluations_in_most_seeds(tmp_path) -> None:
    solved = []
    for seed in range(4):
        study = hpo.create_study(name=f"branin-{seed}", space=BRANIN_SPACE, storage=f"sqlite:///{tmp_path}/b.db",
                                 sampler="gp", seed=seed)
        study.optimize(_branin, n_trials=40, show_progress_bar=False)
        solved.append(study.best_value - BRANIN_MIN < 1e-2)
    assert sum(solved) >= 3, f"solved to 1e-2 in seeds {solved}"


def _initial(tmp_path, sampler: object, n: int = 6, **kwargs: object) -> hpo.Study:
    study = hpo.create_study(name="par", space=BRANIN_SPACE, storage=f"sqlite:///{tmp_path}/p.db",
                             sampler=sampler, seed=0, **kwargs)
    study.optimize(_branin, n_trials=n, show_progress_bar=False)
    return study


def test_parallel_asks_get_distinct_model_based_points(tmp_path) -> None:
    study = _initial(tmp_path, make_sampler("gp", n_initial=4, num_restarts=2, raw_samples=64))
    running = [study.ask() for _ in range(4)]  # four workers, none has told yet
    points = {(round(t.params["x1"], 6), round(t.params["x2"], 6)) for t in running}
    assert len(points) == 4
    for t in running:
        study.tell(t, _branin(t))
    assert all(t.state is TrialState.COMPLETE for t in study.trials)


def test_a_pending_point_moves_the_next_suggestion_away(tmp_path) -> None:
    """The pending trial is fantasised: the same suggestion, made again with it pending, goes elsewhere."""
    import dataclasses

    study = _initial(tmp_path, make_sampler("gp", n_initial=4, num_restarts=4, raw_samples=128), n=8)
    context = study.sampling_context(study.store.reserve_numbers(study.study_id, 1))
    first = study.sampler.suggest(context)
    again = study.sampler.suggest(context)
    moved = study.sampler.suggest(dataclasses.replace(context, pending=[first]))

    def unit(p: dict) -> tuple[float, float]:  # the unit cube the model works in
        return ((p["x1"] + 5) / 15, p["x2"] / 15)

    assert math.dist(unit(first), unit(again)) < 0.01  # without pending: the same point (same seed)
    assert math.dist(unit(first), unit(moved)) > 0.05  # with it pending: somewhere else


def test_batch_suggestion_is_one_q_batch(tmp_path) -> None:
    study = _initial(tmp_path, "gp")
    context = study.sampling_context(study.store.reserve_numbers(study.study_id, 3))
    batch = study.sampler.suggest_batch(context, 3)
    assert len({tuple(sorted(p.items())) for p in batch}) == 3


@pytest.mark.parametrize("acquisition", ["ucb", "kg", "mes"])
def test_every_acquisition_runs(tmp_path, acquisition: str) -> None:
    sampler = make_sampler("gp", acquisition=acquisition, n_initial=4, num_restarts=2, raw_samples=32,
                           num_fantasies=4, mes_candidates=64)
    study = _initial(tmp_path, sampler, n=7)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 7
    assert len({(t.params["x1"], t.params["x2"]) for t in study.trials}) == 7


def test_mixed_space_uses_the_discrete_optimisers(tmp_path) -> None:
    space = {"x": hpo.Float(0, 1), "n": hpo.Int(1, 4), "units": hpo.Int(8, 4096, log=True),
             "act": hpo.Categorical(["relu", "tanh", "gelu"])}

    def objective(trial: hpo.Trial) -> float:
        p = trial.params
        return (p["x"] - 0.3) ** 2 + (p["n"] - 3) ** 2 + (math.log2(p["units"]) - 7) ** 2 / 10 + (p["act"] != "tanh")

    study = hpo.create_study(name="mixed", space=space, storage=f"sqlite:///{tmp_path}/m.db",
                             sampler=make_sampler("gp", n_initial=6, num_restarts=2, raw_samples=64), seed=0)
    study.optimize(objective, n_trials=14, show_progress_bar=False)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert study.best_value < 1.0


def test_constraints_are_modelled(tmp_path) -> None:
    def objective(trial: hpo.Trial) -> dict[str, float]:
        return {"value": _branin(trial), "x_sum": trial["x1"] + trial["x2"]}

    study = hpo.create_study(name="con", space=BRANIN_SPACE, storage=f"sqlite:///{tmp_path}/c.db",
                             sampler=make_sampler("gp", n_initial=5, num_restarts=2, raw_samples=64),
                             constraints={"x_sum": ("<=", 8.0)}, seed=0)
    study.optimize(objective, n_trials=12, show_progress_bar=False)
    assert study.best_trial.constraint_values["x_sum"] <= 8.0
    later = study.trials[5:]
    assert sum(t.constraint_values["x_sum"] <= 8.0 for t in later) >= len(later) // 2


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"acquisition": "ei"}, SamplerError, r"unknown acquisition 'ei'; valid acquisitions: \['auto', 'kg', 'logei', 'mes', 'ucb', 'ehvi', 'nehvi', 'parego'\]"),
        ({"num_restarts": 0}, SamplerError, "num_restarts: must be an integer >= 1"),
        ({"n_initial": -1}, SamplerError, "n_initial: must be an integer >= 1"),
        ({"beta": -1.0}, SamplerError, "0 <= beta < inf"),
        ({"device": "tpu9"}, SamplerError, "device must be 'auto' or a torch device"),
        ({"restarts": 3}, SamplerError, r"unknown option\(s\) \['restarts'\]; valid options: \[.*'num_restarts'"),
        ({"surrogate": "ensemble"}, SamplerError, "fixed by the sampler name"),
        ({"surrogate_options": {"max_points": 1}}, SurrogateError, "max_points: must be an integer >= 3"),
    ],
)
def test_invalid_options_raise_clear_errors(options: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_sampler("gp", **options)


def test_invalid_combinations() -> None:
    with pytest.raises(SamplerError, match="needs a surrogate that supports fantasies"):
        make_sampler("ensemble", acquisition="kg")
    with pytest.raises(UnknownNameError, match="valid names"):
        BOSampler(surrogate="svm")


def test_single_objective_acquisition_on_a_multi_objective_study_is_refused_with_advice(tmp_path) -> None:
    study = hpo.create_study(name="mo", space=BRANIN_SPACE, storage=f"sqlite:///{tmp_path}/mo.db",
                             objectives={"a": "minimize", "b": "minimize"},
                             sampler=make_sampler("gp", n_initial=2, acquisition="ucb"), seed=0)
    with pytest.raises(SamplerError, match="'ucb' handles one objective.*'ehvi', 'nehvi', 'parego'"):
        study.ask()
    assert study.trials == []  # nothing was started

"""HpoSampler (hpo's samplers inside Optuna) against Optuna's own sampler test suites.

The suites are imported from the installed Optuna (``optuna.testing.pytest_samplers``); each class
gives them a ``sampler`` fixture (a zero-argument factory). What ran with what:

- ``gp`` (cheap settings: ``n_initial=2``, 2 restarts, 32 raw samples, 16 MC samples): the Basic,
  Relative and MultiObjective suites;
- ``random`` (hpo's random sampler): Basic, Relative and MultiObjective;
- ``tpe`` (Optuna's TPE run through hpo's adapter, inside Optuna again): Basic;
- ``cmaes`` (single-objective only): SingleOnly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import optuna
import pytest
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    MultiObjectiveSamplerTestCase,
    RelativeSamplerTestCase,
    SingleOnlySamplerTestCase,
)

from hpo.errors import SamplerError, ValidationError
from hpo.integrations.optuna_sampler import HpoSampler
from hpo.space import Float, SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: The GP with the cheapest settings that still fit a model from the third trial on.
CHEAP_GP = {"n_initial": 2, "num_restarts": 2, "raw_samples": 32, "mc_samples": 16}


def _gp() -> HpoSampler:
    return HpoSampler("gp", seed=0, **CHEAP_GP)


class TestGPBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], HpoSampler]:
        return _gp


class TestGPRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], HpoSampler]:
        return _gp


class TestGPMultiObjective(MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], HpoSampler]:
        return _gp


class TestRandomBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], HpoSampler]:
        return lambda: HpoSampler("random", seed=0)


class TestRandomRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], HpoSampler]:
        return lambda: HpoSampler("random", seed=0)


class TestRandomMultiObjective(MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], HpoSampler]:
        return lambda: HpoSampler("random", seed=0)


class TestTPEBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], HpoSampler]:
        return lambda: HpoSampler("tpe", seed=0, n_startup_trials=2)


class TestCmaEsSingleOnly(SingleOnlySamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], HpoSampler]:
        return lambda: HpoSampler("cmaes", seed=0)


# -- our own checks of the wrapper ------------------------------------------------------------

def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -3.0, 3.0)
    n = trial.suggest_int("n", 0, 4)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    if kind == "b":  # a conditional parameter: outside the intersection space, sampled independently
        x += trial.suggest_float("shift", 0.0, 1.0)
    return (x - 1.0) ** 2 + n


def _run(sampler: HpoSampler, n_trials: int = 8, **kwargs: object) -> optuna.Study:
    study = optuna.create_study(sampler=sampler, **kwargs)
    study.optimize(_objective, n_trials=n_trials)
    return study


def test_seeded_studies_replay_their_suggestions() -> None:
    a, b = _run(HpoSampler("gp", seed=3, **CHEAP_GP), 4), _run(HpoSampler("gp", seed=3, **CHEAP_GP), 4)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]  # two of them from the fitted GP
    c = _run(HpoSampler("gp", seed=4, **CHEAP_GP), 1)
    assert a.trials[0].params != c.trials[0].params


def test_relative_sampling_goes_to_the_hpo_sampler_and_conditionals_fall_back() -> None:
    seen: list[list[str]] = []

    class Recording(HpoSampler):
        def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
            seen.append(sorted(search_space))
            return super().sample_relative(study, trial, search_space)

    study = _run(Recording("random", seed=0), 8)
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert seen[0] == [] and seen[-1] == ["kind", "n", "x"]  # the intersection space, never "shift"
    assert any("shift" in t.params for t in study.trials)


def test_running_trials_are_pending_points() -> None:
    sampler = HpoSampler("gp", seed=0, **CHEAP_GP)
    study = optuna.create_study(sampler=sampler)
    space = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    for v in (0.1, 0.9, 0.5):
        study.add_trial(optuna.create_trial(params={"x": v}, distributions=space, value=(v - 0.3) ** 2))
    running = study.ask(space)  # stays RUNNING
    trial = study.ask()
    history, pending, _ = sampler._observations(study, trial, ["x"], SearchSpace({"x": Float(0.0, 1.0)}), space,
                                                sampler._objectives(study))
    assert [t.params for t in history] == [{"x": 0.1}, {"x": 0.9}, {"x": 0.5}]
    assert pending == [{"x": running.params["x"]}]


def test_multi_objective_and_constraints_reach_the_hpo_sampler() -> None:
    def constraints(t: optuna.trial.FrozenTrial) -> list[float]:
        return [t.params["x"] - 2.0]  # feasible: x <= 2

    sampler = HpoSampler("gp", seed=0, constraints_func=constraints, **CHEAP_GP)
    study = optuna.create_study(sampler=sampler, directions=["minimize", "maximize"])
    study.optimize(lambda t: (t.suggest_float("x", 0.0, 4.0), t.suggest_float("y", 0.0, 1.0)), n_trials=5)
    assert all(t.system_attrs["constraints"] == (t.params["x"] - 2.0,) for t in study.trials)
    last = study.trials[-1]
    space = SearchSpace({"x": Float(0.0, 4.0), "y": Float(0.0, 1.0)})
    history, _, cons = sampler._observations(study, study.ask(), ["x", "y"], space, last.distributions,
                                             sampler._objectives(study))
    assert [c.name for c in cons] == ["constraint_0"] and len(history) == 5
    assert history[0].constraint_values == {"constraint_0": study.trials[0].params["x"] - 2.0}
    assert set(history[0].values) == {"value_0", "value_1"}


def test_reseed_rng_changes_the_seed() -> None:
    sampler = HpoSampler("random", seed=1)
    sampler.reseed_rng()
    assert sampler._seed != 1


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(SamplerError, match="seed"):
        HpoSampler("random", seed=-1)
    with pytest.raises(ValidationError, match="no_such_sampler"):
        HpoSampler("no_such_sampler")
    with pytest.raises(SamplerError, match="options"):
        HpoSampler(HpoSampler("random").hpo_sampler, n_initial=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(HpoSampler("random"), optuna.samplers.BaseSampler)


def test_the_sampler_benchmark_runs_tiny_and_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hpo.bench.optuna_sampler_bench import SAMPLERS, run_sampler_part, sampler_section

    log = tmp_path / "runs.jsonl"
    rows = run_sampler_part(tmp_path / "out", seeds=[0, 1], budget=3, problems=["branin"], runs_log=log)
    assert [(r["sampler"], r["seed"]) for r in rows] == [(s, seed) for s in SAMPLERS for seed in (0, 1)]
    assert all(r["error"] is None and len(r["values"]) == 3 for r in rows)
    assert len(log.read_text().splitlines()) == 6
    again = run_sampler_part(tmp_path / "out", seeds=[0, 1], budget=3, problems=["branin"], runs_log=log)
    assert again == rows and len(log.read_text().splitlines()) == 6  # resumed from the log, nothing re-run
    section = sampler_section(rows, machine="a test machine")
    assert "| branin | 3 |" in section and "seeds [0, 1]" in section
    assert "lower median regret than `optuna-gp` on" in section


def test_the_sampler_benchmark_in_two_processes_gives_the_serial_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hpo.bench.optuna_sampler_bench import run_sampler_part

    kw = dict(seeds=[0, 1], budget=4, problems=["branin"], samplers=["optuna-tpe"])
    serial = run_sampler_part(tmp_path / "a", runs_log=None, **kw)  # type: ignore[arg-type]
    log = tmp_path / "runs.jsonl"
    parallel = run_sampler_part(tmp_path / "b", runs_log=log, processes=2, **kw)  # type: ignore[arg-type]
    assert [r["values"] for r in parallel] == [r["values"] for r in serial]  # same order, same seeded values
    assert len(log.read_text().splitlines()) == 2

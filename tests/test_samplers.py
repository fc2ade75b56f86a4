"""Every sampler passes the shipped sampler conformance suite; registry errors are clear."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import hpo
from hpo.errors import SamplerError, SamplerExhausted, UnknownNameError
from hpo.samplers import GridSampler, Sampler, make_sampler, sampler_names
from hpo.testing.sampler_suite import SamplerConformance


class TestRandom(SamplerConformance):
    registered_name = "random"

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("random")


class TestSobol(SamplerConformance):
    registered_name = "sobol"

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("sobol")


class TestGrid(SamplerConformance):
    registered_name = "grid"

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("grid", resolution=3)


class TestTPE(SamplerConformance):
    registered_name = "tpe"

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("tpe", n_startup_trials=5)


class TestCmaEs(SamplerConformance):
    registered_name = "cmaes"
    supports_multi_objective = False

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("cmaes", n_startup_trials=4)


class TestNSGA2(SamplerConformance):
    registered_name = "nsga2"

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("nsga2", population_size=6)


class TestOptunaGP(SamplerConformance):
    registered_name = "optuna-gp"
    supports_multi_objective = True
    n_trials = 10

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("optuna-gp", n_startup_trials=5)


def test_registry_names() -> None:
    assert {"random", "sobol", "grid", "tpe", "cmaes", "nsga2", "optuna-gp"} <= set(sampler_names())


def test_unknown_sampler_name_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="tpe"):
        make_sampler("tpee")


@pytest.mark.parametrize("name", ["random", "sobol", "grid", "tpe", "cmaes"])
def test_unknown_option_lists_valid_options(name: str) -> None:
    with pytest.raises(SamplerError, match="valid options"):
        make_sampler(name, bogus=1)


def test_mapping_form() -> None:
    sampler = make_sampler({"name": "tpe", "options": {"n_startup_trials": 3}})
    assert sampler.options()["n_startup_trials"] == 3
    with pytest.raises(SamplerError, match="keys"):
        make_sampler({"nme": "tpe"})


def test_grid_is_exhaustive_then_stops(tmp_path) -> None:
    space = {"a": hpo.Categorical(["x", "y"]), "b": hpo.Int(1, 3), "c": hpo.Float(0, 1, active_if={"a": ["x"]})}
    study = hpo.create_study(space=space, storage=f"sqlite:///{tmp_path}/g.db", sampler=GridSampler(resolution=3), seed=0)
    study.optimize(lambda t: t["b"], n_trials=100, show_progress_bar=False)
    configs = [tuple(sorted(t.params.items())) for t in study.trials]
    # a=x: 3 b-values x 3 c-values; a=y: 3 b-values (c inactive) -> 12 distinct points, each once
    assert len(configs) == 12 and len(set(configs)) == 12
    with pytest.raises(SamplerExhausted):
        study.ask()


def test_grid_resolution_is_validated() -> None:
    with pytest.raises(SamplerError, match="resolution"):
        GridSampler(resolution=1)


def test_sobol_points_are_spread(tmp_path) -> None:
    study = hpo.create_study(space={"u": hpo.Float(0, 1)}, storage=f"sqlite:///{tmp_path}/s.db", sampler="sobol", seed=1)
    study.optimize(lambda t: t["u"], n_trials=16, show_progress_bar=False)
    values = sorted(t.params["u"] for t in study.trials)
    # a scrambled Sobol sequence of 16 points puts exactly one point in each 1/16 stratum
    assert [int(v * 16) for v in values] == list(range(16))

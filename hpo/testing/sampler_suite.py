"""Conformance suite for :class:`hpo.samplers.Sampler` implementations.

Subclass :class:`SamplerConformance` and provide a ``sampler_factory`` fixture
returning a zero-argument callable that builds a fresh sampler::

    class TestMySampler(SamplerConformance):
        supports_multi_objective = False

        @pytest.fixture
        def sampler_factory(self):
            return lambda: MySampler(option=1)

The tests run real studies on a SQLite file in ``tmp_path``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import hpo
from hpo.errors import SamplerError
from hpo.records import TrialState
from hpo.samplers import Sampler
from hpo.testing.registered import check_registered

__all__ = ["SamplerConformance", "MIXED_SPACE"]

#: A space with every parameter kind, log scales, steps and a conditional parameter.
MIXED_SPACE: dict[str, Any] = {
    "x": hpo.Float(-2.0, 3.0),
    "lr": hpo.Float(1e-5, 1e-1, log=True),
    "q": hpo.Float(0.0, 1.0, step=0.25),
    "n": hpo.Int(1, 9),
    "units": hpo.Int(8, 512, log=True),
    "opt": hpo.Categorical(["sgd", "adam"]),
    "momentum": hpo.Float(0.0, 0.99, active_if={"opt": ["sgd"]}),
    "fixed": 7,
}


def _objective(trial: Any) -> float:
    p = trial.params
    return (p["x"] - 1) ** 2 + math.log10(p["lr"]) ** 2 / 10 + p["q"] + p["n"] / 10 + (p["opt"] == "sgd")


class SamplerConformance:
    """The contract of a sampler. Override ``sampler_factory`` (and the class flags)."""

    #: the name this suite tests in :data:`hpo.samplers.registry.SAMPLERS` (None: an unregistered sampler).
    registered_name: ClassVar[str | None] = None
    supports_multi_objective: ClassVar[bool] = True
    deterministic: ClassVar[bool] = True
    n_trials: ClassVar[int] = 14

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:  # pragma: no cover - overridden
        pytest.fail("subclasses of SamplerConformance provide a `sampler_factory` fixture")

    def _study(self, tmp_path: Any, factory: Callable[[], Sampler], name: str = "s", seed: int | None = 0,
               **kwargs: Any) -> Any:
        return hpo.create_study(name=name, space=kwargs.pop("space", MIXED_SPACE), storage=f"sqlite:///{tmp_path}/{name}.db",
                                sampler=factory(), seed=seed, **kwargs)

    def test_is_a_sampler(self, sampler_factory: Callable[[], Sampler]) -> None:
        assert isinstance(sampler_factory(), Sampler)

    def test_registered_name_builds_this_sampler(self, sampler_factory: Callable[[], Sampler]) -> None:
        if self.registered_name is None:
            pytest.skip("registered_name is None: the suite tests an unregistered sampler")
        from hpo.samplers.registry import SAMPLERS

        check_registered("sampler", self.registered_name, SAMPLERS.make(self.registered_name), sampler_factory())

    def test_suggestions_are_valid_configurations(self, tmp_path: Any, sampler_factory: Callable[[], Sampler]) -> None:
        study = self._study(tmp_path, sampler_factory)
        study.optimize(_objective, n_trials=self.n_trials, show_progress_bar=False)
        trials = study.trials
        assert len(trials) == self.n_trials
        for t in trials:
            assert t.state is TrialState.COMPLETE, t.error
            assert study.space.validate(t.params) == t.params
            assert t.params["fixed"] == 7
            assert ("momentum" in t.params) == (t.params["opt"] == "sgd")

    def test_seeded_study_replays_the_same_suggestions(self, tmp_path: Any, sampler_factory: Callable[[], Sampler]) -> None:
        if not self.deterministic:
            pytest.skip("this sampler is declared non-deterministic")
        runs = []
        for name in ("a", "b"):
            study = self._study(tmp_path, sampler_factory, name=name, seed=123)
            study.optimize(_objective, n_trials=self.n_trials, show_progress_bar=False)
            runs.append([t.params for t in study.trials])
        assert runs[0] == runs[1]

    def test_history_with_failed_and_pruned_trials(self, tmp_path: Any, sampler_factory: Callable[[], Sampler]) -> None:
        study = self._study(tmp_path, sampler_factory)

        def flaky(trial: Any) -> float:
            if trial.number % 4 == 1:
                raise RuntimeError("diverged")
            if trial.number % 4 == 2:
                raise hpo.TrialPruned()
            if trial.number % 4 == 3:
                return float("nan")
            return _objective(trial)

        study.optimize(flaky, n_trials=self.n_trials, show_progress_bar=False)
        states = [t.state for t in study.trials]
        assert states.count(TrialState.COMPLETE) == math.ceil(self.n_trials / 4)
        assert TrialState.FAILED in states and TrialState.PRUNED in states

    def test_multi_objective(self, tmp_path: Any, sampler_factory: Callable[[], Sampler]) -> None:
        objectives = {"a": "minimize", "b": "maximize"}
        if not self.supports_multi_objective:  # a single-objective sampler refuses, at creation or at ask,
            with pytest.raises(SamplerError, match="objective"):  # with a SamplerError and no trial created
                study = None
                study = self._study(tmp_path, sampler_factory, objectives=objectives)
                study.ask()
            assert study is None or study.trials == []
            return
        study = self._study(tmp_path, sampler_factory, objectives=objectives)
        study.optimize(lambda t: {"a": _objective(t), "b": t["n"]}, n_trials=self.n_trials, show_progress_bar=False)
        assert all(t.state is TrialState.COMPLETE for t in study.trials)
        assert study.pareto_front()

    def test_batch_suggestions(self, tmp_path: Any, sampler_factory: Callable[[], Sampler]) -> None:
        study = self._study(tmp_path, sampler_factory)
        study.optimize(_objective, n_trials=5, show_progress_bar=False)
        context = study.sampling_context(study.store.reserve_numbers(study.study_id, 4))
        batch = sampler_factory().suggest_batch(context, 4)
        assert len(batch) == 4
        for params in batch:
            assert study.space.validate(params) == params

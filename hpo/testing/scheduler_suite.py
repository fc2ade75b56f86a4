"""Conformance suite for :class:`hpo.schedulers.Scheduler` implementations.

Subclass :class:`SchedulerConformance` and provide a ``scheduler_factory``
fixture returning a zero-argument callable that builds a fresh scheduler::

    class TestMyScheduler(SchedulerConformance):
        @pytest.fixture
        def scheduler_factory(self):
            return lambda: MyScheduler(option=1)

The tests run real studies on SQLite files in ``tmp_path``, on the simulated
backend (:mod:`hpo.execution.simulated`) and on the local executor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import hpo
from hpo.records import TrialState
from hpo.schedulers import Decision, Scheduler, make_scheduler
from hpo.bench.fidelity_problems import SyntheticCurves
from hpo.execution.simulated import BUDGET_SPENT, SimulatedExecutor

__all__ = ["SchedulerConformance"]


def _signature(study: Any) -> list[tuple]:
    """What a replay must reproduce: each trial's params, budget, resume source and state."""
    return [(t.number, json.dumps(t.params, sort_keys=True), t.attrs.get("budget"), t.attrs.get("resume_from"),
             t.state.value) for t in study.trials]


class SchedulerConformance:
    """The contract of a scheduler. Override ``scheduler_factory``."""

    n_workers: ClassVar[int] = 3
    max_resource: ClassVar[float] = 81 * 3

    @pytest.fixture
    def scheduler_factory(self) -> Callable[[], Scheduler]:  # pragma: no cover - overridden
        pytest.fail("subclasses of SchedulerConformance provide a `scheduler_factory` fixture")

    def _simulate(self, tmp_path: Any, factory: Callable[[], Scheduler], name: str = "s",
                  seed: int | None = 0) -> tuple[Any, SimulatedExecutor]:
        problem = SyntheticCurves(seed=0)
        study = hpo.create_study(
            name=name, space=problem.space, fidelity=problem.fidelity, scheduler=factory(), sampler="random",
            seed=seed, storage=f"sqlite:///{tmp_path / (name + '.db')}",
        )
        executor = SimulatedExecutor(problem, max_resource=self.max_resource)
        study.optimize(problem, n_trials=None, n_workers=self.n_workers, backend=executor, show_progress_bar=False)
        return study, executor

    def test_is_a_scheduler_with_json_options(self, scheduler_factory: Callable[[], Scheduler]) -> None:
        scheduler = scheduler_factory()
        assert isinstance(scheduler, Scheduler)
        options = scheduler.options()
        assert json.loads(json.dumps(options)) == options
        rebuilt = make_scheduler(scheduler.name, **options) if scheduler.name in hpo.schedulers.scheduler_names() \
            else type(scheduler)(**options)
        assert rebuilt.options() == options

    def test_plans_stay_within_the_fidelity(self, tmp_path: Any, scheduler_factory: Callable[[], Scheduler]) -> None:
        study, executor = self._simulate(tmp_path, scheduler_factory)
        fidelity = study.fidelity
        trials = study.trials
        assert len(trials) >= self.n_workers
        for t in trials:
            budget = t.attrs["budget"]
            assert fidelity.min <= budget <= fidelity.max
            steps = [r.step for r in study.store.get_reports(study.study_id, [t.number])]
            assert steps and max(steps) <= budget
            assert min(steps) > t.attrs.get("start_step", 0.0)
            if t.state is TrialState.COMPLETE:
                assert max(steps) == budget
        assert executor.resource >= self.max_resource

    def test_stops_and_resumes_only_as_declared(self, tmp_path: Any,
                                                scheduler_factory: Callable[[], Scheduler]) -> None:
        study, _ = self._simulate(tmp_path, scheduler_factory)
        scheduler = study.scheduler
        by_number = {t.number: t for t in study.trials}
        pruned = [t for t in by_number.values() if t.state is TrialState.PRUNED and t.error != BUDGET_SPENT]
        if not scheduler.stops_trials:
            assert not pruned
        for t in by_number.values():
            parent = t.attrs.get("resume_from")
            if parent is None:
                assert t.attrs.get("start_step", 0.0) == 0.0
                continue
            assert scheduler.resumes_trials
            source = by_number[parent]
            assert source.state is TrialState.COMPLETE
            assert t.attrs["start_step"] == source.attrs["budget"] < t.attrs["budget"]
            assert t.attrs["resume_dir"] == study.checkpoint_path(parent)

    def test_decide_continues_without_reports(self, tmp_path: Any,
                                              scheduler_factory: Callable[[], Scheduler]) -> None:
        problem = SyntheticCurves(seed=0)
        study = hpo.create_study(name="fresh", space=problem.space, fidelity=problem.fidelity,
                                 scheduler=scheduler_factory(), sampler="random", seed=0,
                                 storage=f"sqlite:///{tmp_path / 'fresh.db'}")
        trial = study.ask()
        assert study.scheduler.decide(study.scheduler_state(), trial.number) is Decision.CONTINUE
        assert not trial.should_stop()

    def test_seeded_runs_replay(self, tmp_path: Any, scheduler_factory: Callable[[], Scheduler]) -> None:
        first, _ = self._simulate(tmp_path, scheduler_factory, name="a", seed=3)
        second, _ = self._simulate(tmp_path, scheduler_factory, name="b", seed=3)
        assert _signature(first) == _signature(second)

    def test_decisions_survive_a_driver_restart(self, tmp_path: Any,
                                                scheduler_factory: Callable[[], Scheduler]) -> None:
        study, _ = self._simulate(tmp_path, scheduler_factory, name="restart")
        reloaded = hpo.load_study("restart", storage=study.store.url)  # a new driver: state from the store
        assert reloaded.scheduler.options() == study.scheduler.options()
        live_state, fresh_state = study.scheduler_state(), reloaded.scheduler_state()
        assert {n: (t.state, t.curve) for n, t in live_state.trials.items()} == \
            {n: (t.state, t.curve) for n, t in fresh_state.trials.items()}
        number = max(live_state.trials) + 1
        rng = lambda: hpo.samplers.trial_rng(0, number, salt=0x5C)  # noqa: E731
        try:
            live = study.scheduler.plan(live_state, number, rng())
        except hpo.errors.HpoError as exc:  # e.g. a finished PBT population: both drivers must agree
            with pytest.raises(type(exc)):
                reloaded.scheduler.plan(fresh_state, number, rng())
            return
        assert reloaded.scheduler.plan(fresh_state, number, rng()) == live

    def test_runs_on_the_local_executor(self, tmp_path: Any, scheduler_factory: Callable[[], Scheduler]) -> None:
        problem = SyntheticCurves(seed=0)
        study = hpo.create_study(name="local", space=problem.space, fidelity=problem.fidelity,
                                 scheduler=scheduler_factory(), sampler="random", seed=0,
                                 storage=f"sqlite:///{tmp_path / 'local.db'}")
        study.optimize(problem, n_trials=12, n_workers=2, show_progress_bar=False)
        states = {t.state for t in study.trials}
        assert TrialState.FAILED not in states and TrialState.COMPLETE in states

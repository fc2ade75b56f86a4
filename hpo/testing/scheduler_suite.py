"""Conformance suite for :class:`hpo.schedulers.Scheduler` implementations.

Subclass :class:`SchedulerConformance` and provide a ``scheduler_factory``
fixture returning a zero-argument callable that builds a fresh scheduler::

    class TestMyScheduler(SchedulerConformance):
        @pytest.fixture
        def scheduler_factory(self):
            return lambda: MyScheduler(option=1)

The tests run real studies on SQLite files in ``tmp_path``, on the simulated
backend (:mod:`hpo.execution.simulated`) and on the local executor. The scheduler->sampler
contract is checked with a model-free sampler (``random``), an Optuna sampler
(``tpe``) and a model-based one (``gp``, cut down): every context the sampler gets
has an append-only ``history`` and a ``scheduler_data`` at one of the scheduler's
levels whose values are the objective's own (minimised and maximised studies).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import hpo
from hpo.errors import NothingToRun, SamplerExhausted
from hpo.records import TrialState
from hpo.samplers import Sampler, SamplingContext, make_sampler
from hpo.schedulers import Decision, Scheduler, make_scheduler
from hpo.bench.fidelity_problems import SyntheticCurves
from hpo.execution.simulated import BUDGET_SPENT, SimulatedExecutor
from hpo.testing.registered import check_registered

__all__ = ["SchedulerConformance"]


def _signature(study: Any) -> list[tuple]:
    """What a replay must reproduce: each trial's params, budget, resume source and state."""
    return [(t.number, json.dumps(t.params, sort_keys=True), t.attrs.get("budget"), t.attrs.get("resume_from"),
             t.state.value) for t in study.trials]


#: Samplers the contract runs with: model-free, Optuna, model-based (cut down to stay cheap).
CONTRACT_SAMPLERS: dict[str, Callable[[], Sampler]] = {
    "random": lambda: make_sampler("random"),
    "tpe": lambda: make_sampler("tpe", n_startup_trials=4),
    "gp": lambda: make_sampler("gp", n_initial=4, num_restarts=2, raw_samples=32),
}


class _Recording(Sampler):
    """A sampler that keeps every context the study hands to ``inner`` (asking for the history even
    when ``inner`` does not need it, so the contract is checked for every sampler)."""

    name: ClassVar[str] = "recording"
    uses_history: ClassVar[bool] = True

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner
        self.contexts: list[SamplingContext] = []
        self.uses_pending = inner.uses_pending

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        self.contexts.append(context)
        return self.inner.suggest(context)


def _curve(params: dict[str, Any], step: float) -> float:
    """A learning curve falling with the steps; its floor depends on the configuration."""
    return (params["x"] - 0.3) ** 2 + 0.5 * (params["y"] - 0.6) ** 2 + 1.0 / step


def _drive(study: Any, n_trials: int, sign: float) -> None:
    """Ask and tell ``n_trials`` one at a time, reporting ``sign * loss`` at every whole step."""
    for _ in range(n_trials):
        try:
            trial = study.ask()
        except (NothingToRun, SamplerExhausted):
            return
        value = None
        for step in range(int(trial.start_step) + 1, int(trial.budget) + 1):
            value = sign * _curve(trial.params, step)
            trial.report(step, value)
            if trial.should_stop():
                break
        else:
            if value is not None:
                study.tell(trial, value)
                continue
        study.tell(trial, state="PRUNED")


def _value_at(study: Any, number: int, level: float) -> float:
    """The value trial ``number``'s configuration reported at the first step >= ``level``, read from the
    store and following resumed trials back to the one that trained through the level."""
    trials = {t.number: t for t in study.trials}
    for _ in range(len(trials)):
        trial = trials[number]
        reports = [r for r in study.store.get_reports(study.study_id, [number]) if r.step >= level - 1e-9]
        if reports and trial.attrs.get("start_step", 0.0) < level - 1e-9:
            return min(reports, key=lambda r: r.step).values[study.objectives[0].name]
        number = int(trial.attrs["resume_from"])
    raise AssertionError(f"trial {number}: no report at level {level}")


class SchedulerConformance:
    """The contract of a scheduler. Override ``scheduler_factory``."""

    #: the name this suite tests in :data:`hpo.schedulers.registry.SCHEDULERS` (None: unregistered).
    registered_name: ClassVar[str | None] = None
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

    def test_registered_name_builds_this_scheduler(self, scheduler_factory: Callable[[], Scheduler]) -> None:
        if self.registered_name is None:
            pytest.skip("registered_name is None: the suite tests an unregistered scheduler")
        from hpo.schedulers.registry import SCHEDULERS

        check_registered("scheduler", self.registered_name, SCHEDULERS.make(self.registered_name), scheduler_factory())

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

    @pytest.mark.parametrize(("sampler_name", "direction"),
                             [("random", "maximize"), ("tpe", "minimize"), ("tpe", "maximize"), ("gp", "maximize")])
    def test_the_sampler_gets_append_only_history_and_one_rung_in_objective_units(
            self, tmp_path: Any, scheduler_factory: Callable[[], Scheduler], sampler_name: str,
            direction: str) -> None:
        sampler = _Recording(CONTRACT_SAMPLERS[sampler_name]())
        study = hpo.create_study(name="contract", space={"x": hpo.Float(0.0, 1.0), "y": hpo.Float(0.0, 1.0)},
                                 objectives={"score": direction}, fidelity=hpo.Fidelity("epochs", 1, 9),
                                 scheduler=scheduler_factory(), sampler=sampler, seed=0,
                                 storage=f"sqlite:///{tmp_path / 'contract.db'}",
                                 checkpoint_root=str(tmp_path / "ckpt"))
        sign = 1.0 if direction == "minimize" else -1.0
        _drive(study, 14, sign)
        assert sampler.contexts, "the scheduler never asked the sampler for a configuration"
        levels = study.scheduler.levels(study.fidelity)
        previous: list[int] = []
        held: tuple[float, dict[str, float]] = (-1.0, {})
        for context in sampler.contexts:
            numbers = [t.number for t in context.history]
            assert numbers[: len(previous)] == previous  # history is append-only: finished trials, in order
            assert all(t.state.is_finished for t in context.history)
            previous = numbers
            data = context.scheduler_data
            assert data is not None and data.level in levels
            assert all(t.attrs["level"] == data.level and set(t.values) == {"score"} for t in data.trials)
            assert len({json.dumps(t.params, sort_keys=True) for t in data.trials}) == len(data.trials)
            assert context.training_trials() == list(data.trials)
            for row, t in zip(context.losses().tolist(), data.trials):
                assert row == [sign * t.values["score"]]  # losses() is the one sign normalisation
            rows = {json.dumps(t.params, sort_keys=True): t.values["score"] for t in data.trials}
            if data.level == held[0]:  # at one level the data only grows and its values stay
                assert {k: rows.get(k) for k in held[1]} == held[1]
            held = (data.level, rows)
        final = study.sampling_context(len(study.trials)).scheduler_data  # promotions and exploits included
        for data in (sampler.contexts[-1].scheduler_data, final):
            assert data is not None and data.trials and data.level in levels
            for t in data.trials:  # values in objective units: what the objective reported at the level
                assert t.values["score"] == _value_at(study, t.number, data.level)
                if direction == "maximize":
                    assert t.values["score"] < 0

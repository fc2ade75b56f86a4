"""Conformance suite for :class:`hpo.execution.Executor` implementations.

Subclass :class:`ExecutorConformance` and provide an ``executor_factory`` fixture
returning a callable ``factory(problem, **options)`` that builds a fresh executor
(``options`` are executor options such as ``max_retries``)::

    class TestMyExecutor(ExecutorConformance):
        not_applicable = {"timeout": "runs on a simulated clock; max_time bounds it"}

        @pytest.fixture
        def executor_factory(self):
            return lambda problem, **options: MyExecutor(**options)

Every case runs a real study on a SQLite file in ``tmp_path`` with a
:class:`ScriptedCurves` problem as the objective: its configurations are
enqueued, and the value of ``x`` picks what the trial does (complete, prune,
fail, raise outside ``catch``, wait for a heartbeat, press Ctrl-C). A case that
does not apply to an executor is named in ``not_applicable`` with the reason;
it is reported as skipped with that reason, never silently.

The contract: trial states (COMPLETE / PRUNED / FAILED), failures keep their
traceback, an exception outside ``catch`` fails the trial and propagates,
retries re-queue a failed configuration without counting against ``n_trials``,
``timeout`` ends the run, progress (callbacks and the progress bar count every
trial), stop requests reach the running trial (``trial.should_stop()``),
heartbeats extend a RUNNING trial's lease, Ctrl-C fails the trial it interrupts
with ``"interrupted (KeyboardInterrupt)"`` and propagates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import hpo
from hpo.bench.fidelity_problems import CurveProblem
from hpo.errors import TrialPruned
from hpo.execution import Executor
from hpo.fidelity import Fidelity
from hpo.records import FrozenTrial, TrialState
from hpo.schedulers import Decision, Plan, Scheduler, SchedulerState
from hpo.space import Float, SearchSpace
from hpo.testing.registered import check_registered

__all__ = ["ExecutorConformance", "ScriptedCurves", "StopAtStep", "CASES"]

#: The cases an executor's suite may declare not applicable (``not_applicable``).
CASES = ("states", "tracebacks", "uncaught", "retries", "timeout", "progress", "stop", "heartbeat", "ctrl_c")

#: x values of the enqueued configurations and what their trials do.
OK, PRUNE, FAIL, FATAL, SLOW, HEARTBEAT, INTERRUPT = 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875


class ScriptedFatal(LookupError):
    """Raised by the ``FATAL`` configuration; the cases run it with ``catch=(ValueError,)``."""


class ScriptedCurves(CurveProblem):
    """A curve problem whose trials do what ``x`` says (see the module constants); others complete.

    ``loss`` is what the simulated executor plays; called as an objective it runs
    for real (reports each step, honours stops), with ``SLOW`` steps taking
    ``step_seconds`` of real time so that a stop decision reaches the trial first,
    and a ``HEARTBEAT`` trial waiting (up to ``wait``) for its lease to be extended.
    """

    name: ClassVar[str] = "scripted-curves"

    def __init__(self, n_steps: int = 4, step_seconds: float = 0.05, wait: float = 60.0) -> None:
        self.space = SearchSpace({"x": Float(0.0, 1.0)})
        self.fidelity = Fidelity("steps", 1, n_steps)
        self.step_seconds = step_seconds
        self.wait = wait
        self.study_ref: tuple[str, str] | None = None  # (name, storage) for the HEARTBEAT trial

    def loss(self, params: dict[str, Any], step: float) -> float:
        x = params["x"]
        if x == PRUNE and step >= 2:
            raise TrialPruned()
        if x == FAIL:
            raise ValueError(f"scripted failure at x={x}, step={step}")
        if x == FATAL:
            raise ScriptedFatal(f"scripted fatal error at x={x}")
        if x == INTERRUPT:
            raise KeyboardInterrupt
        return x + 1.0 / step

    def __call__(self, trial: Any) -> float:
        if trial.params["x"] == HEARTBEAT:
            return self._wait_for_heartbeat(trial.number)
        if trial.params["x"] == SLOW:
            loss = 0.0
            for step in range(1, int(self.fidelity.max) + 1):
                loss = self.loss(trial.params, step)
                trial.report(step, loss)
                if trial.should_stop():
                    raise TrialPruned()
                time.sleep(self.step_seconds)
            return loss
        return super().__call__(trial)

    def _wait_for_heartbeat(self, number: int) -> float:
        """Return 0.0 once this RUNNING trial's lease (``expires_at``) moved on; raise after ``wait``."""
        if self.study_ref is None:
            raise ValueError("ScriptedCurves.study_ref is not set")
        study = hpo.load_study(*self.study_ref)
        first = None
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            (me,) = [t for t in study.get_trials([TrialState.RUNNING]) if t.number == number]
            if first is None:
                first = me.expires_at
            elif me.expires_at is not None and first is not None and me.expires_at > first:
                return 0.0
            time.sleep(0.05)
        raise ValueError(f"trial {number}: the lease was not extended within {self.wait} s")


class StopAtStep(Scheduler):
    """A scheduler that stops every trial once it has reported ``step``."""

    name = "stop-at-step"

    def __init__(self, step: float = 2.0) -> None:
        self.step = step

    def plan(self, state: SchedulerState, number: int, rng: Any) -> Plan:
        return Plan(budget=state.fidelity.max)

    def decide(self, state: SchedulerState, number: int) -> Decision:
        curve = state.trials[number].curve
        return Decision.STOP if curve and curve[-1][0] >= self.step else Decision.CONTINUE


class ExecutorConformance:
    """The contract of an executor. Override ``executor_factory`` (and ``not_applicable``, ``n_workers``)."""

    #: the backend name this suite tests in :data:`hpo.execution.EXECUTORS` (None: unregistered).
    registered_name: ClassVar[str | None] = None
    #: case name (one of :data:`CASES`) -> why it does not apply to this executor.
    not_applicable: ClassVar[dict[str, str]] = {}
    #: workers of each run.
    n_workers: ClassVar[int] = 1

    @pytest.fixture
    def executor_factory(self) -> Callable[..., Executor]:  # pragma: no cover - overridden
        pytest.fail("subclasses of ExecutorConformance provide an `executor_factory` fixture")

    # -- helpers -------------------------------------------------------------------
    def _applies(self, case: str) -> None:
        if case in self.not_applicable:
            pytest.skip(f"declared not applicable to {type(self).__name__}: {self.not_applicable[case]}")

    def _study(self, tmp_path: Any, problem: ScriptedCurves, xs: list[float], name: str = "e",
               **kwargs: Any) -> hpo.Study:
        storage = f"sqlite:///{tmp_path}/{name}.db"
        kwargs.setdefault("fidelity", problem.fidelity)
        study = hpo.create_study(name=name, space=problem.space, storage=storage, sampler="random", seed=0, **kwargs)
        problem.study_ref = (name, storage)
        for x in xs:
            study.enqueue({"x": x})
        return study

    def _run(self, study: hpo.Study, problem: ScriptedCurves, factory: Callable[..., Executor],
             options: dict[str, Any] | None = None, **run: Any) -> None:
        run.setdefault("show_progress_bar", False)
        run.setdefault("n_workers", self.n_workers)
        study.optimize(problem, backend=factory(problem, **(options or {})), **run)

    @staticmethod
    def _nothing_left_running(study: hpo.Study) -> None:
        left = study.get_trials([TrialState.RUNNING])
        assert not left, f"trials still RUNNING after the run: {[t.number for t in left]}"

    # -- the contract --------------------------------------------------------------
    def test_declared_cases_exist(self) -> None:
        unknown = sorted(set(self.not_applicable) - set(CASES))
        assert not unknown, f"not_applicable names unknown cases {unknown}; the cases are {CASES}"
        assert all(isinstance(r, str) and r.strip() for r in self.not_applicable.values()), "give each a reason"

    def test_is_an_executor(self, executor_factory: Callable[..., Executor]) -> None:
        assert isinstance(executor_factory(ScriptedCurves()), Executor)

    def test_registered_name_builds_this_executor(self, executor_factory: Callable[..., Executor]) -> None:
        if self.registered_name is None:
            pytest.skip("registered_name is None: the suite tests an unregistered executor")
        from hpo.execution import EXECUTORS

        check_registered("backend", self.registered_name, EXECUTORS.make(self.registered_name),
                         executor_factory(ScriptedCurves()))

    def test_trial_states(self, tmp_path: Any, executor_factory: Callable[..., Executor]) -> None:
        self._applies("states")
        problem = ScriptedCurves()
        study = self._study(tmp_path, problem, [OK, PRUNE, FAIL])
        self._run(study, problem, executor_factory, n_trials=3, n_workers=1)
        trials = study.trials
        assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED], \
            [(t.state, t.error) for t in trials]
        assert trials[0].value == pytest.approx(OK + 1.0 / problem.fidelity.max)
        self._nothing_left_running(study)

    def test_failures_keep_their_traceback(self, tmp_path: Any, executor_factory: Callable[..., Executor]) -> None:
        self._applies("tracebacks")
        problem = ScriptedCurves()
        study = self._study(tmp_path, problem, [FAIL])
        self._run(study, problem, executor_factory, n_trials=1)
        (trial,) = study.trials
        assert trial.state is TrialState.FAILED
        assert "Traceback" in trial.error and "ValueError: scripted failure at x=0.375" in trial.error, trial.error

    def test_exception_outside_catch_fails_the_trial_and_propagates(
            self, tmp_path: Any, executor_factory: Callable[..., Executor]) -> None:
        self._applies("uncaught")
        problem = ScriptedCurves()
        study = self._study(tmp_path, problem, [OK, FATAL, OK])
        with pytest.raises(ScriptedFatal):
            self._run(study, problem, executor_factory, n_trials=3, n_workers=1, catch=(ValueError,))
        states = [t.state for t in study.trials]
        assert states[:2] == [TrialState.COMPLETE, TrialState.FAILED], states
        assert "scripted fatal error" in study.trials[1].error
        assert TrialState.RUNNING not in states  # the third trial never started (or is WAITING)

    def test_retries_requeue_a_failed_configuration(self, tmp_path: Any,
                                                    executor_factory: Callable[..., Executor]) -> None:
        self._applies("retries")
        problem = ScriptedCurves()
        study = self._study(tmp_path, problem, [FAIL, OK, OK])
        self._run(study, problem, executor_factory, {"max_retries": 1}, n_trials=3, n_workers=1)
        trials = study.trials
        assert len(trials) == 4, [(t.number, t.state, t.attrs) for t in trials]  # retries do not eat n_trials
        retry = next(t for t in trials if t.attrs.get("retry_of") == 0)
        assert retry.params == trials[0].params and retry.attrs["retries"] == 1
        assert trials[0].state is TrialState.FAILED and f"re-queued as trial {retry.number}" in trials[0].error
        assert retry.state is TrialState.FAILED and "re-queued" not in retry.error  # one retry only
        assert [t.state for t in trials].count(TrialState.COMPLETE) == 2
        assert study.count_done() == 3

    def test_timeout_ends_the_run(self, tmp_path: Any, executor_factory: Callable[..., Executor]) -> None:
        self._applies("timeout")
        problem = ScriptedCurves()
        study = self._study(tmp_path, problem, [])
        self._run(study, problem, executor_factory, n_trials=None, timeout=1.0)  # returns: the timeout ended it
        assert study.trials and all(t.state is TrialState.COMPLETE for t in study.trials)
        self._nothing_left_running(study)

    def test_progress_counts_every_trial(self, tmp_path: Any, executor_factory: Callable[..., Executor],
                                         capsys: pytest.CaptureFixture[str]) -> None:
        self._applies("progress")
        problem = ScriptedCurves()
        study = self._study(tmp_path, problem, [OK, PRUNE, FAIL])
        seen: list[FrozenTrial] = []
        self._run(study, problem, executor_factory, n_trials=5, callbacks=[lambda s, t: seen.append(t)],
                  show_progress_bar=True)
        assert sorted(t.number for t in seen) == [t.number for t in study.trials] == [0, 1, 2, 3, 4]
        assert all(t.state.is_finished for t in seen)
        assert "5/5" in capsys.readouterr().err  # the bar counted every trial

    def test_stop_requests_reach_the_running_trial(self, tmp_path: Any,
                                                   executor_factory: Callable[..., Executor]) -> None:
        self._applies("stop")
        problem = ScriptedCurves(n_steps=60)
        study = self._study(tmp_path, problem, [SLOW, SLOW], scheduler=StopAtStep(2))
        self._run(study, problem, executor_factory, n_trials=2)
        for trial in study.trials:
            assert trial.state is TrialState.PRUNED, (trial.state, trial.error)
            steps = [r.step for r in study.store.get_reports(study.study_id, [trial.number])]
            assert 2 <= max(steps) < problem.fidelity.max

    def test_heartbeats_extend_the_running_trials_lease(self, tmp_path: Any,
                                                        executor_factory: Callable[..., Executor]) -> None:
        self._applies("heartbeat")
        problem = ScriptedCurves()
        study = self._study(tmp_path, problem, [HEARTBEAT], heartbeat_interval=0.05, stale_after=60.0)
        self._run(study, problem, executor_factory, n_trials=1)
        (trial,) = study.trials
        assert trial.state is TrialState.COMPLETE, trial.error

    def test_ctrl_c_fails_the_trial_and_propagates(self, tmp_path: Any,
                                                   executor_factory: Callable[..., Executor]) -> None:
        self._applies("ctrl_c")
        problem = ScriptedCurves()
        study = self._study(tmp_path, problem, [OK, INTERRUPT, OK])
        with pytest.raises(KeyboardInterrupt):
            self._run(study, problem, executor_factory, n_trials=3, n_workers=1)
        trials = study.trials
        assert [t.state for t in trials[:2]] == [TrialState.COMPLETE, TrialState.FAILED]
        assert "interrupted (KeyboardInterrupt)" in trials[1].error
        self._nothing_left_running(study)

"""The local executor: trials in threads of this process (``backend="local"``, the default)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.errors import NothingToRun, SamplerExhausted
from hpo.execution.base import Budget, Executor, Heartbeat, Progress, RunSpec, finish_trial, run_trial
from hpo.validators import non_negative_int

if TYPE_CHECKING:
    from hpo.study import Study
    from hpo.trial import Trial

__all__ = ["LocalExecutor"]

_WAIT_FOR_RUNNING = 0.05  # seconds between asks while the scheduler has nothing to start


class LocalExecutor(Executor):
    """Trials in this process: one at a time, or ``n_workers`` threads.

    A heartbeat thread keeps the RUNNING trials alive in the store and reclaims
    trials of workers that died. Ctrl-C fails the trial it interrupts and asks the
    trials of the other threads to stop (``trial.should_stop()``).

    Args:
        max_retries: how many times a failed trial's configuration (an exception in
            ``catch``) is re-queued; retries do not count against ``n_trials``.
    """

    name: ClassVar[str] = "local"

    def __init__(self, max_retries: int = 0) -> None:
        self.max_retries = non_negative_int("max_retries", max_retries)

    def __repr__(self) -> str:
        return f"LocalExecutor(max_retries={self.max_retries})"

    def run(self, study: Study, objective: Callable[[Trial], Any], spec: RunSpec) -> None:
        study.reclaim_stale()
        budget = Budget(spec.n_trials, spec.timeout, spec.stop)
        progress = Progress(study, spec.n_trials, spec.show_progress_bar)
        running: dict[int, Trial] = {}  # trials in worker threads: told to stop when the run stops

        def work(heartbeat: Heartbeat) -> None:
            while budget.take():
                try:
                    trial = study.ask(heartbeat=True)
                except SamplerExhausted:
                    budget.stop()
                    return
                except NothingToRun:  # the scheduler waits for a running trial (here or elsewhere)
                    budget.give_back()
                    time.sleep(_WAIT_FOR_RUNNING)
                    continue
                heartbeat.add(trial.number)
                running[trial.number] = trial
                try:
                    frozen = run_trial(study, trial, objective, spec.catch, max_retries=self.max_retries,
                                       budget=budget)
                except BaseException:
                    budget.stop()
                    raise
                finally:
                    heartbeat.discard(trial.number)
                    running.pop(trial.number, None)
                finish_trial(study, frozen, progress, spec.callbacks)

        try:
            with Heartbeat(study) as heartbeat:
                if spec.n_workers == 1:
                    work(heartbeat)
                else:
                    with ThreadPoolExecutor(max_workers=spec.n_workers, thread_name_prefix="hpo-worker") as pool:
                        futures = [pool.submit(work, heartbeat) for _ in range(spec.n_workers)]
                        try:
                            # the first worker to fail stops the run, whichever it is: waiting on the
                            # workers in order could block on one whose trial waits for that stop
                            wait(futures, return_when=FIRST_EXCEPTION)
                            for future in sorted(futures, key=lambda f: not (f.done() and f.exception())):
                                future.result()
                        except BaseException:
                            budget.stop()
                            for trial in list(running.values()):  # Ctrl-C: trial.should_stop() is True now
                                trial.request_stop()
                            raise
        finally:
            progress.close()

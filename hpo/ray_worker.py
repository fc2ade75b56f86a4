"""The worker side of the Ray backend (see :mod:`hpo.ray_executor`).

A trial runs as a Ray task, :func:`execute`, in a Ray worker process. Its
objective gets a :class:`RemoteTrial`: the same interface as
:class:`hpo.trial.Trial`, except that ``report`` sends the result to the
driver's :class:`Hub` actor (the driver writes it to the store while the trial
runs) and ``should_stop`` asks the hub whether the driver decided to stop the
trial. Workers never open the store.

This module imports Ray only inside functions; the driver builds the remote
task and actor with :func:`remote_execute` and :func:`remote_hub`.
"""

from __future__ import annotations

import math
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hpo.errors import TrialPruned, TrialStateError
from hpo.records import FrozenTrial, TrialState
from hpo.trial import Trial

if TYPE_CHECKING:
    import ray

__all__ = ["Hub", "RemoteTrial", "execute", "remote_execute", "remote_hub"]

#: Objectives already deserialised in this worker process, by the driver's key.
_OBJECTIVES: dict[str, Callable[[Any], Any]] = {}
_OBJECTIVES_LOCK = threading.Lock()


class Hub:
    """A Ray actor on the driver's side: reports flow in, stop decisions flow out.

    Workers call :meth:`report` (fire and forget) and :meth:`should_stop`; the
    driver calls :meth:`drain` to collect the reports and :meth:`stop` to ask a
    trial to stop.
    """

    def __init__(self) -> None:
        self._reports: list[tuple[int, float, dict[str, float]]] = []
        self._stopped: set[int] = set()
        self._stop_all = False

    def report(self, number: int, step: float, values: dict[str, float]) -> bool:
        self._reports.append((number, step, values))
        return self._stop_all or number in self._stopped

    def should_stop(self, number: int) -> bool:
        return self._stop_all or number in self._stopped

    def stop(self, numbers: list[int]) -> None:
        self._stopped.update(numbers)

    def stop_all(self) -> None:
        self._stop_all = True

    def forget(self, numbers: list[int]) -> None:
        self._stopped.difference_update(numbers)

    def drain(self) -> list[tuple[int, float, dict[str, float]]]:
        out, self._reports = self._reports, []
        return out


class RemoteTrial(Trial):
    """The trial an objective receives on a Ray worker.

    ``number``, ``params``, ``trial["name"]``, ``attrs``, ``report`` and
    ``should_stop`` behave as in :class:`hpo.trial.Trial`; ``tell`` is the
    driver's job and is refused here.
    """

    def __init__(self, number: int, params: dict[str, Any], attrs: dict[str, Any], metric: str, hub: Any) -> None:
        # No Study on a worker: the fields Trial reads are set here directly.
        self.study = None  # type: ignore[assignment]
        self._frozen = FrozenTrial(number=number, state=TrialState.RUNNING, params=dict(params), attrs=dict(attrs))
        self.number = number
        self.params = dict(params)
        self._stop_requested = False
        self._metric = metric
        self._hub = hub
        self._last: Any = None  # the ObjectRef of the last report sent
        self.n_reports = 0

    def _default_metric(self) -> str:
        return self._metric

    def report(self, step: float, values: float | Mapping[str, float]) -> None:
        """Send an intermediate result to the driver, which stores it while the trial runs."""
        step, clean = self._check_report(step, values)
        wire = {name: (math.nan if value is None else value) for name, value in clean.items()}
        self._last = self._hub.report.remote(self.number, step, wire)
        self.n_reports += 1

    def should_stop(self) -> bool:
        """Whether the driver decided to stop this trial (Ctrl-C, a stopped study, its scheduler)."""
        if not self._stop_requested:
            import ray

            self._stop_requested = bool(ray.get(self._hub.should_stop.remote(self.number)))
        return self._stop_requested

    def flush(self) -> None:
        """Wait until the hub has every report of this trial (calls from one caller run in order)."""
        if self._last is not None:
            import ray

            ray.get(self._last)
            self._last = None

    def tell(self, values: Any = None, state: TrialState | str = TrialState.COMPLETE) -> FrozenTrial:
        raise TrialStateError(
            f"trial {self.number}: tell is the driver's job in the Ray backend; return the value from the objective"
        )

    def __repr__(self) -> str:
        return f"RemoteTrial(number={self.number}, params={self.params!r})"


def _objective(key: str, box: list[Any]) -> Callable[[Any], Any]:
    with _OBJECTIVES_LOCK:
        objective = _OBJECTIVES.get(key)
    if objective is None:
        import ray

        objective = ray.get(box[0])
        with _OBJECTIVES_LOCK:
            _OBJECTIVES.clear()  # one study's objective at a time per worker process
            _OBJECTIVES[key] = objective
    return objective


def execute(
    key: str,
    box: list[Any],
    number: int,
    params: dict[str, Any],
    attrs: dict[str, Any],
    metric: str,
    hub: Any,
    catch: tuple[type[BaseException], ...],
) -> tuple[str, Any, int]:
    """Run one trial on a worker; return ``(outcome, payload, n_reports)``.

    ``outcome`` is ``"complete"`` (payload: the objective's return value),
    ``"pruned"`` (payload: None) or ``"failed"`` (payload: the traceback of an
    exception in ``catch``). Other exceptions propagate to the driver, which
    fails the trial and stops the study. ``box`` holds the objective's
    ObjectRef (inside a list so Ray does not fetch it when it is cached).
    """
    trial = RemoteTrial(number, params, attrs, metric, hub)
    try:
        objective = _objective(key, box)
        try:
            return "complete", objective(trial), trial.n_reports
        except TrialPruned:
            return "pruned", None, trial.n_reports
        except catch:
            return "failed", traceback.format_exc(), trial.n_reports
    finally:
        trial.flush()


def remote_execute(ray_module: Any) -> Any:
    """``execute`` as a Ray remote function (Ray's own task retries off: the driver retries)."""
    return ray_module.remote(max_retries=0)(execute)


def remote_hub(ray_module: Any) -> Any:
    """The :class:`Hub` actor class, taking no CPU."""
    return ray_module.remote(num_cpus=0, max_restarts=0)(Hub)

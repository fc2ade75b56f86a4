"""The worker side of the Ray backend (see :mod:`hpo.execution.ray_driver`).

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
from collections.abc import Callable, Mapping
from typing import Any

from hpo.errors import ConfigError, ObjectiveError, TrialStateError, short_repr
from hpo.execution.base import evaluate
from hpo.records import FrozenTrial, TrialState
from hpo.trial import Trial
from hpo.validators import is_int

__all__ = ["Hub", "RemoteTrial", "execute", "remote_execute", "remote_hub"]

#: (objective, catch, metric, fidelity max, fidelity, protocol, hub) loaded in this worker process, by the driver's key.
_Context = tuple[Callable[[Any], Any], tuple[type[BaseException], ...], str, float | None, Any, Any, Any]
_CONTEXTS: dict[str, _Context] = {}
_CONTEXTS_LOCK = threading.Lock()


def hub_name(key: str) -> str:
    """The name of the driver's hub actor for one ``optimize`` call."""
    return f"hpo-hub-{key}"


class Hub:
    """A Ray actor on the driver's side: reports flow in, stop decisions flow out.

    It also holds the run's context (the pickled objective, ``catch`` and the
    metric name), which a worker process fetches once, so a task carries only
    the trial's number, params and attrs. Workers call :meth:`report` (fire and
    forget) and :meth:`should_stop`; the driver calls :meth:`drain` to collect
    the reports and :meth:`stop` to ask a trial to stop.
    """

    def __init__(self, context: bytes) -> None:
        self._context = context
        self._reports: list[tuple[int, float, dict[str, float]]] = []
        self._stopped: set[int] = set()
        self._stop_all = False

    def context(self) -> bytes:
        return self._context

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

    def __init__(self, number: int, params: dict[str, Any], attrs: dict[str, Any], metric: str, hub: Any,
                 folders: dict[int, str] | None = None, fidelity_max: float | None = None,
                 fidelity: Any = None, protocol: Any = None) -> None:
        # No Study on a worker: the fields Trial reads are set here directly.
        self.study = None  # type: ignore[assignment]
        self._folders = dict(folders or {})  # trial number -> checkpoint folder, derived by the driver
        self._frozen = FrozenTrial(number=number, state=TrialState.RUNNING, params=dict(params), attrs=dict(attrs))
        self.number = number
        self.params = dict(params)
        self._stop_requested = False
        self._metric = metric
        self._max_budget = fidelity_max  # the study's fidelity max (the budget of a trial without one)
        self._study_fidelity = fidelity  # the study's hpo.Fidelity (None without one): report checks its steps
        self._last_step: float | None = None
        self._study_protocol = protocol  # the study's tuning protocol (None without one)
        self.seed_results: dict[int, Any] = {}  # report_seed's results, returned to the driver with the value
        self._hub = hub
        self._last: Any = None  # the ObjectRef of the last report sent
        self.n_reports = 0

    def _default_metric(self) -> str:
        return self._metric

    def _fidelity(self) -> Any:
        return self._study_fidelity

    def _fidelity_max(self) -> float:
        if self._max_budget is None:
            return super()._fidelity_max()  # raises: the study declares no fidelity
        return self._max_budget

    def _protocol(self) -> Any:
        return self._study_protocol

    def report_seed(self, seed: int, value: float | Mapping[str, float]) -> None:
        """Keep this trial's result on tuning seed ``seed``; the driver stores every seed's result when the
        objective returns (the checks are :meth:`hpo.trial.Trial.report_seed`'s: a seed that is not a tuning
        seed is refused here, a seed reported twice too)."""
        from hpo.protocols.splits import check_evaluation
        from hpo.protocols.tuning import check_protocol_state

        protocol = check_protocol_state(self._study_protocol, f"trial {self.number}: report_seed")
        if not is_int(seed):
            raise ObjectiveError(f"trial {self.number}: a seed must be an integer, but got {short_repr(seed, 60)}")
        check_evaluation(protocol, self.number, "tuning", int(seed), protocol.dataset_for("tuning"), "RUNNING")
        if int(seed) in self.seed_results:
            raise TrialStateError(f"trial {self.number}: seed {int(seed)} is already recorded for this trial")
        self.seed_results[int(seed)] = dict(value) if isinstance(value, Mapping) else value

    def _checkpoint_folder(self, number: int) -> str:
        """The folder the driver derived with ``study.checkpoint_path(number)`` (this trial's and its parent's)."""
        folder = self._folders.get(number)
        if folder is None:
            raise ConfigError(f"trial {self.number}: the driver assigned no checkpoint folder for trial {number}")
        return folder

    def report(self, step: float, value: float | Mapping[str, float] | None = None, *,
               values: float | Mapping[str, float] | None = None) -> None:
        """Send an intermediate result to the driver, which stores it while the trial runs.

        The arguments and checks are :meth:`hpo.trial.Trial.report`'s (``report(step, value)``, the
        reverse of Optuna's order; keywords; steps that go backwards or are fractional on an integer
        fidelity are refused)."""
        step, clean = self._check_report(step, self._one_value(value, values))
        wire = {name: (math.nan if value is None else value) for name, value in clean.items()}
        self._last = self._hub.report.remote(self.number, step, wire)
        self._last_step = step
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


def _context(key: str) -> _Context:
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
    if context is None:
        import ray
        from ray import cloudpickle

        hub = ray.get_actor(hub_name(key))
        objective, catch, metric, fidelity_max, fidelity, protocol = cloudpickle.loads(ray.get(hub.context.remote()))
        # fidelity: the study's hpo.Fidelity (report checks integer steps); protocol: its tuning protocol
        context = (objective, catch, metric, fidelity_max, fidelity, protocol, hub)
        with _CONTEXTS_LOCK:
            _CONTEXTS.clear()  # one run's context at a time per worker process
            _CONTEXTS[key] = context
    return context


def execute(key: str, number: int, params: dict[str, Any], attrs: dict[str, Any],
            folders: dict[int, str] | None = None) -> tuple[str, Any, int]:
    """Run one trial on a worker; return ``(outcome, payload, n_reports)``.

    ``outcome`` is ``"complete"`` (payload: the objective's return value),
    ``"pruned"`` (payload: None) or ``"failed"`` (payload: the traceback of an
    exception in ``catch``): the outcome rule of :func:`hpo.execution.base.evaluate`.
    Other exceptions propagate to the driver, which fails the trial and stops the
    study. ``key`` names the run, whose context the worker fetches from the hub once.
    ``folders``: trial number -> checkpoint folder, derived by the driver
    (``trial.checkpoint_dir``, ``trial.load_checkpoint()``).
    """
    objective, catch, metric, fidelity_max, fidelity, protocol, hub = _context(key)
    trial = RemoteTrial(number, params, attrs, metric, hub, folders, fidelity_max, fidelity, protocol)
    try:
        outcome = evaluate(lambda: objective(trial), catch)
    finally:
        trial.flush()
    if outcome.fatal is not None:
        raise outcome.fatal
    payload = outcome.error if outcome.kind == "failed" else outcome.value
    if outcome.kind == "complete" and trial.seed_results:  # report_seed's results go back as {seed: value}
        from hpo.protocols.tuning import is_seed_mapping

        if payload is None or is_seed_mapping(payload):
            payload = trial.seed_results | dict(payload or {})
        # else a plain value: the driver's tell refuses it as on threads (a protocol study aggregates seeds)
    return outcome.kind, payload, trial.n_reports


def remote_execute(ray_module: Any) -> Any:
    """``execute`` as a Ray remote function (Ray's own task retries off: the driver retries)."""
    return ray_module.remote(max_retries=0)(execute)


def remote_hub(ray_module: Any) -> Any:
    """The :class:`Hub` actor class, taking no CPU."""
    return ray_module.remote(num_cpus=0, max_restarts=0)(Hub)

"""The Ray backend: ``study.optimize(..., n_workers=N, backend="ray", resources={"cpu": 1, "gpu": 0.5})``.

The driver (this process) owns the sampler and is the only writer of the
store. Each trial runs as a Ray task (:func:`hpo.execution.ray_worker.execute`) with the
trial's resource request; Ray sets ``CUDA_VISIBLE_DEVICES`` for its GPU share,
so two trials asking for ``gpu: 0.5`` share one GPU. As soon as a task ends, the
driver tells the outcome and asks the sampler for the next configuration
(asynchronous: the running trials are RUNNING in the store, so samplers that
use pending trials see them).

- ``trial.report(...)`` on a worker goes to a hub actor; the driver drains it
  every ``report_interval`` seconds (and before telling a trial) and writes the
  reports to the store. A stop decision (the study's scheduler, Ctrl-C) goes
  back through the hub to ``trial.should_stop()``.
- The worker applies the outcome rule of :mod:`hpo.execution.base` (:func:`evaluate`)
  and the driver tells it (:func:`tell_outcome`), as the local executor does.
- An exception in the objective (one in ``catch``), a worker process that
  dies or a node that goes away fail the trial with the error; with
  ``max_retries`` the configuration is re-queued (``attrs["retry_of"]``) and
  runs again, without counting against ``n_trials``.
- The driver heartbeats its RUNNING trials, so when it dies the next
  ``optimize``/``hpo run`` on the store reclaims them (``stale_policy``).
- Ctrl-C (or an error in the driver) asks the running trials to stop, waits up
  to ``stop_grace`` seconds for them (a second Ctrl-C cuts it short), then
  cancels the rest and marks them FAILED; completed trials are already stored.

Ray is imported only when a study runs on this backend.
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.errors import ConfigError, NothingToRun, SamplerExhausted, TrialStateError
from hpo.execution.base import (
    INTERRUPTED,
    Budget,
    Executor,
    Heartbeat,
    Outcome,
    Progress,
    RunSpec,
    finish_trial,
    tell_outcome,
)
from hpo.records import TrialState
from hpo.validators import is_number, non_negative_int

if TYPE_CHECKING:
    from hpo.study import Study
    from hpo.trial import Trial

__all__ = ["RayExecutor", "check_resources", "ray_options"]

_RESERVED = {"cpu": "num_cpus", "gpu": "num_gpus", "memory": "memory"}


def check_resources(resources: Any) -> dict[str, float]:
    """Validate a per-trial resource request such as ``{"cpu": 1, "gpu": 0.5}``.

    Keys: ``cpu``, ``gpu`` (fractions below 1 share a GPU; above 1 whole GPUs
    only), ``memory`` (bytes) and any custom Ray resource name. Values are
    non-negative, finite numbers.
    """
    if resources is None:
        return {"cpu": 1.0}
    if not isinstance(resources, Mapping):
        raise ConfigError(f"resources: expected a mapping such as {{'cpu': 1, 'gpu': 0.5}}, but got {resources!r}")
    out: dict[str, float] = {}
    for name, value in resources.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"resources: names must be non-empty strings, but got {name!r}")
        key = name.lower() if name.lower() in _RESERVED else name
        if key in out:
            raise ConfigError(f"resources: {name!r} is given twice (names cpu, gpu and memory ignore case)")
        if not is_number(value) or not 0 <= value < math.inf:
            raise ConfigError(f"resources[{name!r}]: must be a non-negative, finite number, but got {value!r}")
        out[key] = float(value)
    gpu = out.get("gpu", 0.0)
    if gpu > 1 and not gpu.is_integer():
        raise ConfigError(f"resources['gpu']: a request above 1 GPU must be whole, but got {gpu!r}")
    out.setdefault("cpu", 1.0)
    return out


def ray_options(resources: Mapping[str, float]) -> dict[str, Any]:
    """Ray task options (``num_cpus``, ``num_gpus``, ``memory``, ``resources``) for a checked request."""
    options: dict[str, Any] = {}
    custom: dict[str, float] = {}
    for name, value in resources.items():
        if name in _RESERVED:
            options[_RESERVED[name]] = int(value) if name == "memory" else value
        else:
            custom[name] = value
    if custom:
        options["resources"] = custom
    return options


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"backend 'ray' needs Ray: pip install 'hpo-platform[ray]' ({type(exc).__name__}: {exc})"
        ) from None
    return ray


def _pickle_by_value(objective: Callable[..., Any]) -> None:
    """Ship the objective's own module by value when workers may not import it (a script, a config's folder).

    Modules of the standard library, of installed packages and of hpo are imported on the workers as usual.
    """
    import functools
    import sysconfig

    while isinstance(objective, functools.partial):
        objective = objective.func
    module_name = getattr(objective, "__module__", None) or ""
    module = sys.modules.get(module_name)
    if module is None or module_name == "__main__" or module_name.split(".")[0] in ("hpo", "builtins"):
        return
    path = os.path.realpath(str(getattr(module, "__file__", "") or ""))
    paths = sysconfig.get_paths()
    installed = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"], sys.prefix, sys.base_prefix}
    if not getattr(module, "__file__", None) or any(path.startswith(os.path.realpath(p) + os.sep) for p in installed):
        return
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)


def _on_this_node(ray: Any) -> Any:
    """Keep the hub on the driver's node: it must not go away with a worker node."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)


class RayExecutor(Executor):
    """Runs each trial as a Ray task with its resources; the driver keeps the sampler and the store.

    Args:
        resources: per-trial request, ``{"cpu": 1, "gpu": 0.5, "memory": bytes, "<custom>": n}``
            (default ``{"cpu": 1}``).
        max_retries: how many times a failed trial's configuration is re-queued.
        address: the Ray cluster to connect to when Ray is not initialised yet (``"auto"``,
            ``"ray://host:10001"``, ``"host:6379"``); None: ``$RAY_ADDRESS`` or a new local Ray
            instance, which is shut down when ``run`` returns.
        report_interval: seconds between the driver's reads of streamed reports.
        stop_grace: seconds running trials get to return after a stop (Ctrl-C) before they are cancelled.
    """

    name: ClassVar[str] = "ray"

    def __init__(
        self,
        resources: Mapping[str, float] | None = None,
        max_retries: int = 0,
        address: str | None = None,
        report_interval: float = 0.2,
        stop_grace: float = 5.0,
    ) -> None:
        self.resources = check_resources(resources)
        self.max_retries = non_negative_int("max_retries", max_retries)
        if address is not None and (not isinstance(address, str) or not address):
            raise ConfigError(f"address: expected a Ray address such as 'auto' or 'host:6379', but got {address!r}")
        self.address = address
        for field, value in (("report_interval", report_interval), ("stop_grace", stop_grace)):
            if not is_number(value) or not 0 <= value < math.inf:
                raise ConfigError(f"{field}: must be a non-negative number of seconds, but got {value!r}")
        self.report_interval = max(float(report_interval), 0.01)
        self.stop_grace = float(stop_grace)

    def __repr__(self) -> str:
        return f"RayExecutor(resources={self.resources!r}, max_retries={self.max_retries}, address={self.address!r})"

    def _connect(self, ray: Any) -> bool:
        """Initialise Ray unless it is; return whether this call started it (and must shut it down)."""
        if ray.is_initialized():
            return False
        if self.address is None and not os.environ.get("RAY_ADDRESS"):
            ray.init(address="local", include_dashboard=False, log_to_driver=True)
        else:
            ray.init(address=self.address)
        return True

    def _check_cluster(self, ray: Any) -> None:
        total = ray.cluster_resources()
        need = {"CPU": self.resources.get("cpu", 0.0), "GPU": self.resources.get("gpu", 0.0)}
        need.update({k: v for k, v in self.resources.items() if k not in _RESERVED})
        short = {k: v for k, v in need.items() if v > 0 and total.get(k, 0.0) < v}
        if short:
            have = {k: total.get(k, 0.0) for k in short}
            raise ConfigError(
                f"resources: each trial requests {short} but the Ray cluster has only {have}; "
                f"lower the request or add nodes"
            )

    def run(self, study: Study, objective: Callable[[Trial], Any], spec: RunSpec) -> None:
        ray = _import_ray()
        started = self._connect(ray)
        try:
            self._check_cluster(ray)
            study.reclaim_stale()
            progress = Progress(study, spec.n_trials, spec.show_progress_bar)
            try:
                with Heartbeat(study) as heartbeat:
                    driver = _Driver(self, ray, study, objective, spec, progress, heartbeat)
                    driver.loop(Budget(spec.n_trials, spec.timeout, spec.stop))
            finally:
                progress.close()
        finally:
            if started:
                ray.shutdown()


class _Driver:
    """One ``run``: submits trials, collects outcomes, streams reports, handles stops."""

    def __init__(
        self,
        executor: RayExecutor,
        ray: Any,
        study: Study,
        objective: Callable[[Trial], Any],
        spec: RunSpec,
        progress: Progress,
        heartbeat: Heartbeat,
    ) -> None:
        from ray import cloudpickle

        from hpo.execution.ray_worker import hub_name, remote_execute, remote_hub

        self.ex, self.ray, self.study = executor, ray, study
        self.n_workers, self.catch, self.callbacks = spec.n_workers, spec.catch, spec.callbacks
        self.progress, self.heartbeat = progress, heartbeat
        _pickle_by_value(objective)
        self.key = uuid.uuid4().hex
        fidelity_max = None if study.fidelity is None else float(study.fidelity.max)
        context = cloudpickle.dumps((objective, spec.catch, study.objectives[0].name, fidelity_max, study.fidelity,
                                      study.protocol))
        hub = remote_hub(ray).options(name=hub_name(self.key), scheduling_strategy=_on_this_node(ray))
        self.hub = hub.remote(context)
        self.task = remote_execute(ray).options(**ray_options(executor.resources))
        self.running: dict[Any, Trial] = {}  # ObjectRef -> trial
        self.by_number: dict[int, Trial] = {}
        self.next_drain = time.monotonic() + executor.report_interval
        self.drain_ref: Any = None  # a drain in flight

    # -- main loop -------------------------------------------------------------------
    def loop(self, budget: Budget) -> None:
        self.budget = budget
        try:
            while True:
                self._fill()
                if not self.running:
                    return
                refs = list(self.running)
                if self.drain_ref is not None:
                    refs.append(self.drain_ref)
                ready, _ = self.ray.wait(refs, num_returns=1, timeout=self.ex.report_interval)
                if ready and len(refs) > 1:
                    ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
                if self.drain_ref is not None and self.drain_ref in ready:
                    self._write_reports(self.ray.get(self.drain_ref))
                elif self.drain_ref is None and time.monotonic() >= self.next_drain:
                    self.drain_ref = self.hub.drain.remote()  # asynchronous: read when ready
                for ref in ready:
                    if ref in self.running:
                        self._finish(ref, self.running[ref])
        except BaseException as exc:
            self._abort(exc)
            raise

    def _fill(self) -> None:
        while len(self.running) < self.n_workers and self.budget.take():
            try:
                trial = self.study.ask(heartbeat=True)
            except SamplerExhausted:
                self.budget.stop()
                return
            except NothingToRun:  # the scheduler waits for a running trial to finish
                self.budget.give_back()
                if not self.running:  # running elsewhere (another driver): poll
                    time.sleep(0.2)
                    continue
                return
            self.heartbeat.add(trial.number)
            ref = self.task.remote(self.key, trial.number, trial.params, trial.attrs, self._folders(trial))
            self.running[ref] = trial
            self.by_number[trial.number] = trial

    def _folders(self, trial: Trial) -> dict[int, str]:
        """Workers have no study: the driver derives the trial's checkpoint folder, and the one it resumes,
        with ``study.checkpoint_path`` (never from the stored ``checkpoint_dir``/``resume_dir`` attrs)."""
        folders = {trial.number: self.study.checkpoint_path(trial.number)}
        parent = trial.resume_from()
        if parent is not None:
            folders[parent] = self.study.checkpoint_path(parent)
        return folders

    # -- outcomes --------------------------------------------------------------------
    def _finish(self, ref: Any, trial: Trial) -> None:
        """Tell one finished task's outcome (raises for an exception outside ``catch``)."""
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        try:
            kind, payload, n_reports = self.ray.get(ref)
            outcome = Outcome(kind, value=payload) if kind != "failed" else Outcome(kind, error=str(payload))
        except RayTaskError as exc:  # the objective raised an exception outside `catch`
            outcome, n_reports = Outcome("failed", error=str(exc), fatal=exc), 1
        except TaskCancelledError:
            outcome, n_reports = Outcome("failed", error="cancelled by the driver"), 1
        except RayError as exc:  # the worker process died, its node went away, out of memory...
            outcome, n_reports = Outcome("failed", error=f"{type(exc).__name__}: {exc}"), 1
        if n_reports:
            self._drain()
        frozen = tell_outcome(self.study, trial, outcome, max_retries=self.ex.max_retries, budget=self.budget)
        self._forget(ref, trial)
        finish_trial(self.study, frozen, self.progress, self.callbacks)
        if outcome.fatal is not None:
            raise outcome.fatal

    def _forget(self, ref: Any, trial: Trial) -> None:
        self.running.pop(ref, None)
        self.by_number.pop(trial.number, None)
        self.heartbeat.discard(trial.number)

    # -- reports and stops -----------------------------------------------------------
    def _drain(self) -> None:
        """Write every report the workers streamed so far (a drain in flight first, for their order)."""
        if self.drain_ref is not None:
            self._write_reports(self.ray.get(self.drain_ref))
        self._write_reports(self.ray.get(self.hub.drain.remote()))

    def _write_reports(self, reports: list[tuple[int, float, dict[str, float]]]) -> None:
        """Store reports; pass the scheduler's stop decisions back to the trials."""
        self.drain_ref = None
        self.next_drain = time.monotonic() + self.ex.report_interval
        touched: set[int] = set()
        for number, step, values in reports:
            trial = self.by_number.get(number)
            if trial is not None:
                trial.report(step, values)
                touched.add(number)
        if getattr(self.study, "scheduler", None) is not None and touched:
            stop = [n for n in sorted(touched) if self.by_number[n].should_stop()]
            if stop:
                self.hub.stop.remote(stop)

    def _abort(self, exc: BaseException) -> None:
        """Stop every running trial: ask, wait ``stop_grace``, cancel the rest and mark them FAILED."""
        self.budget.stop()
        if not self.running:
            return
        interrupted = isinstance(exc, KeyboardInterrupt)
        reason = INTERRUPTED if interrupted else f"stopped: the driver raised {type(exc).__name__}"
        print(
            f"hpo: {reason}; asked {len(self.running)} running trial(s) to stop, waiting up to "
            f"{self.ex.stop_grace:g}s before cancelling them" + (" (Ctrl-C again: cancel now)" if interrupted else ""),
            file=sys.stderr,
        )
        try:
            self.hub.stop_all.remote()
            for trial in self.running.values():
                trial.request_stop()
            deadline = time.monotonic() + self.ex.stop_grace
            while self.running and time.monotonic() < deadline:
                refs = list(self.running)
                wait = max(min(0.1, deadline - time.monotonic()), 0.0)
                ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=wait)
                for ref in ready:
                    if ref not in self.running:
                        continue
                    try:
                        self._finish(ref, self.running[ref])
                    except Exception:  # another fatal error: the first one is raised
                        if ref in self.running:
                            self._forget(ref, self.running[ref])
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: cancel now
        for ref in list(self.running):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:
                pass
        try:
            self._drain()
        except Exception:
            pass
        for ref, trial in list(self.running.items()):
            try:
                self.study.tell(trial, state=TrialState.FAILED, error=f"{reason}: cancelled while running")
            except TrialStateError:  # told just before the interrupt
                pass
            self._forget(ref, trial)

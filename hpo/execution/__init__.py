"""Executors: how ``study.optimize`` runs trials.

- :mod:`hpo.execution.base`: the :class:`Executor` seam, :class:`RunSpec`, the outcome
  rule (:func:`run_trial`), :class:`Budget`, :class:`Heartbeat`, :class:`Progress`;
- :mod:`hpo.execution.local`: :class:`LocalExecutor` (``backend="local"``, threads here);
- :mod:`hpo.execution.ray_driver` / :mod:`hpo.execution.ray_worker`: :class:`RayExecutor`
  (``backend="ray"``; Ray is imported only when a study runs on it);
- :mod:`hpo.execution.simulated`: :class:`SimulatedExecutor` (a simulated clock on the
  learning-curve problems of :mod:`hpo.bench.fidelity_problems`).

``EXECUTORS`` names the registered backends; every one passes
:class:`hpo.testing.executor_suite.ExecutorConformance`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError
from hpo.execution.base import (
    Budget,
    Executor,
    Heartbeat,
    Outcome,
    Progress,
    RunSpec,
    evaluate,
    finish_trial,
    run_trial,
    tell_outcome,
)
from hpo.registry import Registry, lazy_exports

if TYPE_CHECKING:
    from hpo.execution.local import LocalExecutor
    from hpo.execution.ray_driver import RayExecutor
    from hpo.execution.simulated import SimulatedExecutor

__all__ = [
    "EXECUTORS", "Budget", "Executor", "Heartbeat", "LocalExecutor", "Outcome", "Progress", "RayExecutor",
    "RunSpec", "SimulatedExecutor", "check_executor_options", "evaluate", "executor_names", "finish_trial",
    "get_executor", "run_trial", "tell_outcome",
]

__getattr__ = lazy_exports(__name__, {
    "LocalExecutor": "hpo.execution.local",
    "RayExecutor": "hpo.execution.ray_driver",
    "SimulatedExecutor": "hpo.execution.simulated",
})

#: Backends by name; lazy, so that ``import hpo`` never imports Ray (``ray_driver`` imports it only to run).
EXECUTORS: Registry[Executor] = Registry("backend", Executor, ConfigError)
EXECUTORS.register("local", "hpo.execution.local:LocalExecutor", check=False)
EXECUTORS.register("ray", "hpo.execution.ray_driver:RayExecutor", check=False)


def executor_names() -> list[str]:
    return EXECUTORS.names()


def check_executor_options(backend: str, options: Mapping[str, Any]) -> None:
    """Ask backend ``backend`` to validate ``options`` (names and values); nothing runs.

    An option the backend does not take raises a :class:`ConfigError` naming its valid
    options and, when other backends take it, those backends.
    """
    cls = EXECUTORS.factory(backend)
    unknown = sorted(set(options) - cls.option_names())
    if unknown:
        others = [name for name in EXECUTORS.names()
                  if name != backend and set(unknown) <= EXECUTORS.factory(name).option_names()]
        hint = f"; they are for backend={others[0]!r}" if others else ""
        raise ConfigError(f"backend {backend!r}: unknown option(s) {unknown}; valid options: "
                          f"{sorted(cls.option_names())}{hint}")
    cls.check_options(options)


def get_executor(name: str | Executor | Mapping[str, Any], **options: Any) -> Executor:
    """The executor named ``name`` (``"local"``, ``"ray"``) built with ``options``, or an Executor as is."""
    if isinstance(name, Executor) and options:
        raise ConfigError(f"backend: {sorted(options)} go to the executor's constructor when backend is an "
                          f"Executor instance ({name!r})")
    if isinstance(name, str) and name in EXECUTORS:
        check_executor_options(name, options)
    return EXECUTORS.make(name, **options)

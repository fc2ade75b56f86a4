"""Schedulers by name: ``"asha"``, ``"hyperband"``, ``"median"``, ``"pbt"``.

``make_scheduler("asha", reduction_factor=3)`` or ``{"name": "asha", "options": {...}}``
(the config-file form); unknown names and options are errors that list the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hpo.errors import ConfigError
from hpo.registry import Registry
from hpo.schedulers.base import Scheduler

__all__ = ["make_scheduler", "scheduler_names", "register_scheduler", "SCHEDULERS"]

SCHEDULERS: Registry[Scheduler] = Registry("scheduler", Scheduler, ConfigError)
SCHEDULERS.register("asha", "hpo.schedulers.successive_halving:ASHA")
SCHEDULERS.register("hyperband", "hpo.schedulers.successive_halving:Hyperband")
SCHEDULERS.register("median", "hpo.schedulers.median:MedianStopping")
SCHEDULERS.register("pbt", "hpo.schedulers.pbt:PBT")


def register_scheduler(name: str, factory: Callable[..., Scheduler]) -> None:
    """Make ``name`` usable in ``create_study(scheduler=name)`` and config files."""
    SCHEDULERS.register(name, factory)


def scheduler_names() -> list[str]:
    return SCHEDULERS.names()


def make_scheduler(spec: str | Scheduler | Mapping[str, Any], **options: Any) -> Scheduler:
    """Build a scheduler from a name (plus options), a ``{"name", "options"}`` mapping or an instance."""
    return SCHEDULERS.make(spec, **options)

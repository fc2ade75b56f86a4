"""Schedulers by name: ``"asha"``, ``"hyperband"``, ``"median"``, ``"pbt"``.

``make_scheduler("asha", reduction_factor=3)`` or ``{"name": "asha", "options": {...}}``
(the config-file form); unknown names and options are errors that list the valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hpo.errors import ConfigError, UnknownNameError
from hpo.schedulers.base import Scheduler
from hpo.schedulers.median import MedianStopping
from hpo.schedulers.pbt import PBT
from hpo.schedulers.successive_halving import ASHA, Hyperband

__all__ = ["make_scheduler", "scheduler_names", "register_scheduler"]

_REGISTRY: dict[str, Callable[..., Scheduler]] = {
    "asha": ASHA,
    "hyperband": Hyperband,
    "median": MedianStopping,
    "pbt": PBT,
}


def register_scheduler(name: str, factory: Callable[..., Scheduler]) -> None:
    """Make ``name`` usable in ``create_study(scheduler=name)`` and config files."""
    _REGISTRY[name] = factory


def scheduler_names() -> list[str]:
    return sorted(_REGISTRY)


def make_scheduler(spec: str | Scheduler | Mapping[str, Any], **options: Any) -> Scheduler:
    """Build a scheduler from a name (plus options), a ``{"name", "options"}`` mapping or an instance."""
    if isinstance(spec, Scheduler):
        if options:
            raise ConfigError(f"scheduler: options {sorted(options)} cannot be applied to an instance {spec!r}")
        return spec
    if isinstance(spec, Mapping):
        extra = sorted(set(spec) - {"name", "options"})
        if extra or "name" not in spec:
            raise ConfigError(f"scheduler: a mapping needs 'name' and optional 'options', but got keys {sorted(spec)}")
        opts = spec.get("options") or {}
        if not isinstance(opts, Mapping):
            raise ConfigError(f"scheduler.options: expected a mapping, but got {opts!r}")
        return make_scheduler(spec["name"], **{**opts, **options})
    if not isinstance(spec, str):
        raise ConfigError(f"scheduler: expected a name, a mapping or a Scheduler, but got {spec!r}")
    factory = _REGISTRY.get(spec)
    if factory is None:
        raise UnknownNameError(f"scheduler: unknown name {spec!r}; valid names: {scheduler_names()}")
    target = factory.__init__ if inspect.isclass(factory) else factory
    accepted = set(inspect.signature(target).parameters) - {"self"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"scheduler {spec!r}: unknown option(s) {unknown}; valid options: {sorted(accepted)}")
    return factory(**options)

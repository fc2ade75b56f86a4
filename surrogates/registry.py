"""Surrogates by name: ``"gp"``, ``"ensemble"``, ``"pfn"``.

``make_surrogate("gp", max_points=500)``, a mapping ``{"name": "gp", "options":
{...}}`` (the config-file form), or a :class:`~hpo.surrogates.base.Surrogate`
instance (used as is). Unknown names raise :class:`hpo.errors.UnknownNameError`
and unknown options :class:`hpo.errors.SamplerError`, each listing the valid ones.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hpo.errors import SamplerError, UnknownNameError
from hpo.surrogates.base import Surrogate

__all__ = ["make_surrogate", "register_surrogate", "surrogate_names"]


def _lazy(module: str, cls_name: str) -> Callable[..., Surrogate]:
    def factory(**options: Any) -> Surrogate:
        cls = getattr(importlib.import_module(module), cls_name)
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise SamplerError(f"surrogate {cls.name!r}: unknown option(s) {unknown}; valid options: {sorted(accepted)}")
        return cls(**options)

    factory.__name__ = f"make_{cls_name}"
    return factory


_REGISTRY: dict[str, Callable[..., Surrogate]] = {
    "gp": _lazy("hpo.surrogates.gp", "GPSurrogate"),
    "ensemble": _lazy("hpo.surrogates.ensemble", "EnsembleSurrogate"),
    "pfn": _lazy("hpo.surrogates.pfn.surrogate", "PFNSurrogate"),
}


def register_surrogate(name: str, factory: Callable[..., Surrogate]) -> None:
    """Make ``name`` usable wherever a surrogate name is accepted (e.g. the BO sampler)."""
    if not isinstance(name, str) or not name:
        raise SamplerError(f"register_surrogate: name must be a non-empty string, but got {name!r}")
    _REGISTRY[name] = factory


def surrogate_names() -> list[str]:
    return sorted(_REGISTRY)


def make_surrogate(spec: str | Surrogate | Mapping[str, Any], **options: Any) -> Surrogate:
    """Build a surrogate from a name (plus options), a ``{"name", "options"}`` mapping or an instance."""
    if isinstance(spec, Surrogate):
        if options:
            raise SamplerError(f"surrogate: options {sorted(options)} cannot be applied to an instance {spec!r}")
        return spec
    if isinstance(spec, Mapping):
        extra = sorted(set(spec) - {"name", "options"})
        if extra or "name" not in spec:
            raise SamplerError(f"surrogate: a mapping needs 'name' and optional 'options', but got keys {sorted(spec)}")
        opts = spec.get("options") or {}
        if not isinstance(opts, Mapping):
            raise SamplerError(f"surrogate.options: expected a mapping, but got {opts!r}")
        return make_surrogate(spec["name"], **{**opts, **options})
    if not isinstance(spec, str):
        raise SamplerError(f"surrogate: expected a name, a mapping or a Surrogate, but got {spec!r}")
    factory = _REGISTRY.get(spec)
    if factory is None:
        raise UnknownNameError(f"surrogate: unknown name {spec!r}; valid names: {surrogate_names()}")
    return factory(**options)

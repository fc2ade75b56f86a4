"""Samplers by name: ``"random"``, ``"sobol"``, ``"grid"``, ``"tpe"``, ``"cmaes"``,
``"nsga2"``, ``"optuna-gp"``.

``make_sampler("tpe", n_startup_trials=5)`` or a mapping
``{"name": "tpe", "options": {...}}`` (the config-file form). Unknown names and
options are errors that list the valid ones; option values of the wrong type
(checked against the constructor's annotations, :mod:`hpo.samplers.options`)
raise ``SamplerError`` when the sampler is built, i.e. before ``create_study``
writes anything. Passing a :class:`Sampler` instance uses it as is.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hpo.errors import HpoError, SamplerError, UnknownNameError
from hpo.samplers.base import Sampler
from hpo.samplers.options import check_option_types

__all__ = ["make_sampler", "sampler_names", "register_sampler"]


def _checked(owner: str, constructor: Callable[..., Any], build: Callable[[], Sampler], options: dict[str, Any],
             skip: tuple[str, ...] = ("self",)) -> Sampler:
    """``build()``, then the option types against ``constructor``'s annotations (see
    :func:`~hpo.samplers.options.check_option_types`): the sampler's own checks speak first, the
    annotations catch what they let through (``scramble="no"``, integers beyond 64 bits)."""
    try:
        sampler = build()
    except HpoError:
        raise
    except (TypeError, ValueError):  # a constructor tripping over a value: name it if its type is wrong
        check_option_types(owner, constructor, options, skip)
        raise
    check_option_types(owner, constructor, options, skip)
    return sampler


def _optuna(algorithm: str) -> Callable[..., Sampler]:
    def factory(**options: Any) -> Sampler:
        from hpo.samplers.optuna_adapter import OptunaSampler

        return OptunaSampler(algorithm, **options)

    factory.__name__ = f"optuna_{algorithm}"
    return factory


def _bo(surrogate: str) -> Callable[..., Sampler]:
    def factory(**options: Any) -> Sampler:
        from hpo.samplers.bo import BOSampler, make_bo_sampler

        return _checked(surrogate, BOSampler.__init__, lambda: make_bo_sampler(surrogate, **options), options,
                        skip=("self", "surrogate"))

    factory.__name__ = f"bo_{surrogate}"
    return factory


def _pfn_exact(**options: Any) -> Sampler:
    from hpo.surrogates.pfn.sampler import PFNSampler, make_pfn_sampler

    return _checked("pfn-ei", PFNSampler.__init__, lambda: make_pfn_sampler(**options), options)


def _mfbo(**options: Any) -> Sampler:
    from hpo.schedulers.mfbo import MultiFidelityBOSampler, make_mfbo_sampler

    return _checked("mfbo", MultiFidelityBOSampler.__init__, lambda: make_mfbo_sampler(**options), options)


def _simple(cls_name: str) -> Callable[..., Sampler]:
    def factory(**options: Any) -> Sampler:
        from hpo.samplers import simple

        cls = getattr(simple, cls_name)
        own_init = cls.__init__ is not object.__init__
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"} if own_init else set()
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise SamplerError(f"{cls.name}: unknown option(s) {unknown}; valid options: {sorted(accepted)}")
        if not own_init:
            return cls()
        return _checked(cls.name, cls.__init__, lambda: cls(**options), options)

    return factory


_REGISTRY: dict[str, Callable[..., Sampler]] = {
    "random": _simple("RandomSampler"),
    "sobol": _simple("SobolSampler"),
    "grid": _simple("GridSampler"),
    "tpe": _optuna("tpe"),
    "cmaes": _optuna("cmaes"),
    "nsga2": _optuna("nsga2"),
    "optuna-gp": _optuna("optuna-gp"),
    "gp": _bo("gp"),
    "ensemble": _bo("ensemble"),
    "pfn": _bo("pfn"),
    "pfn-ei": _pfn_exact,
    "mfbo": _mfbo,
}


def register_sampler(name: str, factory: Callable[..., Sampler]) -> None:
    """Make ``name`` usable in ``create_study(sampler=name)`` and config files."""
    _REGISTRY[name] = factory


def sampler_names() -> list[str]:
    return sorted(_REGISTRY)


def make_sampler(spec: str | Sampler | Mapping[str, Any] | None, **options: Any) -> Sampler:
    """Build a sampler from a name (plus options), a ``{"name", "options"}`` mapping or an instance."""
    if isinstance(spec, Sampler):
        if options:
            raise SamplerError(f"sampler: options {sorted(options)} cannot be applied to an instance {spec!r}")
        return spec
    if isinstance(spec, Mapping):
        extra = sorted(set(spec) - {"name", "options"})
        if extra or "name" not in spec:
            raise SamplerError(f"sampler: a mapping needs 'name' and optional 'options', but got keys {sorted(spec)}")
        opts = spec.get("options") or {}
        if not isinstance(opts, Mapping):
            raise SamplerError(f"sampler.options: expected a mapping, but got {opts!r}")
        return make_sampler(spec["name"], **{**opts, **options})
    if not isinstance(spec, str):
        raise SamplerError(f"sampler: expected a name, a mapping or a Sampler, but got {spec!r}")
    factory = _REGISTRY.get(spec)
    if factory is None:
        raise UnknownNameError(f"sampler: unknown name {spec!r}; valid names: {sampler_names()}")
    return factory(**options)

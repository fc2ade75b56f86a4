"""Samplers by name: ``"random"``, ``"sobol"``, ``"grid"``, ``"tpe"``, ``"cmaes"``,
``"nsga2"``, ``"optuna-gp"``, ``"gp"``, ``"ensemble"``, ``"pfn"``, ``"dkl"``, ``"ibnn"``, ``"pfn-ei"``,
``"mfbo"``
(every one defined under ``hpo.samplers``; the model-based ones import torch on first use).

``make_sampler("tpe", n_startup_trials=5)`` or a mapping
``{"name": "tpe", "options": {...}}`` (the config-file form). Unknown names and
options are errors that list the valid ones; option values of the wrong type
(checked against the constructor's annotations, :mod:`hpo.samplers.options`)
raise ``SamplerError`` when the sampler is built, i.e. before ``create_study``
writes anything. Passing a :class:`Sampler` instance uses it as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hpo.errors import HpoError, SamplerError
from hpo.registry import Registry, check_options, load_object
from hpo.samplers.base import Sampler
from hpo.samplers.options import check_option_types

__all__ = ["make_sampler", "sampler_names", "register_sampler", "SAMPLERS"]


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


def _lazy_checked(owner: str, cls: str, make: str) -> Callable[..., Sampler]:
    """A factory that imports ``make`` (``"module:attribute"``) on first use and type-checks the options
    against ``cls``'s constructor (:func:`_checked`)."""

    def factory(**options: Any) -> Sampler:
        return _checked(owner, load_object(cls).__init__, lambda: load_object(make)(**options), options)

    factory.__name__ = f"make_{owner.replace('-', '_')}"
    return factory


def _simple(cls_name: str) -> Callable[..., Sampler]:
    def factory(**options: Any) -> Sampler:
        from hpo.samplers import simple

        cls = getattr(simple, cls_name)
        own_init = cls.__init__ is not object.__init__
        if not own_init:
            if options:
                raise SamplerError(f"{cls.name}: unknown option(s) {sorted(options)}; valid options: []")
            return cls()
        check_options(cls.name, cls, options, SamplerError)
        return _checked(cls.name, cls.__init__, lambda: cls(**options), options)

    return factory


SAMPLERS: Registry[Sampler] = Registry("sampler", Sampler, SamplerError)
for _name, _factory in {
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
    "hmc": _bo("hmc"),
    "sghmc": _bo("sghmc"),
    "dkl": _bo("dkl"),
    "ibnn": _bo("ibnn"),
    "pfn-ei": _lazy_checked("pfn-ei", "hpo.samplers.pfn:PFNSampler", "hpo.samplers.pfn:make_pfn_sampler"),
    "mfbo": _lazy_checked("mfbo", "hpo.samplers.mfbo:MultiFidelityBOSampler", "hpo.samplers.mfbo:make_mfbo_sampler"),
}.items():
    SAMPLERS.register(_name, _factory)


def register_sampler(name: str, factory: Callable[..., Sampler]) -> None:
    """Make ``name`` usable in ``create_study(sampler=name)`` and config files."""
    SAMPLERS.register(name, factory)


def sampler_names() -> list[str]:
    return SAMPLERS.names()


def make_sampler(spec: str | Sampler | Mapping[str, Any] | None, **options: Any) -> Sampler:
    """Build a sampler from a name (plus options), a ``{"name", "options"}`` mapping or an instance."""
    return SAMPLERS.make(spec, **options)

"""Surrogates by name: ``"gp"``, ``"ensemble"``, ``"pfn"``, ``"hmc"``, ``"sghmc"``, ``"dkl"``, ``"ibnn"``.

``make_surrogate("gp", max_points=500)``, a mapping ``{"name": "gp", "options":
{...}}`` (the config-file form), or a :class:`~hpo.surrogates.base.Surrogate`
instance (used as is). Unknown names raise :class:`hpo.errors.UnknownNameError`
and unknown options :class:`hpo.errors.SurrogateError`, each listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hpo.errors import SurrogateError
from hpo.registry import Registry
from hpo.surrogates.base import Surrogate

__all__ = ["make_surrogate", "register_surrogate", "surrogate_names", "SURROGATES"]

SURROGATES: Registry[Surrogate] = Registry("surrogate", Surrogate, SurrogateError)
SURROGATES.register("gp", "hpo.surrogates.gp:GPSurrogate")
SURROGATES.register("ensemble", "hpo.surrogates.ensemble:EnsembleSurrogate")
SURROGATES.register("pfn", "hpo.surrogates.pfn.surrogate:PFNSurrogate")
SURROGATES.register("hmc", "hpo.surrogates.bnn.hmc:HMCSurrogate")
SURROGATES.register("sghmc", "hpo.surrogates.bnn.sghmc:SGHMCSurrogate")
SURROGATES.register("dkl", "hpo.surrogates.dkl:DKLSurrogate")
SURROGATES.register("ibnn", "hpo.surrogates.ibnn:IBNNSurrogate")


def register_surrogate(name: str, factory: Callable[..., Surrogate]) -> None:
    """Make ``name`` usable wherever a surrogate name is accepted (e.g. the BO sampler)."""
    SURROGATES.register(name, factory)


def surrogate_names() -> list[str]:
    return SURROGATES.names()


def make_surrogate(spec: str | Surrogate | Mapping[str, Any], **options: Any) -> Surrogate:
    """Build a surrogate from a name (plus options), a ``{"name", "options"}`` mapping or an instance."""
    return SURROGATES.make(spec, **options)

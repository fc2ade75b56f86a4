"""Samplers: what configuration to try next (see :class:`hpo.samplers.Sampler`)."""

from __future__ import annotations

from hpo.registry import lazy_exports
from hpo.samplers.base import Sampler, SamplingContext, Suggestion, trial_rng
from hpo.samplers.registry import make_sampler, register_sampler, sampler_names
from hpo.samplers.simple import GridSampler, RandomSampler, SobolSampler


# Optuna, BoTorch and torch are imported lazily
__getattr__ = lazy_exports(__name__, {
    "OptunaSampler": "hpo.samplers.optuna_adapter",
    "ModelBasedSampler": "hpo.samplers.model_based",
    "BOSampler": "hpo.samplers.bo",
    "PFNSampler": "hpo.samplers.pfn",
    "MultiFidelityBOSampler": "hpo.samplers.mfbo",
})


__all__ = [
    "Sampler",
    "SamplingContext",
    "Suggestion",
    "trial_rng",
    "make_sampler",
    "register_sampler",
    "sampler_names",
    "RandomSampler",
    "SobolSampler",
    "GridSampler",
    "OptunaSampler",
    "ModelBasedSampler",
    "BOSampler",
    "PFNSampler",
    "MultiFidelityBOSampler",
]

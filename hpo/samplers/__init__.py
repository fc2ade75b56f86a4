"""Samplers: what configuration to try next (see :class:`hpo.samplers.Sampler`)."""

from __future__ import annotations

from hpo.samplers.base import Sampler, SamplingContext, Suggestion, trial_rng
from hpo.samplers.registry import make_sampler, register_sampler, sampler_names
from hpo.samplers.simple import GridSampler, RandomSampler, SobolSampler


def __getattr__(name: str):  # Optuna, BoTorch and torch are imported lazily
    if name == "OptunaSampler":
        from hpo.samplers.optuna_adapter import OptunaSampler

        return OptunaSampler
    if name == "BOSampler":
        from hpo.samplers.bo import BOSampler

        return BOSampler
    raise AttributeError(name)


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
    "BOSampler",
]

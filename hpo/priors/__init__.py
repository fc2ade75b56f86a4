"""Priors over hyperparameters (scaling laws and the densities that shape a study's search)."""

from hpo.priors.densities import Density, LogNormal, Normal, Prior, Uniform, as_prior

__all__ = ["Density", "LogNormal", "Normal", "Prior", "Uniform", "as_prior"]

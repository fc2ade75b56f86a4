"""Scaling-law priors: predicted optimal hyperparameters from the scale of a run.

- :func:`step_law` -- Step Law's optimal learning rate and batch size from N and D, with intervals.
- :func:`transformer_params` -- N (non-embedding parameters) from a transformer's shape.
- :func:`linear_rule`, :func:`sqrt_rule`, :func:`power_scheduler_rule`, :func:`transfer_lr` -- move a
  known-good learning rate to another batch size.
- :func:`fit_law` -- fit such a law from a study's (or a table's) own small-scale runs.
- :class:`LogNormal`, :class:`Normal`, :class:`Uniform`, :class:`Density`, :class:`Prior` -- the densities
  that shape a study's search (``create_study(prior=...)``); :func:`prior_curves` -- their densities to plot.
"""

from __future__ import annotations

from hpo.priors.batch_rules import (
    BatchTransfer,
    linear_rule,
    power_scheduler_rule,
    sqrt_rule,
    transfer_lr,
)
from hpo.priors.curves import prior_curves
from hpo.priors.densities import Density, LogNormal, Normal, Prior, Uniform, as_prior
from hpo.priors.fit_law import FitPrediction, FittedLaw, fit_law, optimal_runs
from hpo.priors.step_law import STEP_LAW_RANGE, LawPrediction, step_law, transformer_params

__all__ = [
    "step_law",
    "transformer_params",
    "LawPrediction",
    "STEP_LAW_RANGE",
    "BatchTransfer",
    "linear_rule",
    "sqrt_rule",
    "power_scheduler_rule",
    "transfer_lr",
    "fit_law",
    "FittedLaw",
    "FitPrediction",
    "optimal_runs",
    "Density",
    "LogNormal",
    "Normal",
    "Prior",
    "Uniform",
    "as_prior",
    "prior_curves",
]

"""PFN surrogate (issue 7): a prior-data fitted transformer trained by this project.

* :mod:`.prior`: the GP prior (HEBO+ hyperpriors) that generates training data;
* :mod:`.bar_distribution`: the bar-distribution output head, its loss and the
  exact EI / PI / UCB / probability of feasibility;
* :mod:`.model`: the transformer;
* :mod:`.train`: ``hpo pfn train`` (resumable, checkpointed);
* :mod:`.surrogate`: :class:`PFNSurrogate`, registered as ``"pfn"``;
* :mod:`.eval`: ``hpo pfn eval`` (NLL against exact GPs).

The shipped weights are ``weights/pfn_gp_d8.pt`` (see ``weights/MODEL.md``).
Submodules load on first use.
"""

from __future__ import annotations

from hpo.registry import lazy_exports

_LAZY = {
    "PFNSurrogate": "hpo.surrogates.pfn.surrogate",
    "PFNModel": "hpo.surrogates.pfn.surrogate",
    "load_pfn": "hpo.surrogates.pfn.surrogate",
    "DEFAULT_WEIGHTS": "hpo.surrogates.pfn.surrogate",
    "BarDistribution": "hpo.surrogates.pfn.bar_distribution",
    "PFN": "hpo.surrogates.pfn.model",
    "ModelConfig": "hpo.surrogates.pfn.model",
    "PriorConfig": "hpo.surrogates.pfn.prior",
    "sample_batch": "hpo.surrogates.pfn.prior",
    "TrainConfig": "hpo.surrogates.pfn.train",
    "train": "hpo.surrogates.pfn.train",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = sorted(_LAZY)

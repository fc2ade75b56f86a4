"""hpo: Bayesian / hyperparameter optimisation with a study store that never loses a result.

    import hpo

    study = hpo.create_study(
        name="demo",
        space={"x": hpo.Float(-5, 5), "n": hpo.Int(1, 10)},
        objectives="minimize",
        storage="sqlite:///hpo.db",
    )
    study.optimize(lambda trial: (trial["x"] - 1) ** 2 + trial["n"], n_trials=20)
    print(study.best_params)

Heavy parts (SQLAlchemy, Optuna, torch) load on first use, so ``import hpo`` is fast.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hpo import errors
from hpo.errors import TrialPruned
from hpo.fidelity import Fidelity
from hpo.registry import lazy_exports
from hpo.records import FrozenTrial, TrialState
from hpo.space import Categorical, Fixed, Float, Int, Ordinal, SearchSpace

__version__ = "0.1.0"

# The library logs on "hpo" and its children ("hpo.execution": one INFO line per finished trial) and is
# silent unless the application configures logging (the `hpo` command does: -v / -q).
logging.getLogger("hpo").addHandler(logging.NullHandler())

_LAZY = {
    "Study": "hpo.study",
    "create_study": "hpo.study_setup",
    "load_study": "hpo.study_setup",
    "delete_study": "hpo.study_setup",
    "list_studies": "hpo.study_setup",
    "Trial": "hpo.trial",
    "samplers": "hpo.samplers",
    "priors": "hpo.priors",
    "schedulers": "hpo.schedulers",
    "visualization": "hpo.visualization",
    "importance": "hpo.importance",
    "protocols": "hpo.protocols",
    "SeedSplit": "hpo.protocols.splits",
    "DatasetSplit": "hpo.protocols.splits",
}

if TYPE_CHECKING:
    from hpo import samplers, schedulers
    from hpo.protocols.splits import DatasetSplit, SeedSplit
    from hpo.study import Study
    from hpo.study_setup import create_study, delete_study, list_studies, load_study
    from hpo.trial import Trial


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "Float",
    "Int",
    "Categorical",
    "Ordinal",
    "Fixed",
    "SearchSpace",
    "Fidelity",
    "Study",
    "Trial",
    "FrozenTrial",
    "TrialState",
    "TrialPruned",
    "create_study",
    "load_study",
    "delete_study",
    "list_studies",
    "samplers",
    "schedulers",
    "protocols",
    "SeedSplit",
    "DatasetSplit",
    "errors",
    "__version__",
]

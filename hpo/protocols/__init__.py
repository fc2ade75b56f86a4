"""Tuning protocols: tuning seeds kept apart from test seeds, a tuning data set apart from the
evaluation data set, enforced by the store (:mod:`hpo.protocols.splits`), the per-seed aggregates
(:mod:`hpo.protocols.aggregate`) and the tuning-vs-test report.

Nothing here imports the RL or continual-learning libraries; the examples that use them
(:mod:`hpo.protocols.rl`, ...) import them when called.
"""

from __future__ import annotations

from hpo.protocols.aggregate import AGGREGATES, Spread, aggregate, spread
from hpo.protocols.splits import DatasetSplit, SeedSplit, protocol_from_config, protocol_from_settings

__all__ = ["AGGREGATES", "Spread", "aggregate", "spread", "SeedSplit", "DatasetSplit", "protocol_from_config",
           "protocol_from_settings", "EvaluationTrial", "EvaluationResult"]


def __getattr__(name: str) -> object:
    if name in ("EvaluationTrial", "EvaluationResult"):  # loaded when used (study.evaluate runs the test phase)
        from hpo.protocols import evaluate as _evaluate

        return getattr(_evaluate, name)
    raise AttributeError(f"module 'hpo.protocols' has no attribute {name!r}")

"""Tuning protocols: tuning seeds kept apart from test seeds, a tuning data set apart from the
evaluation data set, enforced by the store (:mod:`hpo.protocols.splits`), the per-seed aggregates
(:mod:`hpo.protocols.aggregate`) and the tuning-vs-test report.

Nothing here imports the RL or continual-learning libraries; the examples that use them
(:mod:`hpo.protocols.rl`, ...) import them when called.
"""

from __future__ import annotations

from hpo.protocols.aggregate import AGGREGATES, Spread, aggregate, spread

__all__ = ["AGGREGATES", "Spread", "aggregate", "spread"]

"""Trial schedulers: how much budget each trial gets, and when it stops or resumes.

``hpo.create_study(..., fidelity=hpo.Fidelity("epochs", 1, 81), scheduler="asha")``.
The seam is :class:`Scheduler` (``plan`` and ``decide``); implementations:
:class:`ASHA`, :class:`Hyperband` (both :class:`SuccessiveHalving`),
:class:`MedianStopping` and :class:`PBT`. Every one passes the conformance
suite in :mod:`hpo.testing.scheduler_suite`.
"""

from __future__ import annotations

from hpo.schedulers.base import Decision, Plan, Scheduler, SchedulerState, TrialView
from hpo.schedulers.median import MedianStopping
from hpo.schedulers.pbt import PBT
from hpo.schedulers.registry import make_scheduler, register_scheduler, scheduler_names
from hpo.schedulers.successive_halving import ASHA, Hyperband, SuccessiveHalving

__all__ = [
    "Scheduler",
    "Plan",
    "Decision",
    "SchedulerState",
    "TrialView",
    "SuccessiveHalving",
    "ASHA",
    "Hyperband",
    "MedianStopping",
    "PBT",
    "make_scheduler",
    "register_scheduler",
    "scheduler_names",
]

"""The protocol methods of :class:`hpo.study.Study` (a base class of it): ``study.protocol``,
``study.evaluate(...)`` (the test phase) and ``study.protocol_report()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpo.protocols.splits import Protocol, protocol_from_settings

__all__ = ["ProtocolMethods"]


class ProtocolMethods:
    """``study.protocol``, ``study.evaluate`` and ``study.protocol_report``; needs ``record``, ``store`` and
    ``study_id``."""

    record: Any
    store: Any
    study_id: int

    @property
    def protocol(self) -> Protocol | None:
        """The study's tuning protocol (:class:`hpo.SeedSplit` / :class:`hpo.DatasetSplit`), or None."""
        return protocol_from_settings(self.record.settings)

    def evaluate(self, objective: Callable[[Any], Any], top_k: int = 5, phase: str = "test", n_jobs: int = 1,
                 backend: str = "local") -> list[Any]:
        """Re-run the ``top_k`` best tuning trials on the protocol's test seeds / evaluation data set, ``n_jobs``
        at once on ``backend`` (``"local"`` threads or ``"ray"``), and store the results as test evaluations.

        Resumable and idempotent: a (trial, seed) already COMPLETE is not run again. Returns one
        :class:`hpo.protocols.EvaluationResult` per configuration (see :mod:`hpo.protocols.evaluate`).
        """
        from hpo.protocols.evaluate import evaluate

        return evaluate(self, objective, top_k=top_k, phase=phase, n_jobs=n_jobs, backend=backend)  # type: ignore[arg-type]

    def protocol_report(self) -> Any:
        """Tuning vs test scores of the incumbents, the gap and the rank correlations
        (:func:`hpo.protocols.report.protocol_report`)."""
        from hpo.protocols.report import protocol_report

        return protocol_report(self.store, self.study_id)

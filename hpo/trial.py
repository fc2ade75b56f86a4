"""The live trial an objective receives."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo.errors import ObjectiveError
from hpo.records import FrozenTrial, TrialState
from hpo.values import check_number

if TYPE_CHECKING:
    from hpo.study import Study

__all__ = ["Trial"]


class Trial:
    """A running trial: its number and params, and a way to report progress.

    ``trial.params`` holds the configuration (also ``trial["lr"]``).
    ``trial.report(step, values)`` stores an intermediate result;
    ``trial.should_stop()`` says whether the driver or the study's scheduler wants
    the trial stopped.
    """

    def __init__(self, study: Study, frozen: FrozenTrial) -> None:
        self.study = study
        self._frozen = frozen
        self.number: int = frozen.number
        self.params: dict[str, Any] = dict(frozen.params)
        self._stop_requested = False

    def __getitem__(self, name: str) -> Any:
        try:
            return self.params[name]
        except KeyError:
            raise KeyError(
                f"trial {self.number} has no active parameter {name!r}; active: {sorted(self.params)}"
            ) from None

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._frozen.attrs)

    def report(self, step: float, values: float | Mapping[str, float]) -> None:
        """Store an intermediate result at ``step`` (an epoch, a step or a fidelity value).

        ``values`` is a number (for the first objective) or a mapping of metric
        names to numbers; non-finite numbers are stored as null.
        """
        step, clean = self._check_report(step, values)
        self.study.store.add_report(self.study.study_id, self.number, step, clean)

    def _default_metric(self) -> str:
        return self.study.objectives[0].name

    def _check_report(self, step: float, values: float | Mapping[str, float]) -> tuple[float, dict[str, float | None]]:
        """Validate a report: ``(step, {name: value or None when not finite})``."""
        step = check_number("report step", step)
        if not math.isfinite(step):
            raise ObjectiveError(f"trial {self.number}: report step must be finite, but got {step}")
        if not isinstance(values, Mapping):
            values = {self._default_metric(): values}
        clean: dict[str, float | None] = {}
        for name, value in values.items():
            if not isinstance(name, str):
                raise ObjectiveError(f"trial {self.number}: report names must be strings, but got {name!r}")
            number = check_number(f"report values[{name!r}]", value)
            clean[name] = number if math.isfinite(number) else None
        return step, clean

    def should_stop(self) -> bool:
        """Whether the driver decided to stop this trial (Ctrl-C, a stopped study) or the study's
        scheduler asks it to stop (False otherwise). A trial that sees True should return (or raise
        :class:`hpo.TrialPruned`) soon."""
        if self._stop_requested:
            return True
        scheduler = getattr(self.study, "scheduler", None)
        if scheduler is None:
            return False
        return bool(scheduler.should_stop(self.study, self.number))

    def request_stop(self) -> None:
        """Make :meth:`should_stop` return True from now on (called by executors)."""
        self._stop_requested = True

    def tell(self, values: Any = None, state: TrialState | str = TrialState.COMPLETE) -> FrozenTrial:
        """Shortcut for ``study.tell(trial, values, state)``."""
        return self.study.tell(self, values, state=state)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self.params!r})"

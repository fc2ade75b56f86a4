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
    ``trial.should_stop()`` says whether the study's scheduler wants the trial
    stopped (no scheduler: always False).
    """

    def __init__(self, study: Study, frozen: FrozenTrial) -> None:
        self.study = study
        self._frozen = frozen
        self.number: int = frozen.number
        self.params: dict[str, Any] = dict(frozen.params)

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
        step = check_number("report step", step)
        if not math.isfinite(step):
            raise ObjectiveError(f"trial {self.number}: report step must be finite, but got {step}")
        if not isinstance(values, Mapping):
            values = {self.study.objectives[0].name: values}
        clean: dict[str, float | None] = {}
        for name, value in values.items():
            if not isinstance(name, str):
                raise ObjectiveError(f"trial {self.number}: report names must be strings, but got {name!r}")
            number = check_number(f"report values[{name!r}]", value)
            clean[name] = number if math.isfinite(number) else None
        self.study.store.add_report(self.study.study_id, self.number, step, clean)

    def should_stop(self) -> bool:
        """Whether the study's scheduler asks this trial to stop (False without a scheduler)."""
        scheduler = getattr(self.study, "scheduler", None)
        if scheduler is None:
            return False
        return bool(scheduler.should_stop(self.study, self.number))

    def tell(self, values: Any = None, state: TrialState | str = TrialState.COMPLETE) -> FrozenTrial:
        """Shortcut for ``study.tell(trial, values, state)``."""
        return self.study.tell(self, values, state=state)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self.params!r})"

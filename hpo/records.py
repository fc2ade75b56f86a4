"""Plain records read from and written to the store.

These are immutable value objects: the store returns them, samplers read them,
and nothing in them refers back to a database session.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo.errors import ConfigError, ObjectiveError
from hpo.validators import is_number

__all__ = [
    "TrialState",
    "Direction",
    "Objective",
    "Constraint",
    "FrozenTrial",
    "StudyRecord",
    "parse_objectives",
    "parse_constraints",
    "check_study_name",
    "error_line",
    "USER_ATTRS",
]

#: The key of ``attrs`` (trials) and ``settings`` (studies) under which user attributes are stored.
USER_ATTRS = "user_attrs"

#: The line ``max_retries`` appends to a re-queued trial's error (not the error itself).
_REQUEUED = "re-queued as trial "


def error_line(error: str | None, limit: int = 200) -> str:
    """The line that says what went wrong: a traceback's last line (``RuntimeError: CUDA out of memory``),
    without the ``re-queued as trial N`` note of a retry; at most ``limit`` characters ("" for None)."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    while len(lines) > 1 and lines[-1].startswith(_REQUEUED):
        lines.pop()
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


class TrialState(str, enum.Enum):
    """Lifecycle of a trial: WAITING -> RUNNING -> COMPLETE | PRUNED | FAILED."""

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"

    @property
    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)

    @classmethod
    def parse(cls, value: TrialState | str) -> TrialState:
        if isinstance(value, TrialState):
            return value
        try:
            return cls(str(value).upper())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ObjectiveError(f"state: unknown trial state {value!r}; allowed: {allowed}") from None


#: Transitions the store accepts (anything else raises TrialStateError).
ALLOWED_TRANSITIONS: dict[TrialState, frozenset[TrialState]] = {
    TrialState.WAITING: frozenset({TrialState.RUNNING, TrialState.FAILED}),
    TrialState.RUNNING: frozenset({TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED}),
    TrialState.COMPLETE: frozenset(),
    TrialState.PRUNED: frozenset(),
    TrialState.FAILED: frozenset(),
}


class Direction(str, enum.Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


@dataclass(frozen=True)
class Objective:
    """One objective: a name and whether to minimise or maximise it."""

    name: str
    direction: Direction

    @property
    def sign(self) -> float:
        """Multiply a value by this to get a quantity to minimise."""
        return 1.0 if self.direction is Direction.MINIMIZE else -1.0

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction.value}


_CONSTRAINT_OPS = ("<=", ">=")


@dataclass(frozen=True)
class Constraint:
    """An outcome constraint ``value <op> bound`` that a feasible trial satisfies."""

    name: str
    op: str
    bound: float

    def satisfied(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def violation(self, value: float) -> float:
        """How far ``value`` is on the wrong side of the bound (0 when satisfied)."""
        gap = value - self.bound if self.op == "<=" else self.bound - value
        return max(gap, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "bound": self.bound}


#: Study names: also a folder name under the checkpoint root, so no separators, no leading dot.
STUDY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$")


def check_study_name(name: object) -> str:
    """Return ``name`` if it is a valid study name, else raise :class:`ConfigError` (the one rule, used by
    ``hpo.create_study`` and by every store's ``create_study``)."""
    if not isinstance(name, str) or not STUDY_NAME_RE.fullmatch(name):
        shown = repr(name)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ConfigError(
            "name: must be 1-200 characters of letters, digits, '_', '.', ':' or '-', starting with a "
            f"letter or digit, but got {shown}"
        )
    return name


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ObjectiveError(f"{kind}: names must be non-empty strings, but got {name!r}")
    return name


def parse_objectives(objectives: str | Mapping[str, str] | list | None) -> tuple[Objective, ...]:
    """Normalise the user's objectives into ``Objective`` records.

    Accepts ``"minimize"`` / ``"maximize"`` (one objective named ``"value"``), a
    mapping ``{"loss": "minimize", "acc": "maximize"}``, or the stored form (a
    list of ``{"name", "direction"}`` dicts).
    """
    if objectives is None:
        objectives = "minimize"
    if isinstance(objectives, str):
        objectives = {"value": objectives}
    if isinstance(objectives, list):
        try:
            objectives = {o["name"]: o["direction"] for o in objectives}
        except (TypeError, KeyError):
            raise ObjectiveError(
                f"objectives: a list must hold {{'name', 'direction'}} dicts, but got {objectives!r}"
            ) from None
    if not isinstance(objectives, Mapping) or not objectives:
        raise ObjectiveError(
            "objectives: expected 'minimize', 'maximize' or a non-empty mapping "
            f"name -> direction, but got {objectives!r}"
        )
    parsed = []
    for name, direction in objectives.items():
        _check_name("objectives", name)
        try:
            parsed.append(Objective(name, Direction(str(direction).lower())))
        except ValueError:
            raise ObjectiveError(
                f"objectives[{name!r}]: direction must be 'minimize' or 'maximize', but got {direction!r}"
            ) from None
    return tuple(parsed)


def _to_float(x: int | float) -> float:
    try:
        return float(x)
    except OverflowError:  # an int beyond the float range
        return math.inf


def parse_constraints(
    constraints: Mapping[str, Any] | list | None, objective_names: tuple[str, ...] = ()
) -> tuple[Constraint, ...]:
    """Normalise ``{"memory_gb": ("<=", 16)}`` (or the stored list form) into records."""
    if not constraints:
        return ()
    if isinstance(constraints, list):
        try:
            constraints = {c["name"]: (c["op"], c["bound"]) for c in constraints}
        except (TypeError, KeyError):
            raise ObjectiveError(
                f"constraints: a list must hold {{'name', 'op', 'bound'}} dicts, but got {constraints!r}"
            ) from None
    if not isinstance(constraints, Mapping):
        raise ObjectiveError(
            f"constraints: expected a mapping name -> (op, bound), but got {constraints!r}"
        )
    parsed = []
    for name, spec in constraints.items():
        _check_name("constraints", name)
        if name in objective_names:
            raise ObjectiveError(f"constraints[{name!r}]: the name is already an objective")
        if not isinstance(spec, (list, tuple)) or len(spec) != 2:
            raise ObjectiveError(
                f"constraints[{name!r}]: expected (op, bound) with op in {_CONSTRAINT_OPS}, but got {spec!r}"
            )
        op, bound = spec
        if op not in _CONSTRAINT_OPS:
            raise ObjectiveError(
                f"constraints[{name!r}]: op must be one of {_CONSTRAINT_OPS}, but got {op!r}"
            )
        if not is_number(bound) or not math.isfinite(_to_float(bound)):
            raise ObjectiveError(f"constraints[{name!r}]: bound must be a finite number, but got {bound!r}")
        parsed.append(Constraint(name, op, float(bound)))
    return tuple(parsed)


@dataclass(frozen=True)
class FrozenTrial:
    """A snapshot of one trial as stored.

    ``values`` maps objective names to floats (None unless COMPLETE);
    ``constraint_values`` maps constraint names to floats.

    A trial reclaimed from a worker that stopped heart-beating (or whose lease
    ended) is FAILED with ``attrs["reclaimed"]``; a result its worker tells later
    is kept in ``attrs["late_result"]`` (see :meth:`hpo.Study.tell`).
    """

    number: int
    state: TrialState
    params: dict[str, Any]
    values: dict[str, float] | None = None
    constraint_values: dict[str, float] | None = None
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    heartbeat_at: dt.datetime | None = None
    worker_id: str | None = None
    error: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    trial_id: int | None = None
    #: The study the trial belongs to (its store id); ``study.tell`` refuses another study's trial.
    study_id: int | None = None
    #: When a RUNNING trial's lease ends and it may be reclaimed (None: never).
    expires_at: dt.datetime | None = None

    @property
    def value(self) -> float | None:
        """The single objective value (for single-objective studies)."""
        if not self.values:
            return None
        if len(self.values) != 1:
            raise ObjectiveError(
                f"trial {self.number}: .value is for single-objective studies; this trial has "
                f"values for {sorted(self.values)} (use .values)"
            )
        return next(iter(self.values.values()))

    @property
    def user_attrs(self) -> dict[str, Any]:
        """What the objective stored with ``trial.set_user_attr(key, value)`` (``attrs["user_attrs"]``)."""
        found = self.attrs.get(USER_ATTRS)
        return dict(found) if isinstance(found, Mapping) else {}

    @property
    def error_line(self) -> str:
        """The last line of :attr:`error` (see :func:`error_line`); "" when there is none."""
        return error_line(self.error)

    @property
    def duration(self) -> dt.timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def is_feasible(self, constraints: tuple[Constraint, ...]) -> bool:
        if not constraints:
            return True
        cv = self.constraint_values or {}
        return all(c.satisfied(cv.get(c.name)) for c in constraints)


@dataclass(frozen=True)
class StudyRecord:
    """A study's definition as stored."""

    study_id: int
    name: str
    space: dict[str, Any]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    fidelity: dict[str, Any] | None
    settings: dict[str, Any]
    created_at: dt.datetime | None = None

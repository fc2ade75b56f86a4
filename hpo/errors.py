"""Typed exceptions of hpo.

Every error a user can cause derives from :class:`HpoError`. Errors about bad
input also derive from :class:`ValueError` (or :class:`TypeError`) so callers
that catch the built-in types keep working. Messages name the field, the
invariant that failed and the offending value, e.g.
``SpaceError("space['lr']: `low < high` must hold, but got low=1.0, high=0.1")``.
"""

from __future__ import annotations

__all__ = [
    "HpoError",
    "ValidationError",
    "PriorError",
    "ProtocolError",
    "StnError",
    "SpaceError",
    "ConfigError",
    "ObjectiveError",
    "ValueTypeError",
    "StorageError",
    "StorageURLError",
    "SchemaVersionError",
    "DuplicateStudyError",
    "StudyNotFoundError",
    "TrialNotFoundError",
    "TrialStateError",
    "WrongStudyError",
    "DefinitionMismatchError",
    "LateResultWarning",
    "SamplerError",
    "SurrogateError",
    "UnknownNameError",
    "SamplerExhausted",
    "NothingToRun",
    "TrialPruned",
    "NoCompletedTrialsError",
    "ExtrapolationWarning",
    "AllTrialsFailedError",
    "TrialFailuresWarning",
]


class HpoError(Exception):
    """Base class of every error raised by hpo."""


class ValidationError(HpoError, ValueError):
    """Bad input, detected before anything is written to the store."""


class SpaceError(ValidationError):
    """An invalid search-space definition or parameter value."""


class ConfigError(ValidationError):
    """An invalid study configuration (YAML file or keyword arguments)."""


class ObjectiveError(ValidationError):
    """Invalid objectives/constraints definition or objective return value."""


class ValueTypeError(HpoError, TypeError):
    """A value of the wrong type (e.g. a string where a float is required)."""


class StorageError(HpoError):
    """A problem with the study store."""


class StorageURLError(StorageError, ValidationError):
    """A storage URL that is malformed or names an unsupported backend."""


class SchemaVersionError(StorageError):
    """The database schema is newer than this version of hpo understands."""


class DuplicateStudyError(StorageError, ValidationError):
    """A study with this name already exists (pass ``load_if_exists=True``)."""


class StudyNotFoundError(StorageError, KeyError):
    """No study with this name in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class TrialNotFoundError(StorageError, KeyError):
    """No trial with this number in the study."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TrialStateError(HpoError, RuntimeError):
    """A trial state transition that is not allowed (e.g. telling a finished trial)."""


class WrongStudyError(ValidationError):
    """A trial handed to a study it does not belong to (e.g. ``study_a.tell(trial_of_b, ...)``)."""


class DefinitionMismatchError(SpaceError):
    """A ``trial.suggest_*`` call that does not fit the study's space (an unknown or inactive parameter, or
    another definition than the stored one); the message names the parameter and both definitions."""


class LateResultWarning(UserWarning):
    """A result told after the store reclaimed its trial (the worker was paused past its lease);
    the result is kept (``attrs['late_result']`` or the completed retry), not lost."""


class SamplerError(ValidationError):
    """An invalid sampler name, option or configuration."""


class SurrogateError(ValidationError):
    """An invalid surrogate name, option or configuration."""


class PriorError(ValidationError):
    """Bad input to a scaling law or a prior (:mod:`hpo.priors`): a non-positive scale, too few cells, an
    unknown parameter, a density on a Categorical/Fixed, no mass inside the bounds."""


class ProtocolError(ValidationError):
    """A tuning protocol was broken or badly declared: overlapping seed splits, a test seed or the
    evaluation data set used while tuning, a test evaluation of an unfinished trial."""


class StnError(ValidationError):
    """A self-tuning network was badly configured: a hyperparameter the model does not use, bounds that
    do not contain the initial value, ``t_val = 0``, ..."""


class UnknownNameError(ValidationError, KeyError):
    """A name (sampler, backend, format, ...) that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SamplerExhausted(HpoError):
    """The sampler has no more configurations to suggest (e.g. a finished grid)."""


class NothingToRun(HpoError):
    """The study's scheduler can start nothing until a running trial finishes (e.g. PBT
    waiting for a population member); executors wait and ask again."""


class TrialPruned(HpoError):
    """Raised inside an objective to stop the trial early; it is stored as PRUNED."""


class NoCompletedTrialsError(HpoError, ValueError):
    """A query (best trial, Pareto front) needs at least one completed, feasible trial."""


class AllTrialsFailedError(HpoError):
    """The first trials of an ``optimize`` call all failed with the same error (``fail_fast``), so the
    call stopped instead of spending its budget on it. ``error`` is that error's last line, ``numbers``
    the failed trials."""

    def __init__(self, message: str, error: str = "", numbers: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.error = error
        self.numbers = numbers


class TrialFailuresWarning(UserWarning):
    """Some trials of an ``optimize`` call failed; the message counts them and quotes the first error."""


def short_repr(value: object, limit: int = 200) -> str:
    """``repr(value)`` of at most ``limit`` characters (cut with ``...``), in time bounded by ``limit``.

    For the values error messages quote: containers are walked only as far as the limit (a list of 10**7
    items costs no more than a short one), long strings are cut before ``repr``, nesting is cut at depth 20.
    """
    parts: list[str] = []
    size = 0

    def emit(text: str) -> bool:
        nonlocal size
        parts.append(text)
        size += len(text)
        return size <= limit

    def walk(v: object, depth: int) -> bool:
        if depth > 20:
            return emit("...")
        if isinstance(v, dict):
            if not emit("{"):
                return False
            for i, (k, x) in enumerate(v.items()):
                if (i and not emit(", ")) or not walk(k, depth + 1) or not emit(": ") or not walk(x, depth + 1):
                    return False
            return emit("}")
        if isinstance(v, (list, tuple, set, frozenset)):
            if isinstance(v, (set, frozenset)) and not v:
                return emit(f"{type(v).__name__}()")
            if isinstance(v, list):
                opening, closing = "[", "]"
            elif isinstance(v, tuple):
                opening, closing = "(", ",)" if len(v) == 1 else ")"
            else:
                opening, closing = "{", "}"
            if not emit(opening):
                return False
            for i, x in enumerate(v):
                if (i and not emit(", ")) or not walk(x, depth + 1):
                    return False
            return emit(closing)
        if isinstance(v, str) and len(v) > limit:
            return emit(repr(v[:limit]))
        try:
            text = repr(v)
        except Exception as exc:  # e.g. an int beyond the digits limit of str()
            text = f"<{type(v).__name__}: {type(exc).__name__}>"
        return emit(text[: limit + 1])

    walk(value, 0)
    text = "".join(parts)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


class ExtrapolationWarning(UserWarning):
    """A scaling law asked about inputs outside the range of the data it was fitted on."""

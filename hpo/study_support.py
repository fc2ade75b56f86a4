"""Helpers of :class:`hpo.study.Study` kept out of it (the checks of ``tell`` and the checkpoint folders)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, ObjectiveError, TrialStateError, WrongStudyError
from hpo.records import FrozenTrial, check_study_name
from hpo.trial import Trial
from hpo.validators import is_int

if TYPE_CHECKING:
    from hpo.study import Study

__all__ = ["checkpoint_folder", "error_text", "own_number", "protocol_values"]


def error_text(error: Any) -> str | None:
    """The error text of a told trial: a string (bytes are decoded), else a typed error before any write."""
    if error is None or isinstance(error, str):
        return error
    if isinstance(error, (bytes, bytearray)):
        return bytes(error).decode("utf-8", errors="replace")
    raise ObjectiveError(f"tell: error must be a string (e.g. a traceback) or None, but got {type(error).__name__} "
                         f"{repr(error)[:200]}")


def own_number(study: Study, trial: Trial | FrozenTrial | int) -> int:
    """The number of ``trial``, refusing a trial of another study (which would finish this study's
    trial of the same number)."""
    if isinstance(trial, int) and is_int(trial):
        return trial
    number: Any = getattr(trial, "number", None)
    if not is_int(number):
        raise TrialStateError(f"tell: expected a Trial or a trial number, but got {trial!r}")
    if isinstance(trial, Trial):
        other = trial.study
        if other is not study and (other.study_id != study.study_id or other.store.url != study.store.url):
            raise WrongStudyError(
                f"tell: trial {number} belongs to study {other.name!r} (id {other.study_id} in {other.store.url}), "
                f"not to study {study.name!r} (id {study.study_id} in {study.store.url}); tell it on its own study"
            )
    elif isinstance(trial, FrozenTrial) and trial.study_id is not None and trial.study_id != study.study_id:
        raise WrongStudyError(
            f"tell: trial {number} belongs to the study with id {trial.study_id}, not to study {study.name!r} "
            f"(id {study.study_id}); tell it on its own study"
        )
    return number


def checkpoint_folder(study: Study, number: int) -> str:
    """``study.checkpoint_path(number)`` (see its docstring)."""
    if not is_int(number) or not 0 <= number < 2**63:
        raise ConfigError(f"checkpoint_path: the trial number must be an integer >= 0, but got {number!r:.80}")
    try:
        name = check_study_name(study.name)
    except ConfigError as exc:
        raise ConfigError(f"checkpoint_path: study {study.study_id} has a stored name that cannot name a "
                          f"checkpoint folder; {exc}") from None
    root = study.record.settings.get("checkpoint_root") or os.environ.get("HPO_CHECKPOINT_ROOT") or "hpo-checkpoints"
    if not isinstance(root, str):
        raise ConfigError(f"checkpoint_root: must be a path string, but got {root!r:.80}")
    root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(root, f"{study.study_id}-{name}", f"trial-{number:06d}"))
    if os.path.commonpath([root, path]) != root or os.path.dirname(os.path.dirname(path)) != root:
        raise ConfigError(f"checkpoint_path: the folder of trial {number} resolves to {path!r}, which is not "
                          f"<checkpoint_root>/<study>/<trial> inside checkpoint_root {root!r}")
    return path


def protocol_values(study: Study, number: int, returned: Any) -> Any:
    """The values to tell for COMPLETE trial ``number`` of a study with a tuning protocol: the protocol's
    aggregate of its per-seed tuning results (a returned ``{seed: value}`` mapping is stored first), with
    ``attrs["seed_spread"]`` set. A seed the protocol refuses fails the trial (nothing of it written) and
    the :class:`~hpo.errors.ProtocolError` propagates."""
    from hpo.errors import ProtocolError
    from hpo.protocols.tuning import SPREAD_ATTR, check_protocol_state, tuning_values
    from hpo.records import TrialState

    protocol = check_protocol_state(study.protocol, f"tell trial {number}")
    try:
        values, spreads = tuning_values(study.store, study.study_id, protocol, number, returned,
                                        study.objectives, study.constraints)
    except ProtocolError as exc:
        study.store.finish_trial(study.study_id, number, TrialState.FAILED, error=str(exc))
        raise
    try:
        study.store.set_trial_attr(study.study_id, number, SPREAD_ATTR, spreads)
    except TrialStateError:  # reclaimed meanwhile: tell keeps the late result, without the spread
        pass
    return values

"""The fitted surrogate's state, stored with the trials so that a new process starts warm.

A GP's hyperparameters take a fresh process a full fit from the priors' modes to find again;
the sampler's in-process warm start (:class:`hpo.surrogates.gp.GPSurrogate`) is lost when a
study is resumed (``load_study``, every ``hpo run``, every worker process). So the BO sampler
stores the state of the fit behind each suggestion in the suggested trial's ``attrs`` under
:data:`STATE_ATTR` (JSON data: :meth:`~hpo.surrogates.gp.GPSurrogate.state`, no pickle), written
in the transaction that starts the trial, so it costs no extra write. A sampler whose surrogate
has no warm state yet (a new process) takes the state of the latest finished trial that carries
one (:func:`restore`). Several workers each store what they fitted; the latest one wins.

A surrogate takes part when it has ``state()`` and ``load_state(state)`` methods (the GP does;
the ensemble and the PFN have nothing to carry over and are left alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpo.records import FrozenTrial

__all__ = ["STATE_ATTR", "state_of", "restore", "has_state"]

#: The trial attribute that holds the fitted surrogate's state.
STATE_ATTR = "model_state"
_FORMAT = 1


def has_state(surrogate: Any) -> bool:
    """Whether ``surrogate`` holds a fitted state to start its next fit from."""
    state = getattr(surrogate, "state", None)
    return callable(state) and state() is not None


def state_of(surrogate: Any) -> dict[str, Any] | None:
    """The attribute value to store for ``surrogate``'s last fit (None: nothing to store)."""
    state = getattr(surrogate, "state", None)
    found = state() if callable(state) else None
    if found is None:
        return None
    return {"surrogate": getattr(surrogate, "name", type(surrogate).__name__), "format": _FORMAT, **found}


def restore(surrogate: Any, history: Sequence[FrozenTrial]) -> int | None:
    """Give ``surrogate`` the state stored with the latest trial of ``history`` that has one.

    Nothing happens when the surrogate already holds a state (this process fitted it), cannot
    take one, or no trial carries a state of its kind. Returns the number of the trial whose
    state was taken, or None.
    """
    load = getattr(surrogate, "load_state", None)
    if not callable(load) or has_state(surrogate):
        return None
    name = getattr(surrogate, "name", type(surrogate).__name__)
    for trial in reversed(history):
        found = trial.attrs.get(STATE_ATTR) if isinstance(trial.attrs, dict) else None
        if isinstance(found, dict) and found.get("surrogate") == name and found.get("format") == _FORMAT:
            if load(found):
                return trial.number
    return None

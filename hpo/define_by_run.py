"""Define-by-run trials: ``trial.suggest_float / suggest_int / suggest_categorical`` (Optuna's signatures).

An objective written for Optuna runs unchanged in an hpo study::

    def objective(trial):
        x = trial.suggest_float("x", 1e-5, 1e-1, log=True)
        if trial.suggest_categorical("kind", ["a", "b"]) == "a":
            return x + trial.suggest_int("n", 1, 8)
        return x

    study = hpo.create_study(sampler="gp", seed=0)   # no space=: the space grows
    study.optimize(objective, n_trials=30)

Two kinds of study:

- **A declared space** (``create_study(space=...)``): the sampler suggests the whole configuration when
  the trial starts, as always; each ``suggest_*`` call returns the trial's value after checking the call
  against the declared parameter. A parameter the space does not have, a definition that differs
  (bounds, ``log``, ``step``, choices) or a parameter that is inactive in this trial under the space's
  conditions raises :class:`~hpo.errors.DefinitionMismatchError`, naming the parameter and both
  definitions.
- **No space** (a define-by-run study, ``settings["define_by_run"]``): the study's space grows as
  parameters are first suggested; each new definition is written to the study's stored space (so
  ``load_study``, the CLI and the dashboard see it) in one transaction (:func:`grow_stored_space`), and
  a parameter suggested again with another definition raises :class:`~hpo.errors.DefinitionMismatchError`
  (the stored space holds one definition per name). Conditional parameters come from the objective's
  control flow: a trial's ``params`` hold the parameters it suggested, the others are inactive in it
  (absent, as an inactive parameter of a declared space is).

Sampling in a define-by-run study: when a trial starts, the study's sampler suggests a configuration
of the **intersection space**, the parameters every COMPLETE trial so far suggested (as Optuna's
``IntersectionSearchSpace``), learning from the finished trials that have all of them (projected onto
it) and treating the RUNNING ones that have them as pending. A suggested parameter inside that space
gets the sampler's value; one outside it (the first trials, conditional parameters) gets a **random**
value from its definition, drawn from ``trial_rng(seed, number, salt)`` with a salt derived from the
parameter's name, so a seeded study replays its trials. Each value is written to the trial's stored
params when it is suggested.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from hpo.params import Categorical, Fixed, Float, Int, Param
from hpo.validators import is_number

__all__ = ["categorical_param", "float_param", "int_param"]


def float_param(low: Any, high: Any, *, step: Any = None, log: bool = False) -> Param:
    """The Param of ``suggest_float(name, low, high, step=step, log=log)``; a single value
    (``low == high``, or a ``step`` wider than the range, as Optuna) is :class:`~hpo.params.Fixed`."""
    if is_number(low) and is_number(high) and (low == high or (is_number(step) and 0 < high - low < step)):
        return Fixed(float(low))
    return Float(low, high, log=log, step=step)


def int_param(low: Any, high: Any, *, step: Any = 1, log: bool = False) -> Param:
    """The Param of ``suggest_int(name, low, high, step=step, log=log)`` (a single value is Fixed)."""
    if is_number(low) and is_number(high) and (low == high or (is_number(step) and 0 < high - low < step)):
        return Fixed(int(low))
    return Int(low, high, log=log, step=step)


def categorical_param(choices: Sequence[Any]) -> Param:
    """The Param of ``suggest_categorical(name, choices)``."""
    return Categorical(tuple(choices) if isinstance(choices, (list, tuple)) else choices)


def name_salt(name: str) -> int:
    """The ``trial_rng`` salt of a parameter drawn at random in a define-by-run trial."""
    return 0x0DB0_0000 + zlib.crc32(name.encode("utf-8"))

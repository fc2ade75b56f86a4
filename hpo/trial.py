"""The live trial an objective receives."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, ObjectiveError, ValidationError, short_repr
from hpo.records import FrozenTrial, TrialState
from hpo.values import check_number
from hpo.validators import is_int

if TYPE_CHECKING:
    from hpo.study import Study

__all__ = ["Trial", "check_user_attr"]


def check_user_attr(where: str, key: Any, value: Any) -> Any:
    """``value`` as stored (JSON: tuples become lists), or :class:`ValidationError` for a key that is not a
    non-empty string or a value that is not JSON data (no NaN or infinity)."""
    import json

    if not isinstance(key, str) or not key:
        raise ValidationError(f"{where}: the key must be a non-empty string, but got {short_repr(key, 80)}")
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(f"{where}({key!r}): the value must be JSON data (no NaN or infinity), but got "
                              f"{short_repr(value)}: {str(exc)[:200]}") from None


class Trial:
    """A running trial: its number and params, and a way to report progress.

    ``trial.params`` holds the configuration (also ``trial["lr"]``). Optuna's define-by-run API works
    too: ``trial.suggest_float / suggest_int / suggest_categorical`` (checked against a declared space,
    or growing the space of a study created without one; see :mod:`hpo.define_by_run`), and
    ``trial.should_prune()`` is :meth:`should_stop`.
    ``trial.report(step, value)`` stores an intermediate result (Optuna's order is the
    reverse; ``trial.report(step=..., value=...)`` is unambiguous);
    ``trial.should_stop()`` says whether the driver or the study's scheduler wants
    the trial stopped.

    In a study with a fidelity (``hpo.Fidelity("epochs", 1, 81)``), ``trial.budget``
    is how far to train, ``trial.start_step`` where training resumes (0 for a
    fresh start), ``trial.load_checkpoint()`` the folder to resume from (None for
    a fresh start) and ``trial.checkpoint_dir`` the folder to save into::

        def objective(trial):
            model = build(trial.params)
            if (resume := trial.load_checkpoint()) is not None:
                model.load_state_dict(torch.load(resume / "model.pt"))
            for epoch in range(int(trial.start_step) + 1, int(trial.budget) + 1):
                loss = train_one_epoch(model)
                trial.report(epoch, loss)
                if trial.should_stop():
                    raise hpo.TrialPruned()
            torch.save(model.state_dict(), trial.checkpoint_dir / "model.pt")
            return loss
    """

    def __init__(self, study: Study, frozen: FrozenTrial, lease: float | None = None) -> None:
        self.study = study
        self._frozen = frozen
        self._lease = lease
        self.number: int = frozen.number
        self.params: dict[str, Any] = dict(frozen.params)
        self._stop_requested = False
        self._user_attrs: dict[str, Any] = dict(frozen.user_attrs)
        self._last_step: float | None = None  # the step of this trial's last report
        self._optuna_order = False  # report(value, step) once the objective used suggest_* (Optuna's API)

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

    # -- user attributes ---------------------------------------------------------------
    def set_user_attr(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON data) under ``key`` with this trial, now: it is kept whatever the trial's
        outcome and shows in ``FrozenTrial.user_attrs`` and as the ``user_attrs_<key>`` column of
        ``study.trials_dataframe()`` (as in Optuna).

        Raises:
            ValidationError: ``key`` is not a non-empty string or ``value`` is not JSON data.
            TrialStateError: the trial is already finished.
        """
        stored = check_user_attr("set_user_attr", key, value)
        self.study.store.set_trial_user_attr(self.study.study_id, self.number, key, stored)
        self._user_attrs[key] = stored

    @property
    def user_attrs(self) -> dict[str, Any]:
        """The attributes set with :meth:`set_user_attr` (a copy)."""
        return dict(self._user_attrs)

    # -- tuning protocol (hpo.protocols) ----------------------------------------------
    #: The protocol phase a study's trials run in (test runs get an ``EvaluationTrial``).
    phase = "tuning"

    def _protocol(self) -> Any:
        study = getattr(self, "study", None)
        return None if study is None else study.protocol

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds to run this trial on: the protocol's tuning seeds (empty without a protocol)."""
        protocol = self._protocol()
        return () if protocol is None else protocol.seeds_for("tuning")

    @property
    def dataset(self) -> str | None:
        """The data set to tune on (a :class:`hpo.DatasetSplit` study's ``tuning``), else None."""
        protocol = self._protocol()
        return None if protocol is None else protocol.dataset_for("tuning")

    def report_seed(self, seed: int, value: float | Mapping[str, float]) -> None:
        """Store this trial's result on tuning seed ``seed`` (a number, or objective name -> number), now.

        The trial's value becomes the protocol's aggregate of its seeds (return None, or nothing, from
        the objective). A seed that is not a tuning seed is refused by the store.

        Raises:
            ProtocolError: the study has no protocol, or ``seed`` is not one of its tuning seeds.
            TrialStateError: this seed is already recorded for this trial.
        """
        from hpo.protocols.tuning import check_protocol_state, record_seed

        protocol = self._protocol()
        check_protocol_state(protocol, f"trial {self.number}: report_seed")
        record_seed(self.study.store, self.study.study_id, protocol, self.number, seed, value,
                    self.study.objectives, self.study.constraints)

    # -- fidelity and checkpoints -----------------------------------------------------
    def _fidelity_max(self) -> float:
        fidelity = getattr(self.study, "fidelity", None)
        if fidelity is None:
            raise ConfigError(f"trial {self.number}: the study declares no fidelity, so the trial has no budget; "
                              "create it with fidelity=hpo.Fidelity('epochs', min=1, max=81)")
        return float(fidelity.max)

    @property
    def budget(self) -> float:
        """How far to train (in the fidelity's unit): the scheduler's or sampler's budget, else the max."""
        budget = self._frozen.attrs.get("budget")
        return float(budget) if budget is not None else self._fidelity_max()

    @property
    def start_step(self) -> float:
        """The step training resumes from: the budget of the checkpoint it loads (0 for a fresh start)."""
        return float(self._frozen.attrs.get("start_step", 0.0))

    def _checkpoint_folder(self, number: int) -> str:
        """The checkpoint folder of trial ``number`` of this study (``study.checkpoint_path``)."""
        if self.study is None:
            raise ConfigError(f"trial {self.number}: no checkpoint folder was assigned to this trial")
        return self.study.checkpoint_path(number)

    def resume_from(self) -> int | None:
        """The number of the trial whose checkpoint this one resumes (``attrs["resume_from"]``), or None."""
        parent = self._frozen.attrs.get("resume_from")
        if parent is None:
            return None
        if not is_int(parent) or not 0 <= parent < 2**63 or parent == self.number:
            raise ConfigError(f"trial {self.number}: attrs['resume_from'] must be the number of another trial "
                              f"(an integer >= 0), but got {parent!r:.80}")
        return parent

    @property
    def checkpoint_dir(self) -> Path:
        """This trial's checkpoint folder (created on first use); save what a resumed trial needs here.

        The folder is ``study.checkpoint_path(trial.number)``: derived from the study and the number,
        never from the stored ``attrs["checkpoint_dir"]`` (kept for people to read)."""
        folder = Path(self._checkpoint_folder(self.number))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def load_checkpoint(self) -> Path | None:
        """The checkpoint folder to resume from (a promoted or exploited trial's), or None for a fresh start.

        The folder is ``study.checkpoint_path(attrs["resume_from"])``; the stored ``attrs["resume_dir"]``
        is never read."""
        parent = self.resume_from()
        if parent is None:
            return None
        path = self._checkpoint_folder(parent)
        if not os.path.isdir(path):
            raise ConfigError(f"trial {self.number}: resumes trial {parent}, whose checkpoint folder {path} does "
                              "not exist; the objective must save its state in trial.checkpoint_dir before returning")
        return Path(path)

    def report(self, *args: Any, step: float | None = None, value: float | Mapping[str, float] | None = None,
               values: float | Mapping[str, float] | None = None) -> None:
        """Store an intermediate result at ``step`` (an epoch, a step or a fidelity value).

        The positional order is ``report(step, value)``, the reverse of Optuna's ``report(value, step)``,
        except in a trial that called a ``suggest_*`` method (an Optuna objective, see
        :mod:`hpo.define_by_run`): there ``report(value, step)`` follows Optuna's order, so an Optuna
        objective runs unchanged. Keywords (``report(step=3, value=0.25)``) mean the same everywhere.
        ``value`` (or ``values=``) is a number (for the first objective) or a mapping of metric names to
        numbers; non-finite numbers are stored as null.

        Raises:
            ObjectiveError: the step is not finite; the study's fidelity is integer and the step is
                not a whole number; the step comes before this trial's last reported step (both
                usually mean the arguments were given in Optuna's order); neither or both of
                ``value`` and ``values`` given; more than two positional arguments, or one given both
                positionally and by keyword.
        """
        order = ("value", "step") if self._optuna_order else ("step", "value")
        if len(args) > 2:
            raise ObjectiveError(f"trial {self.number}: report takes at most 2 positional arguments "
                                 f"({', '.join(order)}), but got {len(args)}")
        given: dict[str, Any] = {"step": step, "value": value}
        for key, arg in zip(order, args):
            if given[key] is not None:
                raise ObjectiveError(f"trial {self.number}: report got {key} both positionally and by keyword")
            given[key] = arg
        step, value = given["step"], given["value"]
        if step is None:
            raise ObjectiveError(f"trial {self.number}: report needs a step (report({', '.join(order)}))")
        step, clean = self._check_report(step, self._one_value(value, values))
        self.study.store.add_report(self.study.study_id, self.number, step, clean)
        self._last_step = step

    def _one_value(self, value: Any, values: Any) -> Any:
        if (value is None) == (values is None):
            raise ObjectiveError(f"trial {self.number}: report needs exactly one of value= and values= "
                                 f"(value is {short_repr(value, 60)}, values is {short_repr(values, 60)})")
        return value if values is None else values

    def _default_metric(self) -> str:
        return self.study.objectives[0].name

    def _fidelity(self) -> Any:
        """The study's fidelity (None without one)."""
        return getattr(self.study, "fidelity", None)

    def _check_report(self, step: float, values: float | Mapping[str, float]) -> tuple[float, dict[str, float | None]]:
        """Validate a report: ``(step, {name: value or None when not finite})``."""
        step = check_number("report step", step)
        if not math.isfinite(step):
            raise ObjectiveError(f"trial {self.number}: report step must be finite, but got {step}")
        fidelity = self._fidelity()
        if fidelity is not None and fidelity.integer and not float(step).is_integer():
            raise ObjectiveError(
                f"trial {self.number}: report step must be a whole number (the study's fidelity "
                f"{fidelity.name!r} is integer), but got {step!r}; the order is trial.report(step, value), the "
                "reverse of Optuna's trial.report(value, step): write trial.report(step=..., value=...)")
        last = getattr(self, "_last_step", None)
        if last is not None and step < last:
            raise ObjectiveError(
                f"trial {self.number}: report steps must not go backwards, but got step {step!r} after step "
                f"{last!r}; the order is trial.report(step, value), the reverse of Optuna's "
                "trial.report(value, step): write trial.report(step=..., value=...)")
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
        if getattr(self.study, "scheduler", None) is None:
            return False
        return bool(self.study.should_stop(self.number))

    def should_prune(self) -> bool:
        """Optuna's name for :meth:`should_stop`: whether the study's scheduler (hpo's pruner) stops this
        trial after its latest report, or the driver stops it. Without a scheduler it is False."""
        return self.should_stop()

    # -- define-by-run (Optuna's suggest API; see hpo.define_by_run) ------------------------------
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        """A float in ``[low, high]`` (log-uniform with ``log=True``, on the grid ``low + k * step`` with
        ``step``); a study without a declared space adds the parameter to its space.

        Raises:
            DefinitionMismatchError: the study defines ``name`` otherwise (both definitions named), or a
                declared space has no such parameter or it is inactive in this trial.
            SpaceError: an invalid definition (``low > high``, ``step`` with ``log``, ...).
        """
        from hpo.define_by_run import float_param, suggest_value

        self._optuna_order = True
        return suggest_value(self, name, float_param(low, high, step=step, log=log))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        """An integer in ``[low, high]`` on the grid ``low + k * step`` (log-uniform with ``log=True``);
        errors as :meth:`suggest_float`."""
        from hpo.define_by_run import int_param, suggest_value

        self._optuna_order = True
        return suggest_value(self, name, int_param(low, high, step=step, log=log))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """One of ``choices`` (JSON scalars: None, bool, int, float, str); errors as :meth:`suggest_float`."""
        from hpo.define_by_run import categorical_param, suggest_value

        self._optuna_order = True
        return suggest_value(self, name, categorical_param(choices))

    def heartbeat(self) -> None:
        """Tell the store this trial is alive: its lease starts again from now (``ask_lease`` for an
        ask()/tell() trial). Long trials driven by ``ask``/``tell`` call it now and then."""
        self.study.heartbeat([self.number], lease=self._lease if self._lease is not None else self.study.lease(False))

    def request_stop(self) -> None:
        """Make :meth:`should_stop` return True from now on (called by executors)."""
        self._stop_requested = True

    def tell(self, values: Any = None, state: TrialState | str = TrialState.COMPLETE) -> FrozenTrial:
        """Shortcut for ``study.tell(trial, values, state)``."""
        return self.study.tell(self, values, state=state)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self.params!r})"

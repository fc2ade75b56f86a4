"""A Ray Tune searcher backed by an hpo study: keep ``Tuner`` and its schedulers, get our samplers and store.

    import hpo
    from hpo.integrations.tune import HpoSearch
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    study = hpo.create_study(name="tune", space={"lr": hpo.Float(1e-4, 1e-1, log=True)},
                             objectives={"loss": "minimize"}, sampler="tpe", storage="sqlite:///hpo.db")
    tuner = tune.Tuner(train, tune_config=tune.TuneConfig(
        search_alg=HpoSearch(study), scheduler=ASHAScheduler(max_t=20), metric="loss", mode="min",
        num_samples=30))
    tuner.fit()

Each Tune trial is a trial of the study: ``suggest`` asks the study (the
search space is the study's; leave Tune's ``param_space`` empty), every result
is stored as an intermediate report at ``training_iteration``, and the end of a
trial is told: COMPLETE with its last result when it ran to the end (its
trainable returned, or it reached ``max_t``), PRUNED when a scheduler (ASHA,
PBT, ...) stopped it earlier, FAILED when it raised.

Pass the scheduler's ``max_t`` to ``HpoSearch(study, max_t=...)``: Tune reports a
trial that ASHA stops at ``max_t`` like one it stops early.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray.tune.search import Searcher

from hpo.errors import ConfigError, HpoError, SamplerExhausted, TrialStateError
from hpo.records import Direction, TrialState
from hpo.validators import is_number, optional, positive_number

if TYPE_CHECKING:
    from hpo.study import Study
    from hpo.trial import Trial

__all__ = ["HpoSearch"]

_MODES = {Direction.MINIMIZE: "min", Direction.MAXIMIZE: "max"}


def _storage_url(study: Study) -> str:
    engine = getattr(study.store, "engine", None)
    if engine is not None:
        return str(engine.url.render_as_string(hide_password=False))
    return str(study.store.url)


class HpoSearch(Searcher):
    """A ``ray.tune.search.Searcher`` whose suggestions and results live in an hpo study.

    Args:
        study: the study to suggest from and store into (its space, objectives and sampler).
        metric: the Tune result key of the study's objective (default: the first objective's name).
        mode: ``"min"`` or ``"max"`` (default: the first objective's direction).
        step_key: the result key used as the report step (default ``"training_iteration"``).
        max_t: the full budget in ``step_key`` units (the scheduler's ``max_t``): a trial stopped
            there is COMPLETE, one stopped before it PRUNED.
    """

    def __init__(self, study: Study, metric: str | None = None, mode: str | None = None,
                 step_key: str = "training_iteration", max_t: float | None = None) -> None:
        from hpo.study import Study

        if not isinstance(study, Study):
            raise ConfigError(f"study: expected an hpo Study (hpo.create_study(...)), but got {study!r}")
        objective = study.objectives[0]
        expected_mode = _MODES[objective.direction]
        if mode is not None and mode != expected_mode:
            raise ConfigError(f"mode: study {study.name!r} {objective.direction.value}s {objective.name!r}, "
                              f"so mode must be {expected_mode!r}, but got {mode!r}")
        super().__init__(metric=metric or objective.name, mode=expected_mode)
        self.study = study
        optional(positive_number, "max_t", max_t)
        self.step_key = step_key
        self.max_t = max_t
        self._live: dict[str, Trial] = {}
        self._last_step: dict[str, Any] = {}  # trial_id -> the step of the last result seen by on_trial_result

    # -- Tune's protocol -------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Accept Tune's metric/mode when they agree with the study; the space is the study's."""
        if mode is not None and mode != self._mode:
            raise ConfigError(f"mode: the study's objective {self.study.objectives[0].name!r} needs mode "
                              f"{self._mode!r}, but Tune was given mode={mode!r}")
        if metric is not None:
            self._metric = metric
        return not _has_search_domains(config)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        try:
            trial = self.study.ask()
        except SamplerExhausted:
            return Searcher.FINISHED
        self._live[trial_id] = trial
        return dict(trial.params)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        trial = self._live.get(trial_id)
        if trial is None:
            return
        self._last_step[trial_id] = result.get(self.step_key)
        self._report(trial, result)

    def _report(self, trial: Trial, result: Mapping[str, Any]) -> None:
        values = self._values(result)
        step = result.get(self.step_key)
        if values and is_number(step) and math.isfinite(step):
            trial.report(step, values)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        trial = self._live.pop(trial_id, None)
        last_seen = self._last_step.pop(trial_id, None)
        if trial is None:
            return
        try:
            if error:
                self.study.tell(trial, state=TrialState.FAILED, error=f"Ray Tune trial {trial_id} raised an error")
                return
            values = self._values(result or {})
            names = [o.name for o in self.study.objectives]
            step = (result or {}).get(self.step_key)
            if result and step != last_seen:  # the result that made the scheduler stop it: store it too
                self._report(trial, result)
            # Tune passes a scheduler's STOP result here without on_trial_result; a trainable that
            # returned on its own repeats its last result (already seen).
            returned = step is not None and step == last_seen
            at_budget = self.max_t is not None and isinstance(step, (int, float)) and step >= self.max_t
            ran_to_end = (returned or at_budget) and all(n in values for n in names)
            if ran_to_end:
                self.study.tell(trial, self._told(values), state=TrialState.COMPLETE)
            else:  # stopped by a scheduler (ASHA, PBT...) or before reporting every objective
                partial = self._told(values) if all(n in values for n in names) else None
                self.study.tell(trial, partial, state=TrialState.PRUNED)
        except HpoError as exc:  # e.g. NaN values: keep the trial, as FAILED with the reason
            try:
                self.study.tell(trial, state=TrialState.FAILED, error=f"Ray Tune trial {trial_id}: {exc}")
            except TrialStateError:
                pass

    def _names(self) -> list[str]:
        names = [o.name for o in self.study.objectives] + [c.name for c in self.study.constraints]
        if self._metric and self._metric not in names:
            names.append(self._metric)
        return names

    def _values(self, result: Mapping[str, Any]) -> dict[str, float]:
        out = {}
        for name in self._names():
            value = result.get(name)
            if is_number(value):
                out[name] = float(value)
        if self._metric != self.study.objectives[0].name and self._metric in out:
            out.setdefault(self.study.objectives[0].name, out[self._metric])
        return out

    def _told(self, values: dict[str, float]) -> dict[str, float]:
        keep = {o.name for o in self.study.objectives} | {c.name for c in self.study.constraints}
        return {k: v for k, v in values.items() if k in keep}

    # -- checkpoints -----------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"study": self.study.name, "storage": _storage_url(self.study), "metric": self._metric,
                "mode": self._mode, "step_key": self.step_key, "max_t": self.max_t,
                "live": {tid: t.number for tid, t in self._live.items()},
                "last_step": {tid: self._last_step.get(tid) for tid in self._live}}

    def set_state(self, state: dict[str, Any]) -> None:
        from hpo.study_setup import load_study
        from hpo.trial import Trial

        if getattr(self, "study", None) is None or self.study.name != state["study"]:
            self.study = load_study(state["study"], state["storage"])
        self._metric, self._mode, self.step_key = state["metric"], state["mode"], state["step_key"]
        self.max_t = state.get("max_t")
        self._last_step = {k: v for k, v in state.get("last_step", {}).items() if v is not None}
        self._live = {}
        running = {t.number: t for t in self.study.get_trials([TrialState.RUNNING])}
        for trial_id, number in state["live"].items():
            if number in running:
                self._live[trial_id] = Trial(self.study, running[number])

    def save(self, checkpoint_path: str) -> None:
        """Write the searcher's state as JSON: the study (by name and store) and its live trials."""
        Path(checkpoint_path).write_text(json.dumps(self.get_state()), encoding="utf-8")

    def restore(self, checkpoint_path: str) -> None:
        """Reload a state written by :meth:`save` (the study comes back from its store)."""
        self.set_state(json.loads(Path(checkpoint_path).read_text(encoding="utf-8")))

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its search algorithm with the experiment
        state = {k: v for k, v in self.__dict__.items() if k not in ("study", "_live", "_last_step")}
        state["_hpo_state"] = self.get_state()
        state["_hpo_sampler"] = self.study.sampler
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from hpo.study_setup import load_study

        hpo_state = state.pop("_hpo_state")
        sampler = state.pop("_hpo_sampler")
        self.__dict__.update(state)
        self.study = load_study(hpo_state["study"], hpo_state["storage"], sampler=sampler)
        self.set_state(hpo_state)


def _has_search_domains(config: Any) -> bool:
    from ray.tune.search.sample import Domain

    if isinstance(config, Domain):
        return True
    if isinstance(config, Mapping):
        return any(_has_search_domains(v) for v in config.values())
    if isinstance(config, (list, tuple)):
        return any(_has_search_domains(v) for v in config)
    return False

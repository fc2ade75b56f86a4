"""The scheduler -> sampler contract: under a scheduler ``history`` stays the append-only list of finished
trials, and what the sampler learns from is ``scheduler_data`` (values at one rung level, in objective
units). Regression: TPE under ASHA was fitted on a mix of rung levels (the Optuna mirror assumed the
history only grows while the study replaced it by a rung projection on every ask)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.records import TrialState
from hpo.samplers.base import SamplingContext
from hpo.samplers.optuna_adapter import OptunaSampler, _quiet

SPACE = {"x": hpo.Float(0.0, 1.0), "y": hpo.Float(0.0, 1.0), "k": hpo.Fixed(3)}


class _Recording(OptunaSampler):
    """TPE that keeps every context the study hands it (to check what the study passes)."""

    def __init__(self) -> None:
        super().__init__("tpe", n_startup_trials=5)
        self.contexts: list[SamplingContext] = []

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        self.contexts.append(context)
        return super().suggest(context)


def _loss(params: dict[str, Any], epoch: int) -> float:
    """A learning curve that falls with the epochs; its floor depends on (x, y)."""
    return (params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2 + 1.0 / epoch


def _run(tmp_path: Path, direction: str, n_trials: int = 60,
         scheduler: Any = "asha") -> tuple[hpo.Study, _Recording, list[list[int]]]:
    """``n_trials`` asked and told one after the other under ASHA (epochs 1..27), reporting every epoch;
    returns the study, its sampler and, for every ask, the numbers of the history the sampler got."""
    sampler = _Recording()
    sign = 1.0 if direction == "minimize" else -1.0
    study = hpo.create_study(name=direction, space=SPACE, objectives={"score": direction}, sampler=sampler,
                             scheduler=scheduler, fidelity=hpo.Fidelity("epochs", 1, 27), seed=0,
                             storage=f"sqlite:///{tmp_path / (direction + '.db')}",
                             checkpoint_root=str(tmp_path / "ckpt"))
    histories: list[list[int]] = []
    for _ in range(n_trials):
        trial = study.ask()
        histories.append([t.number for t in sampler.contexts[-1].history])
        value = math.nan
        for epoch in range(int(trial.start_step) + 1, int(trial.budget) + 1):
            value = sign * _loss(trial.params, epoch)
            trial.report(epoch, {"score": value})
            if trial.should_stop():
                study.tell(trial, state="PRUNED")
                break
        else:
            study.tell(trial, {"score": value})
    return study, sampler, histories


def _mirror_rows(sampler: OptunaSampler) -> list[tuple[str, float]]:
    with _quiet():
        trials = sampler._mirror.get_trials(deepcopy=False)
    from optuna.trial import TrialState as OTS

    return sorted((repr(sorted(t.params.items())), t.values[0]) for t in trials if t.state is OTS.COMPLETE)


def _pruned_rows(sampler: OptunaSampler) -> list[str]:
    from optuna.trial import TrialState as OTS

    with _quiet():
        trials = sampler._mirror.get_trials(deepcopy=False)
    assert all(not t.values for t in trials if t.state is OTS.PRUNED)
    return sorted(repr(sorted(t.params.items())) for t in trials if t.state is OTS.PRUNED)


def _data_rows(context: SamplingContext) -> list[tuple[str, float]]:
    return sorted((repr(sorted((k, v) for k, v in t.params.items() if k != "k")), t.values["score"])
                  for t in context.scheduler_data.trials)


def _value_at(study: hpo.Study, number: int, level: float) -> float:
    """The value trial ``number``'s configuration reported at the first step >= ``level`` (from the store)."""
    trials = {t.number: t for t in study.trials}
    while True:
        trial = trials[number]
        reports = [r for r in study.store.get_reports(study.study_id, [number]) if r.step >= level - 1e-9]
        if reports and trial.attrs.get("start_step", 0.0) < level - 1e-9:
            return min(reports, key=lambda r: r.step).values["score"]
        number = int(trial.attrs["resume_from"])


@pytest.mark.parametrize(("direction", "scheduler"), [
    ("minimize", "asha"), ("maximize", "asha"), ("minimize", {"name": "asha", "options": {"type": "promotion"}})])
def test_tpe_under_asha_is_fitted_on_one_rung(tmp_path: Path, direction: str, scheduler: Any) -> None:
    study, sampler, _ = _run(tmp_path, direction, scheduler=scheduler)
    n_asked = len(sampler.contexts)
    while len(sampler.contexts) == n_asked:  # one more suggestion (not a promotion): the mirror is synced
        study.ask()                           # with the scheduler's data of this ask
    context = sampler.contexts[-1]
    data = context.scheduler_data
    assert data is not None
    assert data.level in study.scheduler.levels(study.fidelity)
    assert data.level > 1.0  # sixty trials: enough data above the lowest rung
    assert {t.attrs["level"] for t in data.trials} == {data.level}
    # the mirror holds exactly the scheduler's trials, with their values at that level (no mix of levels)
    assert _mirror_rows(sampler) == _data_rows(context)
    # ... and the configurations stopped below the level as PRUNED trials without values
    reached = {key for key, _ in _data_rows(context)}
    stopped = {repr(sorted((k, v) for k, v in t.params.items() if k != "k")) for t in context.history} - reached
    assert stopped and _pruned_rows(sampler) == sorted(stopped)
    # ... in objective units: the values reported at the level, signs as the study's direction
    for t in data.trials:
        assert t.values["score"] == _value_at(study, t.number, data.level)
    if direction == "maximize":
        assert all(t.values["score"] < 0 for t in data.trials)
    losses = context.losses()  # the one sign normalisation: minimised losses
    sign = 1.0 if direction == "minimize" else -1.0
    assert [row[0] for row in losses.tolist()] == [sign * t.values["score"] for t in data.trials]


def test_the_history_handed_to_the_sampler_only_grows(tmp_path: Path) -> None:
    study, sampler, histories = _run(tmp_path, "minimize", n_trials=30)
    for before, after in zip(histories, histories[1:]):
        assert after[: len(before)] == before  # append-only: finished trials in finishing order
    # asked and told one at a time: before ask i, trials 0 .. i-1 have finished, PRUNED ones included
    assert histories == [list(range(i)) for i in range(30)]
    assert any(t.state is TrialState.PRUNED for t in sampler.contexts[-1].history)  # not a rung projection
    assert all(c.scheduler_data is not None for c in sampler.contexts)

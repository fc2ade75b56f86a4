"""``trial.report(step, value)``: keywords, and the swapped (Optuna) order refused instead of stored.

Optuna's order is ``report(value, step)``; ours is the reverse. A swapped call such as
``report(0.408, 2)`` used to be stored as step 0.408, value 2.0, so curves and scheduler
decisions were wrong. On the local trial and on the Ray worker's trial.
"""

from __future__ import annotations

from typing import Any

import pytest

import hpo
from hpo.errors import ObjectiveError
from hpo.records import TrialState
from hpo.samplers import RandomSampler


def _study(url: str, **kwargs: Any) -> Any:
    return hpo.create_study(name="r", space={"x": hpo.Float(0, 1)}, storage=url, sampler="random", seed=0, **kwargs)


def _reports(study: Any) -> list[tuple[int, float, dict[str, Any]]]:
    return [(r.trial_number, r.step, r.values) for r in study.store.get_reports(study.study_id)]


def test_report_takes_keywords_in_any_order(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    trial = study.ask()
    trial.report(step=1, value=0.5)
    trial.report(value=0.25, step=2)                       # Optuna's keyword order: unambiguous
    trial.report(3, values={"value": 0.125, "aux": 1.0})   # the mapping form as a keyword
    trial.report(4, {"value": 0.0625})                     # the positional forms stay
    assert _reports(study) == [(0, 1.0, {"value": 0.5}), (0, 2.0, {"value": 0.25}),
                               (0, 3.0, {"value": 0.125, "aux": 1.0}), (0, 4.0, {"value": 0.0625})]
    with pytest.raises(ObjectiveError, match="exactly one of value= and values="):
        trial.report(5, 0.1, values=0.1)
    with pytest.raises(ObjectiveError, match="exactly one of value= and values="):
        trial.report(5)


def test_a_fractional_step_on_an_integer_fidelity_names_optunas_order(sqlite_url: str) -> None:
    study = _study(sqlite_url, fidelity=hpo.Fidelity("epochs", 1, 9))
    trial = study.ask()
    with pytest.raises(ObjectiveError, match=r"whole number.*'epochs' is integer.*Optuna's trial.report\(value, step\)"):
        trial.report(0.408, 2)   # Optuna's report(value, step)
    trial.report(2, 0.408)
    assert _reports(study) == [(0, 2.0, {"value": 0.408})]
    continuous = hpo.create_study(name="c", space={"x": hpo.Float(0, 1)}, storage=sqlite_url, sampler="random",
                                  fidelity=hpo.Fidelity("data_fraction", 0.1, 1.0))
    trial = continuous.ask()
    trial.report(0.25, 0.9)      # a fractional step is fine on a continuous fidelity
    assert [s for _, s, _ in _reports(continuous)] == [0.25]


def test_steps_that_go_backwards_are_refused(sqlite_url: str) -> None:
    study = _study(sqlite_url)   # no fidelity: a swapped call is caught by its second step
    trial = study.ask()
    trial.report(0.9, 1)         # swapped: step 0.9 (the loss), value 1 (the epoch)
    with pytest.raises(ObjectiveError, match=r"must not go backwards.*step 0\.7 after step 0\.9.*Optuna"):
        trial.report(0.7, 2)
    trial.report(0.9, 3)         # the same step again is allowed (a re-evaluation)
    other = study.ask()          # each trial has its own last step
    other.report(0, 1.0)
    assert [(n, s) for n, s, _ in _reports(study)] == [(0, 0.9), (0, 0.9), (1, 0.0)]


def test_the_swapped_order_fails_the_trial_on_ray(sqlite_url: str) -> None:
    pytest.importorskip("ray")
    from hpo.testing.ray_local import local_ray

    def objective(trial: Any) -> float:
        trial.report(step=1, value=0.5)
        trial.report(0.25, 2)    # Optuna's order on an integer fidelity
        return 0.25

    study = _study(sqlite_url, fidelity=hpo.Fidelity("epochs", 1, 9))
    with local_ray(num_cpus=1):
        study.optimize(objective, n_trials=1, backend="ray", show_progress_bar=False)
    loaded = hpo.load_study("r", sqlite_url, sampler=RandomSampler())
    [trial] = loaded.trials
    assert trial.state is TrialState.FAILED
    assert "whole number" in trial.error and "Optuna's trial.report(value, step)" in trial.error
    assert _reports(loaded) == [(0, 1.0, {"value": 0.5})]

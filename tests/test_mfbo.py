"""Multi-fidelity BO (``sampler="mfbo"``): real studies on SQLite files, BoTorch models, no mocks.

Small budgets (few restarts, raw samples and fantasies) keep the file fast; quality is
checked loosely on AugmentedBranin, speed is measured by the benchmark, never here.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import hpo
from hpo.errors import ConfigError, SamplerError
from hpo.records import FrozenTrial, Objective, TrialState
from hpo.samplers import SamplingContext, make_sampler, trial_rng
from hpo.samplers.mfbo import (
    ACQUISITIONS,
    COSTS,
    KERNELS,
    BudgetCostModel,
    MultiFidelityBOSampler,
    fit_duration_cost,
)
from hpo.testing.sampler_suite import SamplerConformance

FAST = {"n_initial": 4, "num_restarts": 2, "raw_samples": 32, "num_fantasies": 4, "mes_candidates": 200,
        "maxiter": 20}
BRANIN_SPACE = {"x1": hpo.Float(-5.0, 10.0), "x2": hpo.Float(0.0, 15.0)}
BRANIN_MIN = 0.397887


def _branin(trial: Any) -> float:
    from botorch.test_functions.multi_fidelity import AugmentedBranin

    x = torch.tensor([[trial.params["x1"], trial.params["x2"], trial.budget]], dtype=torch.float64)
    return float(AugmentedBranin()(x).item())  # minimised; s = 1 is Branin


def _study(tmp_path: Any, name: str = "s", seed: int | None = 0, space: Any = None, **options: Any) -> hpo.Study:
    return hpo.create_study(name=name, space=space or BRANIN_SPACE, storage=f"sqlite:///{tmp_path}/{name}.db",
                            fidelity=options.pop("fidelity", hpo.Fidelity("s", 0.05, 1.0)),
                            sampler=make_sampler("mfbo", **{**FAST, **options}), seed=seed)


def _no_fallback(record: list[warnings.WarningMessage]) -> None:
    failed = [str(w.message) for w in record if "model step failed" in str(w.message)]
    assert not failed, failed


class TestMultiFidelityBOConformance(SamplerConformance):
    """The shared sampler contract, on studies that declare a fidelity (the sampler needs one)."""
    registered_name = "mfbo"

    supports_multi_objective = False  # refused with a clear error: see test_refuses_several_objectives
    n_trials = 8

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], MultiFidelityBOSampler]:
        return lambda: MultiFidelityBOSampler(**FAST)

    def _study(self, tmp_path: Any, factory: Callable[[], Any], name: str = "s", seed: int | None = 0,
               **kwargs: Any) -> Any:
        kwargs.setdefault("fidelity", hpo.Fidelity("epochs", 1, 27))
        return super()._study(tmp_path, factory, name=name, seed=seed, **kwargs)


def test_registered_with_options_and_budgets_in_range(tmp_path: Any) -> None:
    sampler = make_sampler("mfbo", acquisition="mes", kernel="exp_decay", cost="learned")
    assert isinstance(sampler, MultiFidelityBOSampler) and sampler.chooses_budget
    assert sampler.options()["acquisition"] == "mes"
    fidelity = hpo.Fidelity("epochs", 1, 27)
    study = _study(tmp_path, fidelity=fidelity, acquisition="mes", n_initial=3)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        study.optimize(_branin_epochs, n_trials=8, show_progress_bar=False)
    _no_fallback(record)
    budgets = [t.attrs["budget"] for t in study.trials]
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert all(1 <= b <= 27 and float(b).is_integer() for b in budgets)
    assert len(set(budgets)) > 2  # the sampler varies the budget


def _branin_epochs(trial: Any) -> float:
    from botorch.test_functions.multi_fidelity import AugmentedBranin

    s = trial.budget / 27
    x = torch.tensor([[trial.params["x1"], trial.params["x2"], s]], dtype=torch.float64)
    return float(AugmentedBranin()(x).item())


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("acquisition", sorted(ACQUISITIONS))
def test_every_acquisition_with_every_kernel(tmp_path: Any, acquisition: str, kernel: str) -> None:
    study = _study(tmp_path, acquisition=acquisition, kernel=kernel, n_initial=4)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        study.optimize(_branin, n_trials=6, show_progress_bar=False)
    _no_fallback(record)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert all(0.05 <= t.attrs["budget"] <= 1.0 for t in study.trials)


def test_cost_aware_on_augmented_branin(tmp_path: Any) -> None:
    """Cheap fidelities are used, and the recommendation at the target fidelity is good."""
    regrets, mean_budgets = [], []
    for seed in range(3):
        study = _study(tmp_path, name=f"b{seed}", seed=seed, acquisition="mes", n_initial=6)
        study.optimize(_branin, n_trials=20, show_progress_bar=False)
        mean_budgets.append(np.mean([t.attrs["budget"] for t in study.trials]))
        context = study.sampling_context(len(study.trials))
        assert study.sampler.recommend(context, evaluated_only=True) in [t.params for t in study.trials]
        best = study.recommend()
        assert study.space.validate(best) == best
        regrets.append(_target_value(best) - BRANIN_MIN)
    assert max(mean_budgets) < 0.9, mean_budgets
    assert sum(r < 10.0 for r in regrets) >= 2, regrets  # Branin spans about [0.4, 300] on its domain


def _target_value(params: dict[str, Any]) -> float:
    from botorch.test_functions.multi_fidelity import AugmentedBranin

    return float(AugmentedBranin()(torch.tensor([[params["x1"], params["x2"], 1.0]], dtype=torch.float64)).item())


def test_seeded_replay_gives_the_same_configurations_and_budgets(tmp_path: Any) -> None:
    runs = []
    for name in ("a", "b"):
        study = _study(tmp_path, name=name, seed=7, acquisition="kg", n_initial=3)
        study.optimize(_branin, n_trials=5, show_progress_bar=False)
        runs.append([(t.params, t.attrs["budget"]) for t in study.trials])
    assert runs[0] == runs[1]


def test_concurrent_asks_are_distinct_and_pending_is_used(tmp_path: Any) -> None:
    study = _study(tmp_path, acquisition="kg", n_initial=3)
    study.optimize(_branin, n_trials=4, show_progress_bar=False)
    trials = [study.ask() for _ in range(3)]  # none told: each sees the others as pending
    params = [t.params for t in trials]
    assert len({repr(sorted(p.items())) for p in params}) == 3
    assert all(0.05 <= t.budget <= 1.0 for t in trials)


def test_recommendation_before_the_model_is_the_best_at_the_highest_budget(tmp_path: Any) -> None:
    study = _study(tmp_path, n_initial=10)
    study.optimize(_branin, n_trials=2, show_progress_bar=False)
    done = study.trials
    top = max(t.attrs["budget"] for t in done)
    expected = min((t for t in done if t.attrs["budget"] == top), key=lambda t: t.value).params
    assert study.recommend() == expected
    empty = _study(tmp_path, name="empty")
    with pytest.raises(SamplerError, match="no trial has completed"):
        empty.recommend()


# -- cost models --------------------------------------------------------------------------
def _timed(number: int, budget: float, seconds: float) -> FrozenTrial:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    return FrozenTrial(number=number, state=TrialState.COMPLETE, params={"x1": 0.1 * number, "x2": 1.0},
                       values={"value": float(number)}, started_at=start,
                       finished_at=start + dt.timedelta(seconds=seconds), attrs={"budget": budget})


def _context(history: list[FrozenTrial], fidelity: hpo.Fidelity) -> SamplingContext:
    return SamplingContext(space=hpo.SearchSpace(BRANIN_SPACE),
                           objectives=(Objective("value", "minimize"),), constraints=(), history=history,
                           pending=[], number=len(history), seed=0, rng=trial_rng(0, 0), fidelity=fidelity)


def test_learned_cost_fits_measured_durations() -> None:
    fidelity = hpo.Fidelity("epochs", 1, 100)
    budgets = [1, 10, 25, 50, 100, 75]
    trials = [_timed(i, b, 2.0 + 10.0 * b / 100) for i, b in enumerate(budgets)]
    a, b = fit_duration_cost(trials, fidelity)
    assert a == pytest.approx(2.0, abs=1e-6) and b == pytest.approx(10.0, abs=1e-6)

    sampler = MultiFidelityBOSampler(cost="learned")
    model = sampler.cost_model(_context(trials, fidelity), dim=2)
    u = torch.tensor([[[0.3, 0.3, fidelity.to_unit(50)]], [[0.3, 0.3, 1.0]]], dtype=torch.float64)  # 2 x 1 x 3
    assert model(u).reshape(-1).tolist() == pytest.approx([7.0, 12.0])

    # too few durations, or one budget only: the affine model (fixed_cost + budget / max)
    assert fit_duration_cost(trials[:2], fidelity) is None
    assert fit_duration_cost([_timed(i, 10, 3.0) for i in range(4)], fidelity) is None
    affine = sampler.cost_model(_context(trials[:2], fidelity), dim=2)
    assert affine(u).reshape(-1).tolist() == pytest.approx([0.1 + 0.5, 0.1 + 1.0])


def test_cost_of_a_log_fidelity_follows_the_budget() -> None:
    fidelity = hpo.Fidelity("epochs", 1, 81, log=True)
    model = MultiFidelityBOSampler(fixed_cost=0.5).cost_model(_context([], fidelity), dim=0)
    assert isinstance(model, BudgetCostModel)
    X = torch.tensor([[[fidelity.to_unit(b)]] for b in (1, 9, 81)], dtype=torch.float64)  # 3 x 1 x 1
    assert model(X).reshape(-1).tolist() == pytest.approx([0.5 + 1 / 81, 0.5 + 9 / 81, 1.5])


def test_a_study_with_the_learned_cost_runs(tmp_path: Any) -> None:
    study = _study(tmp_path, cost="learned", acquisition="mes", n_initial=4)
    study.optimize(_branin, n_trials=6, show_progress_bar=False)
    assert all(t.state is TrialState.COMPLETE and t.duration is not None for t in study.trials)


# -- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(("option", "value", "message"), [
    ("acquisition", "ei", r"valid values: \['kg', 'mes'\]"),
    ("kernel", "rbf", r"valid values: \['linear_truncated', 'exp_decay', 'downsampling'\]"),
    ("cost", "free", r"valid values: \['affine', 'learned'\]"),
    ("fixed_cost", 0.0, r"0 < fixed_cost"),
    ("num_fantasies", 0, r"num_fantasies: must be an integer >= 1"),
    ("mes_candidates", 1.5, r"mes_candidates: must be an integer >= 2"),
    ("n_initial", True, r"n_initial: must be an integer >= 1, but got True"),
    ("restarts", 3, r"unknown option\(s\) \['restarts'\]; valid options: \["),
])
def test_invalid_options_name_the_valid_values(option: str, value: Any, message: str) -> None:
    with pytest.raises(SamplerError, match=message):
        make_sampler("mfbo", **{option: value})
    assert set(COSTS) == {"affine", "learned"}


def test_needs_a_fidelity(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="needs a fidelity"):
        hpo.create_study(space=BRANIN_SPACE, sampler="mfbo", storage=f"sqlite:///{tmp_path}/x.db")


def test_refuses_several_objectives_and_constraints(tmp_path: Any) -> None:
    study = hpo.create_study(name="mo", space=BRANIN_SPACE, objectives={"a": "minimize", "b": "maximize"},
                             fidelity=hpo.Fidelity("s", 0.05, 1.0), sampler="mfbo",
                             storage=f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(SamplerError, match="handles one objective, but the study has 2"):
        study.ask()
    study = hpo.create_study(name="c", space=BRANIN_SPACE, constraints={"mem": ("<=", 1.0)},
                             fidelity=hpo.Fidelity("s", 0.05, 1.0), sampler="mfbo",
                             storage=f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(SamplerError, match=r"outcome constraints \['mem'\] are not supported"):
        study.ask()

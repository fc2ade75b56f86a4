"""The fully stochastic BNN surrogates ``hmc`` and ``sghmc``: conformance, HMC correctness, studies.

Cheap settings throughout (small networks, short chains): the suites check the contract, not the
paper's accuracy.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

import hpo
from hpo.errors import SurrogateError
from hpo.records import TrialState
from hpo.samplers import Sampler, make_sampler
from hpo.surrogates import Surrogate, make_surrogate
from hpo.testing.sampler_suite import MIXED_SPACE, SamplerConformance
from hpo.testing.surrogate_suite import SurrogateConformance

CHEAP_HMC: dict[str, Any] = {"hidden": [32, 32], "pretrain_steps": 500, "warmup": 30, "n_samples": 10, "thin": 2,
                             "leapfrog_steps": 5}
CHEAP_SGHMC: dict[str, Any] = {"hidden": [32, 32], "pretrain_steps": 500, "burn_in": 200, "n_samples": 10,
                               "thin": 10}
CHEAP = {"hmc": CHEAP_HMC, "sghmc": CHEAP_SGHMC}
BO_CHEAP: dict[str, Any] = {"n_initial": 4, "num_restarts": 2, "raw_samples": 32, "mc_samples": 32}


class TestHMC(SurrogateConformance):
    registered_name = "hmc"
    # A short chain from the MAP of a small network is a little overconfident (0.89 on these draws);
    # the default settings cover 0.93 of them (measured when this suite was set up).
    coverage_range = (0.8, 1.0)

    @pytest.fixture
    def surrogate_factory(self) -> Callable[[], Surrogate]:
        return lambda: make_surrogate("hmc", **CHEAP_HMC)


class TestSGHMC(SurrogateConformance):
    registered_name = "sghmc"

    @pytest.fixture
    def surrogate_factory(self) -> Callable[[], Surrogate]:
        return lambda: make_surrogate("sghmc", **CHEAP_SGHMC)


class TestHMCSampler(SamplerConformance):
    registered_name = "hmc"
    n_trials = 7

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("hmc", **BO_CHEAP, surrogate_options=CHEAP_HMC)


class TestSGHMCSampler(SamplerConformance):
    registered_name = "sghmc"
    n_trials = 7

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("sghmc", **BO_CHEAP, surrogate_options=CHEAP_SGHMC)


# -- HMC on a posterior with a closed form -------------------------------------------------------

def _linear_data(n: int = 30, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, dtype=torch.float64)
    Y = 1.5 * X[:, :1] - 2.0 * X[:, 1:] + 0.3 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    return X, Y


def test_hmc_samples_the_bayesian_linear_regression_posterior() -> None:
    """No hidden layer: theta = (w1, w2, b), prior N(0, tau2 I), noise variance s2 on the standardised Y."""
    tau2, s2 = 1.0, 0.1
    X, Y = _linear_data()
    surrogate = make_surrogate("hmc", hidden=[], prior_var=tau2, noise_var=s2, warmup=300, n_samples=2000, thin=2,
                               leapfrog_steps=5, warm_start=False)
    model = surrogate.fit(X, Y, seed=0)
    Ys = (Y - Y.mean()) / Y.std()
    Phi = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)  # the flat order: weights, then bias
    cov = torch.linalg.inv(Phi.T @ Phi / s2 + torch.eye(3, dtype=X.dtype) / tau2)
    mean = cov @ Phi.T @ Ys[:, 0] / s2
    samples = model.thetas  # 2000 x 3
    sd = cov.diagonal().sqrt()
    # Monte Carlo error: 2000 correlated draws have an effective size well above 200, so the mean's
    # error is below sd / sqrt(200) = 0.07 sd and the variance's relative error below sqrt(2/200) = 0.1.
    assert ((samples.mean(0) - mean).abs() / sd).max() < 0.25, (samples.mean(0), mean)
    assert ((samples.var(0) / cov.diagonal() - 1).abs()).max() < 0.3, (samples.var(0), cov.diagonal())
    sample_cov = torch.cov(samples.T)
    corr = cov / torch.outer(sd, sd)
    assert (sample_cov / torch.outer(samples.std(0), samples.std(0)) - corr).abs().max() < 0.15
    lo, hi = surrogate.target_band()
    assert lo <= surrogate.last_stats["accept_rate"] <= hi, surrogate.last_stats


def test_hmc_fit_is_deterministic_under_a_seed_including_the_warm_start() -> None:
    X, Y = _linear_data(n=12)
    runs = []
    for _ in range(2):
        surrogate = make_surrogate("hmc", **CHEAP_HMC)
        first = surrogate.fit(X[:10], Y[:10], seed=3).thetas
        second = surrogate.fit(X, Y, seed=4).thetas
        runs.append((first, second, surrogate.last_stats["warm"]))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert runs[0][2] is True  # the second fit started from the first one's last sample
    other = make_surrogate("hmc", **CHEAP_HMC).fit(X, Y, seed=5).thetas
    assert not torch.equal(other, runs[0][1])


@pytest.mark.parametrize("name", ["hmc", "sghmc"])
def test_model_is_a_sample_based_ensemble_model(name: str) -> None:
    from botorch.models.ensemble import EnsembleModel

    X, Y = _linear_data(n=12)
    model = make_surrogate(name, **CHEAP[name]).fit(X, torch.cat([Y, -Y**2], dim=1), seed=0)
    assert isinstance(model, EnsembleModel)
    values = model(torch.rand(4, 3, 2, dtype=torch.float64))
    assert values.shape == (4, 10, 3, 2)  # batch x samples x q x m
    noisy = model.posterior(X[:3], observation_noise=True).variance
    assert (noisy > model.posterior(X[:3]).variance).all()


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("hmc", {"hidden": [0]}, r"option hidden must satisfy `hidden is a list of layer widths >= 1"),
        ("hmc", {"prior_var": 0}, r"option prior_var must satisfy `prior_var > 0 and finite`, but got prior_var=0"),
        ("hmc", {"target_accept": 1.0}, r"option target_accept must satisfy `0 < target_accept < 1`"),
        ("hmc", {"n_samples": 1}, r"n_samples is an integer >= 2"),
        ("hmc", {"warm_start": "yes"}, r"warm_start in \[True, False\]"),
        ("sghmc", {"friction": 2.0}, r"option friction must satisfy `0 < friction <= 1`, but got friction=2.0"),
        ("sghmc", {"batch_size": 0}, r"batch_size is an integer >= 1"),
        ("sghmc", {"leapfrog_steps": 3}, r"unknown option\(s\) \['leapfrog_steps'\]; valid options: \[.*'friction'"),
    ],
)
def test_options_are_validated(name: str, options: dict[str, Any], match: str) -> None:
    with pytest.raises(SurrogateError, match=match):
        make_surrogate(name, **options)


# -- end to end through hpo.create_study ----------------------------------------------------------

def _run(tmp_path: Any, name: str, n_trials: int, objective: Callable[[hpo.Trial], Any], **kwargs: Any) -> hpo.Study:
    study = hpo.create_study(name=name, storage=f"sqlite:///{tmp_path}/{name}.db", seed=0, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(objective, n_trials=n_trials, show_progress_bar=False)
    failed = [str(w.message) for w in caught if "model step failed" in str(w.message)]
    assert not failed, failed
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    return study


def _sampler(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "options": {**BO_CHEAP, "surrogate_options": CHEAP[name], **options}}


def _mixed(trial: hpo.Trial) -> float:
    p = trial.params
    return (p["x"] - 1) ** 2 + math.log10(p["lr"]) ** 2 / 10 + p["q"] + p["n"] / 10 + (p["opt"] == "sgd")


@pytest.mark.parametrize("name", ["hmc", "sghmc"])
def test_mixed_space_study(tmp_path: Any, name: str) -> None:
    _run(tmp_path, "mixed", 6, _mixed, space=MIXED_SPACE, sampler=_sampler(name))


@pytest.mark.parametrize("name", ["hmc", "sghmc"])
def test_constrained_study(tmp_path: Any, name: str) -> None:
    def objective(trial: hpo.Trial) -> dict[str, float]:
        return {"value": (trial["x"] - 0.3) ** 2 + trial["y"] ** 2, "s": trial["x"] + trial["y"]}

    study = _run(tmp_path, "con", 6, objective, space={"x": hpo.Float(0, 1), "y": hpo.Float(0, 1)},
                 sampler=_sampler(name), constraints={"s": ("<=", 1.0)})
    assert study.best_trial.constraint_values["s"] <= 1.0


@pytest.mark.parametrize("name", ["hmc", "sghmc"])
def test_two_objective_study_uses_qlognehvi(tmp_path: Any, name: str) -> None:
    sampler = make_sampler(name, **BO_CHEAP, surrogate_options=CHEAP[name])
    assert sampler.resolved_acquisition(2) == "nehvi"
    study = _run(tmp_path, "mo", 6, lambda t: {"a": t["x"] ** 2, "b": (1 - t["x"]) ** 2 + t["y"]},
                 space={"x": hpo.Float(0, 1), "y": hpo.Float(0, 1)}, sampler=sampler,
                 objectives={"a": "minimize", "b": "minimize"})
    assert study.pareto_front()


def test_ucb_study(tmp_path: Any) -> None:
    _run(tmp_path, "ucb", 6, lambda t: (t["x"] - 0.3) ** 2, space={"x": hpo.Float(0, 1), "y": hpo.Float(0, 1)},
         sampler=_sampler("hmc", acquisition="ucb"))


def test_sampler_name_with_default_options(tmp_path: Any) -> None:
    study = _run(tmp_path, "default", 6, lambda t: (t["x"] - 0.3) ** 2 + t["y"],
                 space={"x": hpo.Float(0, 1), "y": hpo.Float(0, 1)}, sampler="hmc")
    assert study.sampler.surrogate.name == "hmc"


@pytest.mark.parametrize("acquisition", ["qLogNEI", "UCB", "qLogNEHVI"])
def test_acquisitions_are_deterministic_with_the_index_sampler(acquisition: str) -> None:
    from botorch.acquisition import qLogNoisyExpectedImprovement, qUpperConfidenceBound
    from botorch.acquisition.multi_objective import qLogNoisyExpectedHypervolumeImprovement
    from botorch.sampling.index_sampler import IndexSampler

    X, Y = _linear_data(n=12)
    Y2 = torch.cat([Y, -((X - 0.5) ** 2).sum(-1, keepdim=True)], dim=1)
    model = make_surrogate("hmc", **CHEAP_HMC).fit(X, Y2, seed=0)
    cand = torch.rand(5, 2, 2, dtype=torch.float64, requires_grad=True)
    values = []
    for _ in range(2):
        sampler = IndexSampler(torch.Size([16]), seed=1)
        if acquisition == "qLogNEI":
            acqf = qLogNoisyExpectedImprovement(model, X_baseline=X, sampler=sampler,
                                                objective=_first_output())
        elif acquisition == "UCB":
            acqf = qUpperConfidenceBound(model, beta=2.0, sampler=sampler, objective=_first_output())
        else:
            acqf = qLogNoisyExpectedHypervolumeImprovement(model, ref_point=Y2.min(0).values.tolist(),
                                                           X_baseline=X, sampler=sampler)
        values.append(acqf(cand))
    assert values[0].shape == (5,) and torch.isfinite(values[0]).all()
    assert torch.equal(values[0], values[1])
    values[0].sum().backward()
    assert cand.grad is not None and torch.isfinite(cand.grad).all() and cand.grad.abs().sum() > 0


def _first_output() -> Any:
    from botorch.acquisition.objective import GenericMCObjective

    return GenericMCObjective(lambda Z, X=None: Z[..., 0])

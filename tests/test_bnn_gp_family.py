"""The GP-family BNN surrogates (``dkl``, ``ibnn``) and the calibrated ``ensemble``: conformance,
the I-BNN kernel against the arc-cosine recursion, DKL on a step, studies end to end."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

import hpo
from hpo.errors import SurrogateError
from hpo.records import TrialState
from hpo.samplers import Sampler, make_sampler
from hpo.surrogates import Surrogate, make_surrogate
from hpo.testing.sampler_suite import MIXED_SPACE, SamplerConformance
from hpo.testing.surrogate_suite import SurrogateConformance

CHEAP = {"dkl": {"steps": 40, "warm_steps": 10}, "ibnn": {}, "ensemble": {"steps": 100, "warm_steps": 30}}


class TestDKL(SurrogateConformance):
    registered_name = "dkl"
    coverage_range = (0.85, 1.0)

    @pytest.fixture
    def surrogate_factory(self) -> Callable[[], Surrogate]:
        return lambda: make_surrogate("dkl")


class TestIBNN(SurrogateConformance):
    registered_name = "ibnn"
    coverage_range = (0.88, 1.0)

    @pytest.fixture
    def surrogate_factory(self) -> Callable[[], Surrogate]:
        return lambda: make_surrogate("ibnn")


class TestDKLSampler(SamplerConformance):
    registered_name = "dkl"
    n_trials = 8

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("dkl", n_initial=4, num_restarts=2, raw_samples=32, surrogate_options=CHEAP["dkl"])


class TestIBNNSampler(SamplerConformance):
    registered_name = "ibnn"
    n_trials = 8

    @pytest.fixture
    def sampler_factory(self) -> Callable[[], Sampler]:
        return lambda: make_sampler("ibnn", n_initial=4, num_restarts=2, raw_samples=32)


def _arccos_recursion(X1: np.ndarray, X2: np.ndarray, depth: int, sw2: float, sb2: float) -> np.ndarray:
    """K^0 = sb2 + sw2 x.x'/d; K^l = sb2 + sw2/(2 pi) sqrt(K_xx K_x'x') (sin t + (pi - t) cos t)."""
    d = X1.shape[1]
    K = sb2 + sw2 * X1 @ X2.T / d
    k1 = sb2 + sw2 * (X1**2).sum(1) / d
    k2 = sb2 + sw2 * (X2**2).sum(1) / d
    for _ in range(depth):
        norm = np.sqrt(np.outer(k1, k2))
        t = np.arccos(np.clip(K / norm, -1, 1))
        K = sb2 + sw2 / (2 * np.pi) * norm * (np.sin(t) + (np.pi - t) * np.cos(t))
        k1, k2 = sb2 + sw2 / 2 * k1, sb2 + sw2 / 2 * k2  # t = 0 on the diagonal
    return K


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("variances, sb2", [("synthetic", 1.3), ("real", 1.6)])
def test_ibnn_kernel_matches_the_arccos_recursion(depth: int, variances: str, sb2: float) -> None:
    rng = np.random.default_rng(depth)
    X1, X2 = rng.random((7, 4)), rng.random((5, 4))
    kernel = make_surrogate("ibnn", depth=depth, variances=variances).kernel().double()
    K = kernel(torch.from_numpy(X1), torch.from_numpy(X2)).to_dense().detach().numpy()
    np.testing.assert_allclose(K, _arccos_recursion(X1, X2, depth, 10.0, sb2), rtol=1e-6)
    diag = kernel(torch.from_numpy(X1), diag=True).detach().numpy()
    np.testing.assert_allclose(diag, np.diag(_arccos_recursion(X1, X1, depth, 10.0, sb2)), rtol=1e-5)


def test_ibnn_fixed_variances_stay_fixed_and_learned_ones_move() -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.rand(25, 3, generator=g, dtype=torch.float64)
    Y = torch.sin(5 * X[:, :1]) + X[:, 1:2]
    fixed = make_surrogate("ibnn").fit(X, Y, seed=0).covar_module
    assert fixed.weight_var.item() == pytest.approx(10.0) and fixed.bias_var.item() == pytest.approx(1.3)
    learned = make_surrogate("ibnn", variances="learned").fit(X, Y, seed=0).covar_module
    assert abs(learned.weight_var.item() - 10.0) > 1e-3 or abs(learned.bias_var.item() - 1.3) > 1e-3


def _nll(model: object, X: torch.Tensor, Y: torch.Tensor) -> float:
    post = model.posterior(X, observation_noise=True)  # type: ignore[attr-defined]
    mean, var = post.mean.detach(), post.variance.detach()
    return float((0.5 * torch.log(2 * math.pi * var) + 0.5 * (Y - mean) ** 2 / var).mean())


def test_dkl_fits_a_step_with_a_lower_held_out_nll_than_the_gp() -> None:
    g = torch.Generator().manual_seed(0)
    X, Xt = (torch.rand(n, 1, generator=g, dtype=torch.float64) for n in (40, 200))

    def step(x: torch.Tensor) -> torch.Tensor:
        return 2.0 * (x > 0.5).double() + 0.02 * torch.randn(x.shape, generator=g, dtype=x.dtype)

    Y, Yt = step(X), step(Xt)
    gp, dkl = (_nll(make_surrogate(name).fit(X, Y, seed=0), Xt, Yt) for name in ("gp", "dkl"))
    assert dkl < gp, f"held-out NLL: dkl {dkl:.3f}, gp {gp:.3f}"


def test_dkl_warm_start_continues_from_the_previous_fit() -> None:
    X, Y = SurrogateConformance._data(n=15)
    surrogate = make_surrogate("dkl", steps=30, warm_steps=5)
    first = surrogate.fit(X, Y, seed=0)
    second = surrogate.fit(X, Y, seed=0)  # 5 steps from the first fit's weights, not 5 from scratch
    cold = make_surrogate("dkl", steps=5).fit(X, Y, seed=0)
    w = [m.covar_module.net[0].weight for m in (first, second, cold)]
    assert (w[1] - w[0]).abs().max() < (w[2] - w[0]).abs().max()


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("ibnn", {"variances": "fixed"}, r"variances='fixed'; allowed values: \['synthetic', 'real', 'learned'\]"),
        ("ibnn", {"depth": 0}, r"depth must be an integer in \[1, 16\]"),
        ("dkl", {"hidden": [0]}, "hidden must be a list of layer widths >= 1"),
        ("dkl", {"lr": -1.0}, "lr must be a finite number > 0"),
        ("dkl", {"warm_start": "yes"}, r"warm_start must be one of \[True, False\]"),
        ("ensemble", {"calibrate": 1}, r"calibrate in \[True, False\]"),
        ("ensemble", {"warm_steps": 0}, "warm_steps >= 1"),
    ],
)
def test_options_are_validated_naming_the_option(name: str, options: dict, match: str) -> None:
    with pytest.raises(SurrogateError, match=match):
        make_surrogate(name, **options)


def test_ensemble_is_a_botorch_ensemble_model_with_a_deterministic_acquisition() -> None:
    from botorch.acquisition import qLogNoisyExpectedImprovement
    from botorch.models.ensemble import EnsembleModel
    from botorch.sampling.index_sampler import IndexSampler

    from hpo.samplers.bo_optimize import mc_sampler

    X, Y = SurrogateConformance._data(n=14)
    model = make_surrogate("ensemble", steps=60).fit(X, Y, seed=0)
    assert isinstance(model, EnsembleModel)
    assert isinstance(mc_sampler(model, 16, 0), IndexSampler)
    cand = torch.rand(5, 1, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    values = [qLogNoisyExpectedImprovement(model, X_baseline=X, sampler=mc_sampler(model, 16, 3))(cand)
              for _ in range(2)]
    assert torch.equal(values[0], values[1])
    noisy = model.posterior(X, observation_noise=True)
    assert torch.allclose(noisy.mean, model.posterior(X).mean)
    assert (noisy.variance > model.posterior(X).variance).all()


def test_ensemble_out_of_bag_scale_widens_an_overconfident_ensemble() -> None:
    from hpo.surrogates.ensemble import SCALE_RANGE

    g = torch.Generator().manual_seed(0)
    X = torch.rand(40, 2, generator=g, dtype=torch.float64)
    Y = torch.randn(40, 1, generator=g, dtype=torch.float64)  # pure noise: the members overfit it
    surrogate = make_surrogate("ensemble", steps=400, weight_decay=0.0, hidden=[64, 64])
    surrogate.fit(X, Y, seed=0)
    assert SCALE_RANGE[0] < surrogate.last_scale <= SCALE_RANGE[1]


def _space(mixed: bool) -> dict:
    return dict(MIXED_SPACE) if mixed else {"x": hpo.Float(0.0, 1.0), "y": hpo.Float(0.0, 1.0)}


@pytest.mark.parametrize("name", ["dkl", "ibnn", "ensemble"])
@pytest.mark.parametrize("kind", ["ucb-mixed", "constrained", "two-objective"])
def test_studies_end_to_end(tmp_path, name: str, kind: str) -> None:
    options = {"n_initial": 4, "num_restarts": 2, "raw_samples": 32, "surrogate_options": CHEAP[name]}
    kwargs: dict = {}
    if kind == "ucb-mixed":
        options["acquisition"] = "ucb"
    elif kind == "constrained":
        kwargs["constraints"] = {"c": ("<=", 0.5)}
    else:
        kwargs["objectives"] = {"a": "minimize", "b": "minimize"}
    study = hpo.create_study(name=kind, space=_space(kind == "ucb-mixed"), storage=f"sqlite:///{tmp_path}/s.db",
                             sampler=make_sampler(name, **options), seed=0, **kwargs)

    def objective(trial: hpo.Trial) -> object:
        p = trial.params
        if kind == "ucb-mixed":
            return (p["x"] - 1) ** 2 + p["n"] / 10 + (p["opt"] == "sgd")
        if kind == "constrained":
            return {"value": (p["x"] - 0.2) ** 2 + (p["y"] - 0.9) ** 2, "c": p["x"] + p["y"]}
        return {"a": p["x"] ** 2 + p["y"], "b": (1 - p["x"]) ** 2 + p["y"]}

    with _NoFallback():
        study.optimize(objective, n_trials=7, show_progress_bar=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 7


class _NoFallback:
    """Fail when the sampler fell back to random suggestions (it warns instead of raising)."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self._log = self._ctx.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
        fallback = [str(w.message) for w in self._log if "random" in str(w.message).lower()]
        assert not fallback, fallback

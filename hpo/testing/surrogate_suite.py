"""Conformance suite for :class:`hpo.surrogates.Surrogate` implementations.

Subclass :class:`SurrogateConformance` and provide a ``surrogate_factory``
fixture returning a zero-argument callable that builds a fresh surrogate::

    class TestMySurrogate(SurrogateConformance):
        coverage_range = (0.85, 1.0)

        @pytest.fixture
        def surrogate_factory(self):
            return lambda: MySurrogate(option=1)

What every surrogate must do:

* ``fit(X, Y)`` returns a BoTorch ``Model`` whose posterior at ``X`` of shape
  ``q x d`` or ``batch x q x d`` has mean and variance ``(batch x) q x m``
  (finite, variance > 0), for one and for several outcomes;
* a BoTorch acquisition (qLogNoisyExpectedImprovement) evaluates on it and has
  a gradient with respect to the candidate;
* the same ``seed`` gives the same model; the caller's random state is untouched;
* calibration on draws from a GP prior: the central 95% predictive interval
  covers about 95% of held-out points (the accepted band is ``coverage_range``);
* index-encoded categorical columns, known noise (``Yvar``, when
  ``supports_yvar``; otherwise an :class:`hpo.errors.HpoError` naming ``Yvar``)
  and a single observation are accepted;
* bad shapes and values raise :class:`hpo.surrogates.ShapeError` naming them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import pytest
import torch

from hpo.errors import HpoError
from hpo.surrogates import ShapeError, Surrogate
from hpo.testing.registered import check_registered

__all__ = ["SurrogateConformance", "gp_prior_draw"]


def gp_prior_draw(
    n_train: int, n_test: int, d: int, seed: int, lengthscale: float = 0.3, noise_std: float = 0.05
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One function drawn from a GP prior (Matern-5/2, unit outputscale), observed with noise.

    Returns:
        ``(X_train, Y_train, X_test, Y_test)``: ``n_train x d``, ``n_train x 1``,
        ``n_test x d``, ``n_test x 1`` (double precision; every Y with noise).
    """
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n_train + n_test, d, generator=g, dtype=torch.float64)
    r = torch.cdist(X, X) / lengthscale
    s5 = math.sqrt(5.0) * r
    K = (1 + s5 + s5**2 / 3) * torch.exp(-s5) + 1e-8 * torch.eye(len(X), dtype=X.dtype)
    f = torch.linalg.cholesky(K) @ torch.randn(len(X), 1, generator=g, dtype=X.dtype)
    Y = f + noise_std * torch.randn(len(X), 1, generator=g, dtype=X.dtype)
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


class SurrogateConformance:
    """The contract of a surrogate. Override ``surrogate_factory`` (and the class attributes)."""

    #: the name this suite tests in :data:`hpo.surrogates.registry.SURROGATES` (None: unregistered).
    registered_name: ClassVar[str | None] = None
    #: Accepted share of held-out points inside the central 95% predictive interval.
    coverage_range: ClassVar[tuple[float, float]] = (0.85, 1.0)
    #: Number of GP draws the coverage is averaged over.
    calibration_draws: ClassVar[int] = 4

    @pytest.fixture
    def surrogate_factory(self) -> Callable[[], Surrogate]:  # pragma: no cover - overridden
        pytest.fail("subclasses of SurrogateConformance provide a `surrogate_factory` fixture")

    @staticmethod
    def _data(n: int = 12, d: int = 3, m: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        X = torch.rand(n, d, generator=g, dtype=torch.float64)
        cols = [torch.sin(6 * X[:, :1]) + X[:, 1:2] ** 2 + 0.1 * j * X.sum(-1, keepdim=True) for j in range(m)]
        return X, torch.cat(cols, dim=-1)

    def test_registered_name_builds_this_surrogate(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        if self.registered_name is None:
            pytest.skip("registered_name is None: the suite tests an unregistered surrogate")
        from hpo.surrogates.registry import SURROGATES

        check_registered("surrogate", self.registered_name, SURROGATES.make(self.registered_name), surrogate_factory())

    def test_is_a_surrogate(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        surrogate = surrogate_factory()
        assert isinstance(surrogate, Surrogate)
        assert isinstance(surrogate.name, str) and surrogate.name
        assert isinstance(surrogate.options(), dict)
        repr(surrogate)

    @pytest.mark.parametrize("m", [1, 2])
    def test_posterior_shapes(self, surrogate_factory: Callable[[], Surrogate], m: int) -> None:
        from botorch.models.model import Model

        surrogate = surrogate_factory()
        if m > 1 and not surrogate.supports_multi_output:
            pytest.skip("single-output surrogate")
        X, Y = self._data(m=m)
        model = surrogate.fit(X, Y, seed=0)
        assert isinstance(model, Model)
        assert model.num_outputs == m
        test = torch.rand(5, 3, dtype=torch.float64)
        for shape in [(5, 3), (4, 5, 3), (2, 4, 1, 3)]:
            post = model.posterior(torch.rand(*shape, dtype=torch.float64))
            expected = (*shape[:-1], m)
            assert tuple(post.mean.shape) == expected, f"posterior mean for X of shape {shape}"
            assert tuple(post.variance.shape) == expected
            assert torch.isfinite(post.mean).all() and (post.variance > 0).all()
        # in the scale of Y: the posterior mean at the data is near the data
        fitted = model.posterior(X).mean
        assert (fitted - Y).abs().mean() < Y.std(0).mean()
        samples = model.posterior(test).rsample(torch.Size([3]))
        assert tuple(samples.shape) == (3, 5, m)

    def test_wrong_posterior_input_shape_is_named(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        X, Y = self._data()
        model = surrogate_factory().fit(X, Y, seed=0)
        with pytest.raises(ShapeError, match=r"\(batch x\) q x 3"):
            model.posterior(torch.rand(5, 4, dtype=torch.float64))

    def test_botorch_acquisition_works(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        from botorch.acquisition import qLogNoisyExpectedImprovement

        from hpo.samplers.bo import mc_sampler  # QMC normal samples; member indices for an EnsembleModel

        X, Y = self._data()
        model = surrogate_factory().fit(X, Y, seed=0)
        acqf = qLogNoisyExpectedImprovement(model, X_baseline=X, sampler=mc_sampler(model, 32, 0))
        cand = torch.rand(6, 2, 3, dtype=torch.float64, requires_grad=True)  # batch x q x d
        value = acqf(cand)
        assert value.shape == (6,) and torch.isfinite(value).all()
        value.sum().backward()
        assert cand.grad is not None and torch.isfinite(cand.grad).all()

    def test_seed_makes_the_fit_deterministic(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        X, Y = self._data(n=15)
        test = torch.rand(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
        state = torch.random.get_rng_state()
        means = [surrogate_factory().fit(X, Y, seed=11).posterior(test).mean for _ in range(2)]
        assert torch.equal(torch.random.get_rng_state(), state), "fit changed the caller's torch random state"
        assert torch.allclose(means[0], means[1], rtol=1e-9, atol=1e-9)

    def test_calibrated_on_gp_prior_draws(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        covered, total = 0, 0
        for draw in range(self.calibration_draws):
            X, Y, Xt, Yt = gp_prior_draw(n_train=40, n_test=200, d=2, seed=100 + draw)
            post = surrogate_factory().fit(X, Y, seed=draw).posterior(Xt, observation_noise=True)
            mean, std = post.mean.detach(), post.variance.detach().sqrt()
            covered += int(((Yt - mean).abs() <= 1.96 * std).sum())
            total += Yt.numel()
        coverage = covered / total
        lo, hi = self.coverage_range
        assert lo <= coverage <= hi, f"95% interval covered {coverage:.3f} of held-out points; accepted [{lo}, {hi}]"

    def test_categorical_columns(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        X, Y = self._data(n=16)
        X[:, 2] = (torch.arange(16) % 3 + 0.5).to(X) / 3  # index-encoded, 3 categories
        model = surrogate_factory().fit(X, Y, categorical={2: 3}, seed=0)
        relaxed = torch.rand(4, 3, dtype=torch.float64)  # off-grid categorical values too
        post = model.posterior(relaxed)
        assert torch.isfinite(post.mean).all() and (post.variance > 0).all()

    def test_known_noise(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        surrogate = surrogate_factory()
        X, Y = self._data()
        if not surrogate.supports_yvar:
            with pytest.raises(HpoError, match="Yvar"):
                surrogate.fit(X, Y, Yvar=torch.full_like(Y, 0.01), seed=0)
            return
        Yvar = torch.full_like(Y, 0.01)
        Yvar[::2] = 1.0  # heteroscedastic
        post = surrogate.fit(X, Y, Yvar=Yvar, seed=0).posterior(X)
        assert torch.isfinite(post.mean).all()

    def test_few_observations(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        for n in (1, 2):
            X, Y = self._data(n=n)
            post = surrogate_factory().fit(X, Y, seed=0).posterior(torch.rand(3, 3, dtype=torch.float64))
            assert torch.isfinite(post.mean).all() and torch.isfinite(post.variance).all()

    def test_constant_outcomes(self, surrogate_factory: Callable[[], Surrogate]) -> None:
        X, _ = self._data(n=8)
        post = surrogate_factory().fit(X, torch.full((8, 1), 3.0, dtype=torch.float64), seed=0).posterior(X)
        assert torch.isfinite(post.mean).all() and torch.isfinite(post.variance).all()

    @pytest.mark.parametrize(
        "make, match",
        [
            (lambda X, Y: (X[0], Y), r"X must have shape \(n, d\)"),
            (lambda X, Y: (X, Y[:-1]), r"Y must have shape \(12, m\)"),
            (lambda X, Y: (X * 3, Y), "unit cube"),
            (lambda X, Y: (X, Y.masked_fill(torch.arange(12).unsqueeze(-1) == 0, float("nan"))), "finite"),
            (lambda X, Y: (X.long(), Y), "floating-point"),
        ],
    )
    def test_bad_training_data_raises_shape_error(self, surrogate_factory: Callable[[], Surrogate], make: Callable,
                                                  match: str) -> None:
        X, Y = self._data()
        bad_X, bad_Y = make(X, Y)
        with pytest.raises(ShapeError, match=match):
            surrogate_factory().fit(bad_X, bad_Y, seed=0)

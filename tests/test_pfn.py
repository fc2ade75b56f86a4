"""PFN surrogate (issue 7): prior, bar distribution, constrained EI, the seam, training, a BO study."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hpo.errors import SamplerError, SurrogateError, ValidationError
from hpo.surrogates.pfn.bar_distribution import BarDistribution, borders_from_samples
from hpo.surrogates.pfn.model import PFN, ModelConfig
from hpo.surrogates.pfn.prior import PriorBatch, PriorConfig, sample_batch
from hpo.surrogates.pfn.acquisition import (
    ACQUISITIONS,
    PFNConstrainedExpectedImprovement,
    PFNExpectedImprovement,
    PFNProbabilityOfFeasibility,
    PFNProbabilityOfImprovement,
    PFNUpperConfidenceBound,
    make_pfn_acquisition,
)
from hpo.surrogates.pfn.surrogate import DEFAULT_WEIGHTS, PFNModel, PFNSurrogate, load_pfn
from hpo.testing.sampler_suite import SamplerConformance
from hpo.testing.surrogate_suite import SurrogateConformance

# -- prior ---------------------------------------------------------------------------


def test_prior_is_reproducible_from_a_seed_and_has_the_documented_shapes() -> None:
    cfg = PriorConfig(max_dim=8)
    a = sample_batch(cfg, 6, 30, 10, seed=3)
    b = sample_batch(cfg, 6, 30, 10, seed=3)
    c = sample_batch(cfg, 6, 30, 10, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.dims, b.dims)
    assert not torch.equal(a.y, c.y)
    assert a.x.shape == (6, 30, 8) and a.y.shape == (6, 30) and a.dims.shape == (6,)
    assert a.lengthscale.shape == (6, 8) and a.outputscale.shape == (6,) and a.noise.shape == (6,)
    assert bool(((a.dims >= 1) & (a.dims <= 8)).all())
    for i, d in enumerate(a.dims.tolist()):
        assert bool((a.x[i, :, d:] == 0).all()), "padded columns are zero"
        assert bool((a.x[i, :, :d] >= 0).all() and (a.x[i, :, :d] <= 1).all())
        assert math.isfinite(float(a.lengthscale[i, 0])), "the first dimension is always used"
        assert bool(torch.isinf(a.lengthscale[i, d:]).all())
    # standardised over the context
    assert torch.allclose(a.y[:, :10].mean(1), torch.zeros(6), atol=1e-5)
    assert torch.allclose(a.y[:, :10].std(1), torch.ones(6), atol=1e-4)


def test_prior_unused_dimensions_warping_and_fixed_dims() -> None:
    cfg = PriorConfig(max_dim=4, p_unused=1.0, warp_prob=1.0)
    batch = sample_batch(cfg, 5, 12, 4, dims=4, seed=0)
    assert bool((batch.dims == 4).all())
    assert bool(torch.isinf(batch.lengthscale[:, 1:]).all()) and bool(torch.isfinite(batch.lengthscale[:, 0]).all())
    assert not torch.allclose(batch.x_warped, batch.x.double())
    with pytest.raises(ValidationError, match="n_context"):
        sample_batch(cfg, 2, 5, 6)
    with pytest.raises(ValidationError, match="nu"):
        sample_batch(PriorConfig(nu=2.0), 2, 5, 2)


def test_prior_near_context_queries_sit_next_to_observed_inputs() -> None:
    n, n_ctx = 60, 20
    plain = sample_batch(PriorConfig(), 64, n, n_ctx, dims=8, seed=5)
    near = sample_batch(PriorConfig(near_query_frac=1.0, near_query_scale=(1e-3, 1e-2)), 64, n, n_ctx, dims=8, seed=5)
    assert torch.equal(plain.x[:, :n_ctx], near.x[:, :n_ctx]), "the context is drawn as without near queries"

    def to_context(batch: PriorBatch) -> torch.Tensor:  # B x (n - n_ctx) query-to-context distances
        return torch.cdist(batch.x[:, n_ctx:].double(), batch.x[:, :n_ctx].double())

    nearest, parent = to_context(near).min(-1)
    nearest_plain = to_context(plain).amin(-1)
    # every query is within a few scales of a context point (8 dims x sd <= 1e-2); uniform ones are far
    assert float(nearest.max()) < 0.1 < float(nearest_plain.min())
    assert bool((near.x >= 0).all() and (near.x <= 1).all())
    # a share of the queries moves, and padded columns stay zero
    half = sample_batch(PriorConfig(near_query_frac=0.5, near_query_scale=(1e-4, 1e-2)), 64, n, n_ctx, dims=3, seed=5)
    share = float((to_context(half).amin(-1) < 0.05).double().mean())
    assert 0.4 < share < 0.6 and bool((half.x[:, :, 3:] == 0).all())
    # near-zero distance means near-equal targets: the network learns to trust an observation
    gap = near.y[:, n_ctx:] - near.y[:, :n_ctx].gather(1, parent)
    assert float(gap.abs().median()) < float((plain.y[:, n_ctx:] - plain.y[:, :n_ctx].mean(1, keepdim=True)).abs().median())
    for bad in ({"near_query_frac": 1.5}, {"near_query_scale": (0.1, 0.01)}, {"near_query_scale": (0.0, 0.1)}):
        with pytest.raises(ValidationError, match="near_query"):
            PriorConfig(**bad).validate()


# -- bar distribution ------------------------------------------------------------------


@pytest.fixture
def bar() -> tuple[BarDistribution, torch.Tensor]:
    torch.manual_seed(0)
    borders = borders_from_samples(torch.randn(50_000), 40).double()
    return BarDistribution(borders).double(), torch.randn(3, 40, dtype=torch.float64) * 1.5


def test_borders_are_equal_mass_quantiles() -> None:
    y = torch.randn(20_000, generator=torch.Generator().manual_seed(1))
    b = borders_from_samples(y, 10)
    counts = torch.histc(y.clamp(b[0], b[-1]), bins=1000)  # sanity: borders strictly increase
    assert b.shape == (11,) and bool((b[1:] > b[:-1]).all()) and counts.sum() > 0
    frac = torch.tensor([((y > lo) & (y <= hi)).double().mean() for lo, hi in zip(b[:-1], b[1:])])
    assert torch.allclose(frac[1:-1], torch.full((8,), 0.1, dtype=torch.float64), atol=0.01)


def test_density_integrates_to_one_and_cdf_is_monotone(bar: tuple[BarDistribution, torch.Tensor]) -> None:
    dist, logits = bar
    t = torch.linspace(-20, 20, 200_001, dtype=torch.float64)
    dens = dist.log_prob(logits.unsqueeze(1).expand(3, t.numel(), 40), t.expand(3, -1)).exp()
    assert torch.allclose(torch.trapezoid(dens, t, dim=-1), torch.ones(3, dtype=torch.float64), atol=2e-3)
    cdf = torch.stack([dist.cdf(logits, float(v)) for v in torch.linspace(-8, 8, 161)], -1)
    assert bool((cdf[:, 1:] >= cdf[:, :-1] - 1e-12).all()) and bool((cdf >= 0).all() and (cdf <= 1).all())
    mean = torch.trapezoid(dens * t, t, dim=-1)
    var = torch.trapezoid(dens * t * t, t, dim=-1) - mean**2
    assert torch.allclose(dist.mean(logits), mean, atol=1e-3)
    assert torch.allclose(dist.variance(logits), var, rtol=1e-2)
    for q in (0.001, 0.2, 0.5, 0.97, 0.9999):
        assert torch.allclose(dist.cdf(logits, dist.icdf(logits, q)), torch.full((3,), q, dtype=torch.float64),
                              atol=1e-6)
    assert torch.allclose(dist.loss(logits, torch.zeros(3, dtype=torch.float64)),
                          -dist.log_prob(logits, torch.zeros(3, dtype=torch.float64)))


def test_ei_pi_ucb_match_monte_carlo(bar: tuple[BarDistribution, torch.Tensor]) -> None:
    dist, logits = bar
    samples = dist.sample(logits, 400_000, generator=torch.Generator().manual_seed(0))  # n x 3
    for f in (-2.5, 0.0, 0.7, 3.5):
        mc_ei = (samples - f).clamp_min(0).mean(0)
        se = (samples - f).clamp_min(0).std(0) / math.sqrt(samples.shape[0])
        assert bool(((dist.ei(logits, f) - mc_ei).abs() <= 5 * se + 1e-4).all()), f"EI at f*={f}"
        assert torch.allclose(dist.pi(logits, f), (samples > f).double().mean(0), atol=5e-3)
    ucb = dist.ucb(logits, 0.159)
    assert torch.allclose((samples <= ucb).double().mean(0), torch.full((3,), 0.841, dtype=torch.float64), atol=5e-3)
    assert torch.allclose(dist.pof(logits, 0.3), (samples <= 0.3).double().mean(0), atol=5e-3)
    with pytest.raises(ValidationError, match="rest_prob"):
        dist.ucb(logits, 1.5)


def test_ei_has_a_gradient_in_the_logits(bar: tuple[BarDistribution, torch.Tensor]) -> None:
    dist, logits = bar
    logits = logits.clone().requires_grad_(True)
    dist.ei(logits, 0.5).sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


# -- a tiny random PFN (no shipped weights needed) ---------------------------------------


@pytest.fixture
def tiny_net() -> PFN:
    torch.manual_seed(0)
    cfg = ModelConfig(max_dim=4, d_model=16, n_heads=2, n_layers=1, d_ff=16, n_buckets=30)
    return PFN(cfg, borders_from_samples(torch.randn(5000), 30)).eval().requires_grad_(False)


def test_queries_attend_to_the_context_only(tiny_net: PFN) -> None:
    x, y = torch.rand(2, 7, 3), torch.randn(2, 7)
    q = torch.rand(2, 5, 3)
    full = tiny_net(x, y, q)
    assert full.shape == (2, 5, 30)
    # a query's prediction does not depend on the other queries; the cached path agrees
    assert torch.allclose(tiny_net(x, y, q[:, :1]), full[:, :1], atol=1e-5)
    assert torch.allclose(tiny_net.predict(tiny_net.encode_context(x, y), q), full, atol=1e-5)
    with pytest.raises(ValidationError, match="at most 4"):
        tiny_net(torch.rand(1, 3, 5), torch.randn(1, 3), torch.rand(1, 2, 5))


def test_constrained_ei_is_ei_times_probabilities_of_feasibility(tiny_net: PFN) -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.rand(12, 3, generator=g, dtype=torch.float64)
    Y = torch.randn(12, 3, generator=g, dtype=torch.float64)
    model = PFNModel(tiny_net, X, Y)
    cand = torch.rand(9, 3, generator=g, dtype=torch.float64)
    cons = {1: 0.2, 2: -0.1}
    logits = model.logits(cand)
    feasible = (Y[:, 1] <= 0.2) & (Y[:, 2] <= -0.1)
    best = model.y_t[0][feasible].max() if bool(feasible.any()) else model.y_t[0].max()
    ei = tiny_net.bar.ei(logits[0], best)
    pof1, pof2 = model.pof(cand, 1, 0.2), model.pof(cand, 2, -0.1)
    assert torch.allclose(model.cei(cand, cons), ei * pof1 * pof2, atol=1e-6)
    plus = ei * (2 * pof1).clamp_max(1) * (2 * pof2).clamp_max(1)
    assert torch.allclose(model.cei(cand, cons, plus=True), plus, atol=1e-6)
    assert bool((model.cei(cand, cons, plus=True) >= model.cei(cand, cons) - 1e-9).all())
    # PoF is P(constraint <= threshold) under the predictive distribution of that output
    assert torch.allclose(pof1, tiny_net.bar.cdf(logits[1], model.transformed(0.2, 1)[0]).clamp(0, 1))
    x, value = model.suggest(n_candidates=64, acquisition="cei+", constraints=cons, n_refine=2, refine_rounds=1, n_local=4)
    assert x.shape == (3,) and bool(((x >= 0) & (x <= 1)).all()) and math.isfinite(float(value))


def test_acquisition_functions_equal_the_bar_distribution_formulas(tiny_net: PFN) -> None:
    """The BoTorch classes compute what PFNModel.ei/aei/pi/ucb/pof/cei computed before they moved."""
    g = torch.Generator().manual_seed(1)
    X = torch.rand(12, 3, generator=g, dtype=torch.float64)
    Y = torch.randn(12, 3, generator=g, dtype=torch.float64)
    model = PFNModel(tiny_net, X, Y)
    cand = torch.rand(9, 3, generator=g, dtype=torch.float64)
    bar, logits = tiny_net.bar, model.logits(cand)
    noise = bar.variance(model.logits(X)).min(-1).values

    def factor(j: int) -> torch.Tensor:
        return (1 - torch.sqrt(noise[j] / bar.variance(logits[j]).clamp_min(1e-12))).clamp_min(0)

    t = model.transformed
    feasible = (Y[:, 1] <= 0.2) & (Y[:, 2] >= -0.1)
    best_feasible = model.y_t[0][feasible].max() if bool(feasible.any()) else model.y_t[0].max()
    pof1, pi2 = bar.pof(logits[1], t(0.2, 1)[0]), bar.pi(logits[2], t(-0.1, 2)[0])
    cons = {1: 0.2, 2: (">=", -0.1)}
    cases = [
        (PFNExpectedImprovement(model), bar.ei(logits[0], model.y_t[0].max())),
        (PFNExpectedImprovement(model, 1, best_f=0.3), bar.ei(logits[1], t(0.3, 1)[0])),
        (PFNExpectedImprovement(model, augmented=True), bar.ei(logits[0], model.y_t[0].max()) * factor(0)),
        (PFNProbabilityOfImprovement(model, 2, best_f=-0.3), bar.pi(logits[2], t(-0.3, 2)[0])),
        (PFNUpperConfidenceBound(model, 1, rest_prob=0.3), bar.ucb(logits[1], 0.3)),
        (PFNProbabilityOfFeasibility(model, 1, 0.2), pof1),
        (PFNConstrainedExpectedImprovement(model, cons), bar.ei(logits[0], best_feasible) * pof1 * pi2),
        (PFNConstrainedExpectedImprovement(model, cons, plus=True, augmented=True),
         bar.ei(logits[0], best_feasible) * factor(0) * (2 * pof1).clamp_max(1) * (2 * pi2).clamp_max(1)),
    ]
    for acqf, want in cases:
        got = acqf(cand.unsqueeze(-2))  # batch x q=1 x d -> batch
        assert got.shape == (9,) and got.dtype == torch.float64, type(acqf).__name__
        assert torch.allclose(got, want.double(), rtol=1e-6, atol=1e-7), type(acqf).__name__
        assert torch.equal(acqf.score(cand), got.float()), "score (N x d) and forward agree"
    # the names of PFNModel.acquisition / suggest build the same classes
    assert torch.equal(model.acquisition(cand, "acei+", cons), cases[-1][0].score(cand))
    assert torch.equal(model.acquisition(cand, "pi", output=2, best_f=-0.3), cases[3][0].score(cand))
    assert set(ACQUISITIONS) == {"ei", "aei", "pi", "ucb", "cei", "cei+", "acei", "acei+"}
    assert isinstance(make_pfn_acquisition(model, "cei"), PFNExpectedImprovement)
    # t-batches of any shape; q > 1 is refused (no joint predictive)
    assert PFNExpectedImprovement(model)(cand.reshape(3, 3, 1, 3)).shape == (3, 3)
    with pytest.raises(AssertionError, match="q=1"):
        PFNExpectedImprovement(model)(cand.reshape(3, 3, 3))
    with pytest.raises(SurrogateError, match=r"must use '<=' or '>=', but got '=='"):
        PFNConstrainedExpectedImprovement(model, {1: ("==", 0.0)})
    with pytest.raises(SurrogateError, match=r"constraints need an EI acquisition .* but got 'ucb'"):
        make_pfn_acquisition(model, "ucb", {1: 0.0})


def test_optimize_acqf_maximises_a_pfn_acquisition() -> None:
    from botorch.optim import optimize_acqf

    g = torch.Generator().manual_seed(2)
    X = torch.rand(20, 2, generator=g, dtype=torch.float64)
    model = PFNSurrogate().fit(X, -(X - 0.3).pow(2).sum(-1, keepdim=True), seed=0)
    acqf = PFNExpectedImprovement(model, augmented=True)
    start = torch.rand(64, 1, 2, generator=g, dtype=torch.float64)
    start_values = acqf(start)
    x = start[:2].clone().requires_grad_(True)
    acqf(x).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    best, value = optimize_acqf(acqf, bounds, q=1, num_restarts=2,
                                batch_initial_conditions=start[start_values.topk(2).indices])
    assert best.shape == (1, 2) and bool(((best >= 0) & (best <= 1)).all())
    assert float(value) >= float(start_values.max()) - 1e-9
    assert float(value) == pytest.approx(float(acqf(best.unsqueeze(0))), rel=1e-5)


def test_suggest_snaps_categorical_columns(tiny_net: PFN) -> None:
    X = torch.rand(10, 2, dtype=torch.float64)
    model = PFNModel(tiny_net, X, X.sum(-1, keepdim=True), categorical={1: 3})
    for name in ("ei", "pi", "ucb"):
        x, _ = model.suggest(n_candidates=32, acquisition=name, n_refine=2, n_local=4, seed=1)
        assert float(x[1]) * 3 - 0.5 == pytest.approx(round(float(x[1]) * 3 - 0.5))
    with pytest.raises(SurrogateError, match="unknown acquisition"):
        model.acquisition(X.float(), "kg")


# -- shipped weights and the seam ----------------------------------------------------------


def test_shipped_weights_load_without_pickle_and_fit_the_size_budget() -> None:
    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.stat().st_size < 20 * 2**20
    payload = torch.load(DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    assert payload["format"] == "hpo-pfn-v1" and payload["config"]["model"]["max_dim"] >= 8
    net, config = load_pfn()
    assert net.cfg.n_buckets == config["model"]["n_buckets"] >= 500


def test_shipped_model_suggests_a_good_point() -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.rand(30, 2, generator=g, dtype=torch.float64)
    f = lambda x: -((x - 0.3) ** 2).sum(-1, keepdim=True)  # noqa: E731  maximum at (0.3, 0.3)
    model = PFNSurrogate().fit(X, f(X), seed=0)
    x, value = model.suggest(n_candidates=256, seed=0)
    assert x.dtype == torch.float64 and x.shape == (2,) and float(value) > 0
    assert float(f(x.unsqueeze(0))) > float(f(X).median())
    post = model.posterior(torch.tensor([[0.3, 0.3], [0.95, 0.95]], dtype=torch.float64))
    assert float(post.mean[0, 0]) > float(post.mean[1, 0])


def test_too_many_dimensions_names_the_limit_and_suggests_gp() -> None:
    X = torch.rand(5, 9, dtype=torch.float64)
    with pytest.raises(SurrogateError, match=r"9 dimensions.*at most 8.*'gp'"):
        PFNSurrogate().fit(X, X.sum(-1, keepdim=True))


def test_more_observations_than_the_context_are_subsampled() -> None:
    X = torch.rand(150, 3, dtype=torch.float64)
    Y = X.sum(-1, keepdim=True)
    model = PFNSurrogate(max_context=40).fit(X, Y, seed=0)
    assert model.X_ctx.shape == (40, 3)
    assert float(model.Y_ctx.max()) == float(Y.max()), "the best observations are kept"
    with pytest.raises(SurrogateError, match="max_context"):
        PFNSurrogate(max_context=0)


class TestPFNConformance(SurrogateConformance):
    """The seam's conformance suite with the shipped weights."""
    registered_name = "pfn"

    coverage_range = (0.85, 1.0)

    @pytest.fixture
    def surrogate_factory(self):  # type: ignore[no-untyped-def]
        return lambda: PFNSurrogate()


def test_registered_names() -> None:
    from hpo.samplers import make_sampler
    from hpo.surrogates import make_surrogate

    assert isinstance(make_surrogate("pfn"), PFNSurrogate)
    sampler = make_sampler("pfn", n_initial=3)
    assert sampler.surrogate.name == "pfn"


# -- end to end --------------------------------------------------------------------------


def test_bo_study_with_the_pfn_surrogate_runs(tmp_path: Path) -> None:
    import hpo
    from hpo.samplers.bo import BOSampler

    space = {"x": hpo.Float(-5, 10), "y": hpo.Float(0, 15), "c": hpo.Categorical(["a", "b"])}

    def branin(trial):  # type: ignore[no-untyped-def]
        x, y = trial["x"], trial["y"]
        v = (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x)
        return v + 10 + (0.5 if trial["c"] == "b" else 0.0)

    sampler = BOSampler(surrogate="pfn", n_initial=4, num_restarts=2, raw_samples=32, mc_samples=32)
    study = hpo.create_study(space=space, storage=f"sqlite:///{tmp_path}/pfn.db", sampler=sampler, seed=0)
    study.optimize(branin, n_trials=8, show_progress_bar=False)
    assert len(study.trials) == 8 and math.isfinite(study.best_value)


def test_train_resume_export_and_eval(tmp_path: Path) -> None:
    from hpo.cli import main
    from hpo.surrogates.pfn.eval import evaluate, format_markdown
    from hpo.surrogates.pfn.train import load_config, train

    flags = ["--steps", "4", "--batch-size", "3", "--n-points", "16", "--max-context", "10", "--d-model", "16",
             "--n-layers", "1", "--n-heads", "2", "--d-ff", "16", "--n-buckets", "20", "--checkpoint-every", "2",
             "--max-dim", "3", "--device", "cpu", "--out-dir", str(tmp_path / "run"), "--no-progress"]
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text("border_samples: 2000\nlog_every: 1\n")
    weights = tmp_path / "w.pt"
    assert main(["pfn", "train", "--config", str(cfg_file), *flags, "--export", str(weights)]) == 0
    assert sorted(p.name for p in (tmp_path / "run").glob("ckpt_*.pt")) == ["ckpt_2.pt", "ckpt_4.pt"]
    assert (tmp_path / "run" / "train_curve.csv").read_text().count("\n") == 5
    # resume: more steps continue from the latest checkpoint
    cfg = load_config(cfg_file, {"steps": 6, "batch_size": 3, "n_points": 16, "max_context": 10,
                                 "model.d_model": 16, "model.n_layers": 1, "model.n_heads": 2, "model.d_ff": 16,
                                 "model.n_buckets": 20, "checkpoint_every": 2, "prior.max_dim": 3,
                                 "model.max_dim": 3, "device": "cpu", "out_dir": str(tmp_path / "run")})
    final = train(cfg, progress=False)
    assert final.name == "ckpt_6.pt"
    state = torch.load(final, weights_only=True)
    assert state["step"] == 6
    net, _ = load_pfn(weights)
    assert net.cfg.max_dim == 3
    rows = evaluate(weights=weights, dims=[2], contexts=[4], n_datasets=2, n_queries=5, fitted_gp=False,
                    progress=False)
    assert math.isfinite(rows[0]["pfn"]) and math.isfinite(rows[0]["gp_true"])
    assert rows[0]["pfn_var_observed"] > 0 and rows[0]["noise"] > 0
    assert "| 2 | 4 |" in format_markdown(rows)
    with pytest.raises(ValidationError, match="unknown config key"):
        load_config(None, {"bogus": 1})


def test_pfn_ei_sampler_with_constraints(tmp_path: Path) -> None:
    import hpo
    from hpo.samplers import make_sampler

    space = {"x1": hpo.Float(-5, 10), "x2": hpo.Float(0, 15), "k": hpo.Int(1, 4)}

    def objective(trial):  # type: ignore[no-untyped-def]
        x1, x2 = trial["x1"], trial["x2"]
        value = (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2 + 10 * math.cos(x1) + trial["k"]
        return {"value": value, "x_sum": x1 + x2}

    sampler = make_sampler("pfn-ei", n_initial=5, n_candidates=128, n_local=8)
    study = hpo.create_study(name="pfnc", space=space, storage=f"sqlite:///{tmp_path}/c.db", sampler=sampler,
                             constraints={"x_sum": ("<=", 8.0)}, seed=0)
    study.optimize(objective, n_trials=12, show_progress_bar=False)
    assert study.best_trial.constraint_values["x_sum"] <= 8.0
    later = study.trials[5:]
    assert sum(t.constraint_values["x_sum"] <= 8.0 for t in later) >= len(later) // 2
    assert all(isinstance(t.params["k"], int) for t in study.trials)
    with pytest.raises(SamplerError, match="unknown option"):
        make_sampler("pfn-ei", restarts=2)
    with pytest.raises(SamplerError, match="unknown acquisition"):
        make_sampler("pfn-ei", acquisition="kg")


def test_augmented_ei_removes_the_noise_only_improvement(tiny_net: PFN) -> None:
    g = torch.Generator().manual_seed(3)
    X = torch.rand(15, 2, generator=g, dtype=torch.float64)
    model = PFNModel(tiny_net, X, X.sum(-1, keepdim=True))
    cand = torch.rand(50, 2, generator=g, dtype=torch.float64)
    ei, aei = model.ei(cand), model.aei(cand)
    var = tiny_net.bar.variance(model.logits(cand)[0])
    factor = (1 - torch.sqrt(model.noise_variance() / var)).clamp_min(0)
    assert torch.allclose(aei, ei * factor, atol=1e-7) and bool((aei <= ei + 1e-9).all())
    # at the context point with the smallest predictive variance the factor is 0
    ctx_var = tiny_net.bar.variance(model.logits(X)[0])
    assert float(model.aei(X[ctx_var.argmin()].unsqueeze(0))) == pytest.approx(0.0, abs=1e-6)
    cons = {0: 5.0}
    assert torch.allclose(model.acquisition(cand, "acei", cons), aei * model.pof(cand, 0, 5.0), atol=1e-6)


def test_rank_transform_is_monotone_and_inverts() -> None:
    from hpo.surrogates.pfn.surrogate import _OutcomeTransform

    y = torch.tensor([3.0, 1.0, 1.0, 250.0, 0.5, 7.0, 2.0], dtype=torch.float64).numpy()
    for mode in ("power", "rank"):
        tr = _OutcomeTransform(y, mode)
        t = tr.forward(y)
        assert abs(t.mean()) < 1e-9 and abs(t.std(ddof=1) - 1) < 1e-9
        grid = torch.linspace(-400, 600, 101, dtype=torch.float64).numpy()
        fwd = tr.forward(grid)
        assert (fwd[1:] >= fwd[:-1] - 1e-12).all(), mode
        assert torch.allclose(torch.from_numpy(tr.inverse(t)), torch.from_numpy(y), rtol=1e-6, atol=1e-6), mode
    with pytest.raises(SurrogateError, match="y_transform"):
        PFNSurrogate(y_transform="log")
    model = PFNSurrogate(y_transform="rank").fit(torch.rand(8, 2, dtype=torch.float64),
                                                torch.randn(8, 1, dtype=torch.float64))
    assert torch.isfinite(model.posterior(torch.rand(3, 2, dtype=torch.float64)).mean).all()


def test_pending_points_join_the_context_with_their_believed_value() -> None:
    g = torch.Generator().manual_seed(5)
    X = torch.rand(30, 2, generator=g, dtype=torch.float64)
    Y = -(X - 0.3).pow(2).sum(-1, keepdim=True)
    model = PFNSurrogate().fit(X, Y, seed=0)
    x1, _ = model.suggest(acquisition="aei", seed=1)
    before = model.acquisition(x1.unsqueeze(0), "aei")
    best_f, noise = model.incumbent(0), model.noise_variance()
    model.add_pending(x1.unsqueeze(0))
    # the acquisition drops where a worker is busy; the incumbent and noise level stay the observations'
    assert float(model.acquisition(x1.unsqueeze(0), "aei")) < 0.5 * float(before)
    assert model.incumbent(0) == best_f and model.noise_variance() == noise
    assert model.X_pending.shape == (1, 2)
    # the context never exceeds max_context: the worst observations make room
    capped = PFNSurrogate(max_context=20).fit(X, Y, seed=0)
    capped.add_pending(torch.rand(25, 2, generator=g))
    assert capped._cache[0][0].shape[-2] == 20


def test_pfn_ei_batch_and_parallel_workers_spread_out(tmp_path: Path) -> None:
    import hpo
    from hpo.samplers import make_sampler

    space = {"x": hpo.Float(0, 1), "y": hpo.Float(0, 1)}
    study = hpo.create_study(name="b", space=space, storage=f"sqlite:///{tmp_path}/b.db", seed=0,
                             sampler=make_sampler("pfn-ei", n_initial=6, n_candidates=256))
    study.optimize(lambda t: (t["x"] - 0.3) ** 2 + (t["y"] - 0.6) ** 2, n_trials=10, show_progress_bar=False)
    context = study.sampling_context(study.store.reserve_numbers(study.study_id, 4))
    batch = study.sampler.suggest_batch(context, 4)
    points = torch.tensor([[p["x"], p["y"]] for p in batch])
    assert float(torch.pdist(points).min()) > 1e-3  # four different points, not one point four times
    mo = hpo.create_study(name="mo", space=space, storage=f"sqlite:///{tmp_path}/b.db", sampler="pfn-ei",
                          objectives={"a": "minimize", "b": "minimize"})
    with pytest.raises(SamplerError, match="pfn-ei: handles one objective.*'gp'"):
        mo.optimize(lambda t: {"a": t["x"], "b": t["y"]}, n_trials=1, show_progress_bar=False)


class TestPFNBOConformance(SamplerConformance):
    """The sampler seam's conformance suite for ``pfn``: the BO sampler with the PFN surrogate."""

    registered_name = "pfn"

    @pytest.fixture
    def sampler_factory(self):  # type: ignore[no-untyped-def]
        from hpo.samplers import make_sampler

        return lambda: make_sampler("pfn", n_initial=5, num_restarts=2, raw_samples=64)


class TestPFNEIConformance(SamplerConformance):
    """The sampler seam's conformance suite for ``pfn-ei`` (BO after 5 Sobol points)."""
    registered_name = "pfn-ei"

    supports_multi_objective = False  # pfn-ei handles one objective (the error is tested below)

    @pytest.fixture
    def sampler_factory(self):  # type: ignore[no-untyped-def]
        from hpo.samplers import make_sampler

        return lambda: make_sampler("pfn-ei", n_initial=5, n_candidates=256, n_local=16)


def test_bench_pfn_quick_writes_its_report(tmp_path: Path) -> None:
    from hpo.bench import run_benchmark

    report = run_benchmark("pfn", quick=True, output_dir=tmp_path)
    text = report.read_text()
    assert report.name == "pfn_quick.md"
    for heading in ("## Targets", "## Time per suggestion", "## Regret", "## The noise the models infer",
                    "## Calibration"):
        assert heading in text
    for row in ("| gp |", "| pfn-ei |", "| pfn-ei-bf16 |", "| **gp / pfn-ei** |", "| **gp / pfn-ei-bf16** |",
                "| branin | 2 | 8 |", "| branin | 2 | 10 |"):
        assert row in text, row
    assert "n/a (RuntimeError" not in text and "n/a (SamplerError" not in text
    # the noise diagnosis states the PFN / GP range it measured and how the shipped weights were trained
    assert "times (median" in text and "30% of their queries next to observed inputs" in text
    assert (tmp_path / "pfn_quick_timing.png").stat().st_size > 0
    assert (tmp_path / "pfn_quick_regret.png").stat().st_size > 0
    assert str(tmp_path) not in text


def test_bfloat16_precision_ranks_candidates_like_float32() -> None:
    g = torch.Generator().manual_seed(7)
    X = torch.rand(40, 3, generator=g, dtype=torch.float64)
    Y = -(X - 0.4).pow(2).sum(-1, keepdim=True)
    cand = torch.rand(300, 3, generator=g, dtype=torch.float64)
    full = PFNSurrogate().fit(X, Y, seed=0)
    half = PFNSurrogate(precision="bfloat16").fit(X, Y, seed=0)
    assert half.logits(cand).dtype == torch.float32
    a, b = full.acquisition(cand, "aei"), half.acquisition(cand, "aei")
    ranks = torch.stack([a.argsort().argsort(), b.argsort().argsort()]).double()
    assert float(torch.corrcoef(ranks)[0, 1]) > 0.99
    assert int(b.argmax()) in set(torch.topk(a, 5).indices.tolist())
    with pytest.raises(SurrogateError, match="precision must be 'float32' or 'bfloat16'"):
        PFNSurrogate(precision="float16")


def test_warm_start_from_exported_weights_and_a_mismatched_model_is_refused(tmp_path: Path) -> None:
    from hpo.surrogates.pfn.train import export_weights, load_config, train

    tiny = {"model.d_model": 16, "model.n_layers": 1, "model.n_heads": 2, "model.d_ff": 16, "model.n_buckets": 20,
            "batch_size": 2, "n_points": 12, "max_context": 8, "border_samples": 2000, "prior.max_dim": 2,
            "model.max_dim": 2, "device": "cpu", "checkpoint_every": 1, "steps": 1}
    first = train(load_config(None, {**tiny, "out_dir": str(tmp_path / "a")}), progress=False)
    weights = export_weights(first, tmp_path / "w.pt")
    start = {k: v.float() for k, v in torch.load(weights, weights_only=True)["state_dict"].items()}
    # another seed: without the warm start this run would draw other borders and another initialisation
    warm = train(load_config(None, {**tiny, "seed": 1, "init_weights": str(weights), "lr": 0.0,
                                    "out_dir": str(tmp_path / "b")}), progress=False)
    after = torch.load(warm, weights_only=True)["model"]
    assert torch.equal(after["bar.borders"], start["bar.borders"])  # the borders come with the weights
    assert torch.allclose(after["enc_x.weight"], start["enc_x.weight"])  # lr 0: still the exported weights
    cold = torch.load(train(load_config(None, {**tiny, "seed": 1, "lr": 0.0, "out_dir": str(tmp_path / "d")}),
                            progress=False), weights_only=True)["model"]
    assert not torch.equal(cold["bar.borders"], start["bar.borders"])  # so the checks above can fail
    assert not torch.allclose(cold["enc_x.weight"], start["enc_x.weight"])
    with pytest.raises(ValidationError, match="has model config"):
        train(load_config(None, {**tiny, "model.d_model": 8, "init_weights": str(weights),
                                 "out_dir": str(tmp_path / "c")}), progress=False)

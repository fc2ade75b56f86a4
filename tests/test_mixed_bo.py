"""BO on conditional and categorical spaces, and the mixed problems of ``hpo bench samplers``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import hpo
from hpo import Categorical, Float, Int, SearchSpace
from hpo.bench.problems import MIXED_PROBLEMS, get_problem
from hpo.records import TrialState
from hpo.samplers import make_sampler
from hpo.surrogates.gp import GPSurrogate


def _conditional_data() -> tuple[SearchSpace, list[dict], list[float]]:
    """x is active for n <= 15: there y = 10 (x - 0.5)^2; inactive (n >= 16) y = 5."""
    space = SearchSpace({"n": Int(1, 30), "x": Float(0, 1, active_if={"n": tuple(range(1, 16))})})
    rng = np.random.default_rng(0)
    configs, y = [], []
    for n in range(1, 31, 2):
        if n <= 15:
            for x in rng.uniform(size=2):
                configs.append({"n": n, "x": float(x)})
                y.append(10 * (float(x) - 0.5) ** 2)
        else:
            configs.append({"n": n})
            y.append(5.0)
    return space, configs, y


def test_the_model_tells_an_inactive_parameter_from_the_imputed_value() -> None:
    """Imputing inactive x as 0.5 makes the GP believe (n=16, inactive) ~ (n=14, x=0.5): it
    predicted 3.5 there (truth 0). The activity features keep them apart."""
    space, configs, y = _conditional_data()
    enc = space.encoder(onehot=False)
    assert enc.conditions == (("x",),)
    X = torch.as_tensor(enc.features(enc.encode(configs)))
    assert X.shape == (len(configs), enc.dim + 1)
    model = GPSurrogate().fit(X, torch.tensor(y, dtype=torch.float64)[:, None], seed=0)
    test = enc.features(enc.encode([{"n": 14, "x": 0.5}, {"n": 16}, {"n": 12, "x": 0.5}]))
    with torch.no_grad():
        mean = model.posterior(torch.as_tensor(test)).mean.squeeze(-1)
    assert abs(float(mean[0])) < 0.5 and abs(float(mean[2])) < 0.5
    assert abs(float(mean[1]) - 5.0) < 0.5


def test_features_follow_the_decoded_parents() -> None:
    space = SearchSpace({"opt": Categorical(["sgd", "adam"]), "mom": Float(0, 1, active_if={"opt": "sgd"}),
                         "nest": Categorical(["no", "yes"], active_if={"opt": "sgd"}),
                         "beta": Float(0, 1, active_if={"opt": "adam"})})
    enc = space.encoder(onehot=False)
    assert enc.conditions == (("mom", "nest"), ("beta",))  # one indicator per distinct condition
    U = np.array([[0.2, 0.9, 0.9, 0.1], [0.8, 0.9, 0.9, 0.1]])  # opt decodes to sgd, then adam
    F = enc.features(U)
    np.testing.assert_allclose(F, [[0.2, 0.9, 0.9, 0.5, 1.0, 0.0], [0.8, 0.5, 0.5, 0.1, 0.0, 1.0]])


def test_gp_on_a_conditional_space_suggests_valid_configurations(tmp_path) -> None:
    problem = get_problem("conditional-3way")
    study = hpo.create_study(name="c", space=problem.space, storage=f"sqlite:///{tmp_path}/c.db",
                             sampler=make_sampler("gp", n_initial=6, num_restarts=2, raw_samples=64), seed=0)
    study.optimize(lambda t: problem.objective(t.params), n_trials=10, show_progress_bar=False)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    for t in study.trials:
        assert SearchSpace(problem.space).validate(t.params) == t.params


@pytest.mark.parametrize("k", [1, 5, 20])
def test_gp_with_one_five_and_twenty_categories(tmp_path, k: int) -> None:
    space = {"c": Categorical([f"c{i}" for i in range(k)]), "x": Float(0, 1)}

    def objective(t: hpo.Trial) -> float:
        return (t["x"] - 0.7) ** 2 + (0.0 if t["c"] == "c0" else 1.0 + int(t["c"][1:]) / k)

    study = hpo.create_study(name=f"k{k}", space=space, storage=f"sqlite:///{tmp_path}/k.db",
                             sampler=make_sampler("gp", n_initial=4, num_restarts=2, raw_samples=64), seed=0)
    study.optimize(objective, n_trials=9, show_progress_bar=False)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert len({(t.params["c"], t.params["x"]) for t in study.trials}) == 9


@pytest.mark.parametrize("name", MIXED_PROBLEMS)
def test_mixed_problems_know_their_optimum(name: str) -> None:
    problem = get_problem(name)
    space = SearchSpace(problem.space)
    assert problem.objective(space.validate(problem.minimiser)) == pytest.approx(problem.optimum)
    values = [problem.objective(space.sample(seed)) for seed in range(20)]
    assert min(values) >= problem.optimum - 1e-9
    if name == "tabular-mlp":
        assert len(space) == 9
        kinds = sorted(c.kind for c in space.encoder(onehot=False).columns)
        assert kinds == ["categorical"] * 2 + ["ordinal"] * 7


def test_report_marks_the_mixed_targets_and_times_each_problem(tmp_path) -> None:
    from hpo.bench.problems import ProblemInfo
    from hpo.bench.samplers_bench import BenchPlan, BenchResult, RunResult
    from hpo.bench.samplers_report import evaluate_targets, write_samplers_report

    problems = ("branin", *MIXED_PROBLEMS)
    samplers = ("gp", "tpe", "optuna-gp")
    plan = BenchPlan(problems=problems, samplers=samplers, seeds=(0, 1), budgets={p: 6 for p in problems},
                     timing_sizes=())
    infos = {p: ProblemInfo(p, p, 2, 6, 0.0) for p in problems}
    quality = {"gp": 1e-3, "tpe": 1e-1, "optuna-gp": 1e-2}
    runs = [RunResult(p, s, seed, [quality[s] * (1 + i) if p != "cat20-hartmann3" or s != "gp" else 1.0
                                   for i in range(6)][::-1], [0.25] * 4, 1.0)
            for p in problems for s in samplers for seed in plan.seeds]
    result = BenchResult(plan, infos, runs, [], 1.0, 0.0, {"cpus": 2})
    targets = {t.text.split(" than ")[1].split(" on ")[0]: t for t in evaluate_targets(result) if "mixed" in t.text}
    assert {k: t.status for k, t in targets.items()} == {"`tpe`": "met", "`optuna-gp`": "met"}
    assert "gp lower on 3 of 4" in targets["`tpe`"].detail and "cat20-hartmann3" not in targets["`tpe`"].detail
    only_mixed = dataclasses.replace(result, problems={p: infos[p] for p in MIXED_PROBLEMS},
                                     runs=[r for r in runs if r.problem in MIXED_PROBLEMS],
                                     plan=dataclasses.replace(plan, problems=MIXED_PROBLEMS))
    assert evaluate_targets(only_mixed)[0].status == "n/a"  # no original problem: nothing to compare
    text = write_samplers_report(result, tmp_path).read_text()
    assert "| cat20-hartmann3 | 0.25 | 0.25 | 0.25 |" in text


def test_gp_categorical_kernel_option(tmp_path) -> None:
    from hpo.errors import SurrogateError
    from hpo.kernels.overlap import HammingMaternKernel

    space = SearchSpace({"c": Categorical([f"c{i}" for i in range(5)]), "x": Float(0, 1)})
    enc = space.encoder(onehot=False)
    configs = [space.sample(i) for i in range(12)]
    X = torch.as_tensor(enc.encode(configs))
    Y = torch.as_tensor([[float(c["x"]) + (c["c"] == "c0")] for c in configs])
    gp = GPSurrogate(categorical_kernel="overlap")
    assert gp.options()["categorical_kernel"] == "overlap"
    model = gp.fit(X, Y, categorical=enc.category_counts, seed=0)
    assert isinstance(model.covar_module.base_kernel, HammingMaternKernel)
    same = enc.encode([{"c": "c3", "x": 0.5}, {"c": "c3", "x": 0.5}])
    with torch.no_grad():
        k = model.covar_module.base_kernel(torch.as_tensor(same)).to_dense()
    assert torch.allclose(k, torch.ones(2, 2, dtype=k.dtype))
    with pytest.raises(SurrogateError, match="unknown categorical_kernel 'rbf'"):
        GPSurrogate(categorical_kernel="rbf")

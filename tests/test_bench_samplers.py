"""``hpo bench samplers``: the quick run writes its report; problems, regret curves and targets are right."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hpo.bench import run_benchmark
from hpo.bench.problems import PROBLEM_NAMES, REAL_BUDGET, SYNTHETIC_BUDGET, ProblemInfo, get_problem
from hpo.bench.samplers_bench import (
    BenchPlan,
    BenchResult,
    RunResult,
    TimingResult,
    _Job,
    _run_job,
    best_so_far,
    default_samplers,
    log_regret_curves,
)
from hpo.bench.samplers_report import checkpoints, evaluate_targets, write_samplers_report
from hpo.space import SearchSpace

#: Published minima (BoTorch's rounded constants): what each problem's optimum must match.
KNOWN_MINIMA = {
    "branin": 0.397887,
    "hartmann6": -3.32237,
    "ackley10": 0.0,
    "levy4": 0.0,
    "rosenbrock6": 0.0,
    "styblinskitang8": -39.166166 * 8,
    "mixed-hartmann3": -3.86278,
}


# -- the quick run, end to end --------------------------------------------------------
@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_benchmark("samplers", quick=True, output_dir=tmp_path_factory.mktemp("bench-samplers"))


def test_quick_run_writes_report_with_tables_and_plot(quick_report: Path) -> None:
    assert quick_report.name == "samplers.md" and quick_report.is_file()
    text = quick_report.read_text()
    for heading in ("## Problems", "## log10 simple regret", "## Ranks", "## Time per suggestion", "## Targets"):
        assert heading in text
    assert "| branin | random |" in text and "| mixed-hartmann3 | tpe |" in text
    assert "**median rank**" in text
    assert "| sampler | n=20 | n=50 |" in text
    assert "![regret curves](samplers_regret.png)" in text
    png = quick_report.parent / "samplers_regret.png"
    assert png.is_file() and png.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(quick_report.parent) not in text  # no local paths in the report
    assert "Failed runs" not in text


def test_quick_run_targets(quick_report: Path) -> None:
    from hpo.samplers import sampler_names

    targets = quick_report.read_text().split("## Targets", 1)[1]
    assert targets.count("-> **") == 4
    if "gp" not in sampler_names():
        assert targets.count("**n/a**") == 4


# -- problems ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(KNOWN_MINIMA))
def test_synthetic_optimum_is_right(name: str) -> None:
    problem = get_problem(name)
    assert problem.budget == SYNTHETIC_BUDGET
    assert problem.minimiser is not None and problem.optimum is not None
    space = SearchSpace(problem.space)
    space.validate(problem.minimiser)
    assert problem.objective(problem.minimiser) == pytest.approx(problem.optimum, rel=1e-12, abs=1e-12)
    assert problem.optimum == pytest.approx(KNOWN_MINIMA[name], abs=1e-4)
    rng = np.random.default_rng(0)
    values = [problem.objective(space.sample(rng)) for _ in range(300)]
    assert min(values) >= problem.optimum - 1e-9


def test_mixed_problem_categorical_matters() -> None:
    problem = get_problem("mixed-hartmann3")
    assert problem.minimiser is not None
    others = [problem.objective({**problem.minimiser, "c": c}) for c in ("b", "c", "d")]
    assert all(v > problem.optimum + 0.5 for v in others)


@pytest.mark.parametrize("name", ["hgb-breast-cancer", "mlp-digits"])
def test_tuning_tasks(name: str) -> None:
    problem = get_problem(name)
    assert problem.optimum is None and problem.budget == REAL_BUDGET
    config = SearchSpace(problem.space).sample(np.random.default_rng(0))
    value = problem.objective(config)
    assert 0.0 <= value < 1.0 and math.isfinite(value)
    assert problem.objective(config) == value  # deterministic: fixed splits and model seeds


def test_all_problems_listed() -> None:
    assert len(PROBLEM_NAMES) == 9
    assert {get_problem(n).dim for n in ("branin", "hartmann6", "ackley10", "levy4")} == {2, 6, 10, 4}
    assert get_problem("styblinskitang8").dim == 8 and get_problem("rosenbrock6").dim == 6


# -- regret curves -------------------------------------------------------------------
def test_best_so_far_is_monotone() -> None:
    values = [5.0, math.nan, 7.0, 3.0, 4.0, math.nan, 1.0, 2.0]
    assert best_so_far(values).tolist() == [5.0, 5.0, 5.0, 3.0, 3.0, 3.0, 1.0, 1.0]
    assert np.isnan(best_so_far([math.nan, 2.0])[0])


def test_real_study_regret_curve_is_monotone(tmp_path: Path) -> None:
    result = _run_job(_Job("branin", "random", 0, 12, str(tmp_path)))
    assert result.error is None and len(result.values) == 12 and len(result.suggest_seconds) == 12
    bench = _synthetic_result(("random",), runs=[result], problems=("branin",), budget=12)
    curve = log_regret_curves(bench)[("branin", "random")]
    assert curve.shape == (1, 12)
    assert np.all(np.diff(curve[0]) <= 0)
    assert curve[0, 0] == pytest.approx(math.log10(result.values[0] - get_problem("branin").optimum))


def test_regret_curves_monotone_and_floored() -> None:
    bench = _synthetic_result(("random", "tpe"))
    curves = log_regret_curves(bench)
    for (problem, _), curve in curves.items():
        assert curve.shape == (3, 9)
        assert np.all(np.diff(curve, axis=1) <= 0)
        assert curve.min() >= math.log10(bench.problems[problem].regret_floor) - 1e-12
    # the tuning task: regret against the best value seen in the run, so some run reaches the floor
    assert curves[("mlp-digits", "random")].min() == pytest.approx(-4) or curves[("mlp-digits", "tpe")].min() == pytest.approx(-4)


def test_checkpoints() -> None:
    assert checkpoints(60) == (20, 40, 60)
    assert checkpoints(30) == (10, 20, 30)
    assert checkpoints(8) == (3, 5, 8)


# -- targets -------------------------------------------------------------------------
def _synthetic_result(
    samplers: tuple[str, ...],
    runs: list[RunResult] | None = None,
    problems: tuple[str, ...] = ("branin", "mlp-digits"),
    budget: int = 9,
    quality: dict[str, float] | None = None,
    timings: list[TimingResult] | None = None,
) -> BenchResult:
    """A benchmark result made up without running anything (``quality``: higher = better sampler)."""
    infos = {
        "branin": ProblemInfo("branin", "Branin", 2, budget, 0.397887),
        "mlp-digits": ProblemInfo("mlp-digits", "MLP", 5, budget, None, regret_floor=1e-4),
    }
    plan = BenchPlan(
        problems=problems,
        samplers=samplers,
        seeds=(0, 1, 2),
        budgets={p: budget for p in problems},
        timing_sizes=(50, 200, 500, 1000),
    )
    if runs is None:
        rng = np.random.default_rng(0)
        runs = []
        for p in problems:
            base = infos[p].optimum if infos[p].optimum is not None else 0.02
            for s in samplers:
                scale = 10.0 ** -(quality or {}).get(s, 0.0)
                for seed in plan.seeds:
                    values = base + scale * rng.uniform(0.01, 1.0, budget) * np.linspace(1, 0.1, budget)
                    runs.append(RunResult(p, s, seed, values.tolist(), [0.001] * budget, 1.0))
    return BenchResult(plan, {p: infos[p] for p in problems}, runs, timings or [], machine={"cpus": 2})


def test_targets_na_without_gp(tmp_path: Path) -> None:
    bench = _synthetic_result(("tpe", "random", "sobol"))
    targets = evaluate_targets(bench)
    assert len(targets) == 4 and all(t.status == "n/a" for t in targets)
    md = write_samplers_report(bench, tmp_path)
    text = md.read_text()
    assert text.split("## Targets", 1)[1].count("**n/a**") == 4
    assert (tmp_path / "samplers_regret.png").stat().st_size > 0
    assert "10/20/30" not in text and "3/6/9" in text


def test_targets_met_and_not_met() -> None:
    fast = [TimingResult("gp", 500, [0.4, 0.5, 0.6]), TimingResult("gp", 1000, [1.0, 2.0, 2.5])]
    good = _synthetic_result(("gp", "tpe", "random"), quality={"gp": 3.0, "tpe": 1.0}, timings=fast)
    assert [t.status for t in evaluate_targets(good)] == ["met"] * 4
    slow = [TimingResult("gp", 500, [1.5, 2.0, 2.5]), TimingResult("gp", 1000, [], error="skipped")]
    bad = _synthetic_result(("gp", "tpe", "random"), quality={"gp": 0.0, "tpe": 3.0}, timings=slow)
    assert [t.status for t in evaluate_targets(bad)] == ["not met"] * 4
    no_timing = _synthetic_result(("gp", "random"), quality={"gp": 3.0})
    assert [t.status for t in evaluate_targets(no_timing)] == ["n/a", "met", "n/a", "n/a"]


def test_failed_runs_are_reported_without_paths(tmp_path: Path) -> None:
    bench = _synthetic_result(("tpe", "random"))
    bench.runs.append(RunResult("branin", "gp", 0, [], [], 0.1, error="Traceback ...\nValueError: bad /some/dir/file.py"))
    text = write_samplers_report(bench, tmp_path).read_text()
    assert "Failed runs" in text and "ValueError: bad .../file.py" in text


def test_default_samplers(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.samplers import registry

    monkeypatch.delitem(registry.SAMPLERS._factories, "gp", raising=False)
    monkeypatch.delitem(registry.SAMPLERS._factories, "ensemble", raising=False)
    assert default_samplers() == ["tpe", "optuna-gp", "random", "sobol"]
    assert default_samplers(quick=True) == ["random", "sobol", "tpe"]
    monkeypatch.setitem(registry.SAMPLERS._factories, "gp", registry.SAMPLERS._factories["random"])
    assert default_samplers() == ["gp", "tpe", "optuna-gp", "random", "sobol"]
    monkeypatch.setitem(registry.SAMPLERS._factories, "ensemble", registry.SAMPLERS._factories["random"])
    assert default_samplers() == ["gp", "ensemble", "tpe", "optuna-gp", "random", "sobol"]
    assert default_samplers(quick=True) == ["gp", "random", "sobol", "tpe"]


def test_runs_log_resumes_an_interrupted_run(tmp_path: Path) -> None:
    from hpo.bench.samplers_bench import load_runs_log, make_plan, run_studies

    log = tmp_path / "runs.jsonl"
    small = make_plan(quick=True, samplers=["random"], problems=["branin"], seeds=2, budget=4)
    first = run_studies(small, tmp_path, progress=False, log=log)
    assert len(first) == 2 and len(log.read_text().splitlines()) == 2
    bigger = make_plan(quick=True, samplers=["random", "sobol"], problems=["branin"], seeds=2, budget=4)
    assert {(r.sampler, r.seed) for r in load_runs_log(log, bigger)} == {("random", 0), ("random", 1)}
    second = run_studies(bigger, tmp_path, progress=False, log=log)
    assert [(r.sampler, r.seed) for r in second] == [("random", 0), ("random", 1), ("sobol", 0), ("sobol", 1)]
    assert [r.values for r in second[:2]] == [r.values for r in first]  # read back, not run again
    assert len(log.read_text().splitlines()) == 4
    other_budget = make_plan(quick=True, samplers=["random"], problems=["branin"], seeds=2, budget=5)
    assert load_runs_log(log, other_budget) == []

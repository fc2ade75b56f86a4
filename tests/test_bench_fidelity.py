"""``hpo bench fidelity`` and the simulated backend: the quick run writes its report; the
problems, the simulated clock, regret and time-to-target are right."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import hpo
from hpo.bench import run_benchmark
from hpo.bench.fidelity_bench import FidelityRun, regret_on_grid, time_to_target
from hpo.bench.fidelity_problems import CURVE_PROBLEMS, get_curve_problem
from hpo.errors import ConfigError
from hpo.records import TrialState
from hpo.bench.fidelity_problems import CurveProblem, report_steps
from hpo.execution.simulated import BUDGET_SPENT, SimulatedExecutor


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench-fidelity")
    return run_benchmark("fidelity", quick=True, output_dir=out, seeds=1,
                         problems=["augmented-branin", "mlp-digits"],
                         methods=["random-full", "asha-random", "asha-bo", "mfbo-mes"])


def test_quick_run_writes_report_with_tables_and_plot(quick_report: Path) -> None:
    text = quick_report.read_text()
    assert quick_report.name == "fidelity.md"
    for heading in ("## augmented-branin", "## mlp-digits", "## Targets"):
        assert heading in text
    assert "| asha-bo |" in text and "| mfbo-mes |" in text
    assert "studies failed" not in text
    png = quick_report.parent / "fidelity_regret.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(quick_report.parent) not in text


def test_problems_have_their_published_optima_and_fidelity_bias() -> None:
    branin = get_curve_problem("augmented-branin")
    assert branin.optimum() == pytest.approx(0.397887)
    best = {"x0": -math.pi, "x1": 12.275}
    assert branin.loss(best, 27) == pytest.approx(0.397887, abs=1e-5)  # s = 1: the original Branin
    assert branin.loss(best, 1) != pytest.approx(branin.loss(best, 27))  # s = 0: biased
    hartmann = get_curve_problem("augmented-hartmann")
    x_star = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
    assert hartmann.loss({f"x{i}": v for i, v in enumerate(x_star)}, 27) == pytest.approx(-3.32237, abs=1e-4)
    assert set(CURVE_PROBLEMS) == {"augmented-branin", "augmented-hartmann", "synthetic-curves", "mlp-digits"}


def test_mlp_digits_trains_for_real_and_lazily() -> None:
    mlp = get_curve_problem("mlp-digits")
    params = {"lr": 3e-3, "weight_decay": 1e-5, "width": 64, "batch_size": 32, "dropout": 0.1}
    first = mlp.loss(params, 1)
    assert len(mlp._runs[repr(sorted(params.items()))][2]) == 1  # one epoch trained, no more
    later = mlp.loss(params, 8)
    assert later < first and later < 0.1  # digits is easy: under 10% error after 8 epochs
    assert mlp.loss(params, 1) == first  # a repeated question is answered from the run


class _Linear(CurveProblem):
    """loss = x / step; each epoch takes 2 simulated seconds."""

    name = "linear"

    def __init__(self) -> None:
        self.space = hpo.SearchSpace({"x": hpo.Float(1.0, 2.0)})
        self.fidelity = hpo.Fidelity("epochs", 1, 4)

    def loss(self, params, step):  # type: ignore[no-untyped-def]
        return params["x"] / step

    def step_time(self, params, step):  # type: ignore[no-untyped-def]
        return 2.0


def test_simulated_clock_and_resource(tmp_path: Path) -> None:
    problem = _Linear()
    study = hpo.create_study(space=problem.space, fidelity=problem.fidelity, sampler="random", seed=0,
                             storage=f"sqlite:///{tmp_path / 's.db'}")
    executor = SimulatedExecutor(problem)
    study.optimize(problem, n_trials=5, n_workers=2, backend=executor, show_progress_bar=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    assert executor.resource == 5 * 4  # 5 trials x 4 epochs
    assert executor.clock == pytest.approx(3 * 4 * 2)  # 2 workers: trials 1-2, 3-4, then 5, 8 s each
    reports = study.store.get_reports(study.study_id, [0])
    assert [r.step for r in reports] == [1, 2, 3, 4]
    assert [r.values["sim_time"] for r in reports] == [2, 4, 6, 8]
    assert study.trials[0].value == pytest.approx(study.trials[0].params["x"] / 4)


def test_simulated_budget_stops_running_trials(tmp_path: Path) -> None:
    problem = _Linear()
    study = hpo.create_study(space=problem.space, fidelity=problem.fidelity, sampler="random", seed=0,
                             storage=f"sqlite:///{tmp_path / 's.db'}")
    executor = SimulatedExecutor(problem, max_resource=6)
    study.optimize(problem, n_trials=None, n_workers=2, backend=executor, show_progress_bar=False)
    assert executor.resource == 6
    assert [t.state for t in study.trials] == [TrialState.PRUNED, TrialState.PRUNED]  # 3 epochs each, cut
    assert {t.error for t in study.trials} == {BUDGET_SPENT}
    with pytest.raises(ConfigError, match="n_trials, max_time or max_resource"):
        study.optimize(problem, n_trials=None, backend=SimulatedExecutor(problem), show_progress_bar=False)


def test_report_steps() -> None:
    epochs = hpo.Fidelity("epochs", 1, 9)
    assert report_steps(epochs, 0, 3) == [1, 2, 3] and report_steps(epochs, 3, 9) == [4, 5, 6, 7, 8, 9]
    frac = hpo.Fidelity("fraction", 0.1, 1.0)
    steps = report_steps(frac, 0, 0.5, n_grid=10)
    assert steps[-1] == 0.5 and all(0 < s <= 0.5 for s in steps)


def test_regret_and_time_to_target() -> None:
    run = FidelityRun("p", "asha-random", 0, cost=[1.0, 2.0, 4.0], incumbent=[3.0, 2.0, 1.5])
    assert time_to_target(run, reference=1.0, target=1.0) == 2.0
    assert time_to_target(run, reference=1.0, target=0.1) == math.inf
    grid = regret_on_grid(run, 1.0, [0.5, 1.0, 3.0, 5.0])
    assert grid[0] == math.inf and list(grid[1:]) == [2.0, 1.0, 0.5]

"""hpo.visualization (Optuna's plot names over an hpo study) and hpo.importance (Optuna's evaluators)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("plotly")

import hpo  # noqa: E402
import hpo.importance  # noqa: E402
import hpo.visualization as vis  # noqa: E402
from hpo.errors import ConfigError  # noqa: E402

SPACE = {
    "x": hpo.Float(0.0, 1.0),
    "n": hpo.Int(1, 5),
    "opt": hpo.Categorical(["sgd", "adam"]),
    "momentum": hpo.Float(1e-3, 1.0, log=True, active_if={"opt": ["sgd"]}),
}


def _objective(trial: hpo.Trial) -> float:
    for step in range(3):
        trial.report(step, 10 * trial["x"] + step)
    return 10 * trial["x"] + 0.1 * trial["n"] + (0.05 if trial["opt"] == "sgd" else 0.0)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> hpo.Study:
    url = f"sqlite:///{tmp_path_factory.mktemp('vis')}/vis.db"
    s = hpo.create_study(name="vis", space=SPACE, storage=url, sampler="random", seed=0)
    s.optimize(_objective, n_trials=30, show_progress_bar=False)
    return s


@pytest.fixture(scope="module")
def multi(study: hpo.Study) -> hpo.Study:
    s = hpo.create_study(name="multi", space=SPACE, objectives={"a": "minimize", "b": "maximize"},
                         storage=study.store.url, sampler="random", seed=1)
    s.optimize(lambda t: {"a": t["x"], "b": t["x"] ** 2 + t["n"]}, n_trials=12, show_progress_bar=False)
    return s


def _types(fig: object) -> list[str]:
    return [t.type for t in fig.data]  # type: ignore[attr-defined]


def test_every_plot_returns_a_figure_with_its_traces(study: hpo.Study, multi: hpo.Study) -> None:
    n_done = sum(t.state.value == "COMPLETE" for t in study.trials)
    fig = vis.plot_optimization_history(study)
    assert _types(fig) == ["scattergl", "scatter"] and len(fig.data[0].x) == n_done
    assert _types(vis.plot_param_importances(study)) == ["bar"]
    fig = vis.plot_parallel_coordinate(study)
    assert _types(fig) == ["parcoords"] and len(fig.data[0].dimensions) == 5  # 4 params + the objective
    fig = vis.plot_slice(study, params=["x", "n"])
    assert _types(fig) == ["scattergl", "scattergl"]
    assert _types(vis.plot_contour(study)) == ["contour", "scatter"]
    fig = vis.plot_intermediate_values(study)
    assert set(_types(fig)) == {"scattergl"} and len(fig.data) == len(study.trials)
    fig = vis.plot_timeline(study)
    assert _types(fig) == ["bar"] and len(fig.data[0].y) == len(study.trials)
    fig = vis.plot_pareto_front(multi)
    assert [t.name for t in fig.data] == ["dominated", "Pareto front"]
    assert len(fig.data[1].x) == len(multi.pareto_front())


def test_target_and_target_name(study: hpo.Study, multi: hpo.Study) -> None:
    fig = vis.plot_optimization_history(study, target=lambda t: t.params["n"], target_name="n only")
    assert fig.layout.title.text.startswith("Optimisation history: n only")
    assert sorted(fig.data[0].y) == sorted(t.params["n"] for t in study.trials if t.state.value == "COMPLETE")
    fig = vis.plot_optimization_history(multi, objective="b")
    assert fig.layout.title.text.startswith("Optimisation history: b (maximize)")
    with pytest.raises(ConfigError, match=r"several objectives \['a', 'b'\]"):
        vis.plot_slice(multi)
    with pytest.raises(ConfigError, match="params: every name must be a parameter"):
        vis.plot_contour(study, params=["x", "nosuch"])


def test_parallel_coordinates_keep_inactive_conditional_trials(study: hpo.Study) -> None:
    fig = vis.plot_parallel_coordinate(study)
    dims = {d.label: d for d in fig.data[0].dimensions}
    momentum = dims["momentum (log)"]
    n_adam = sum(t.params["opt"] == "adam" for t in study.trials if t.state.value == "COMPLETE")
    assert n_adam > 0
    assert list(momentum.ticktext)[0] == "inactive"
    inactive = momentum.tickvals[0]
    assert sum(v == inactive for v in momentum.values) == n_adam  # drawn on the inactive level, not NaN
    assert all(v == v for d in fig.data[0].dimensions for v in d.values)  # no NaN anywhere: every line drawn
    assert fig.data[0].line.showscale and fig.data[0].line.colorbar.title.text == "value"


def test_importance_ranks_the_dominant_parameter_first(study: hpo.Study) -> None:
    for evaluator in (None, "ped_anova", "mean_decrease_impurity"):
        imp = hpo.importance.get_param_importances(study, evaluator=evaluator)
        assert next(iter(imp)) == "x", (evaluator, imp)
        assert sum(imp.values()) == pytest.approx(1.0)
    assert set(hpo.importance.get_param_importances(study, params=["n", "opt"])) == {"n", "opt"}
    imp = hpo.importance.get_param_importances(study, target=lambda t: -t.params["n"])
    assert next(iter(imp)) == "n"
    with pytest.raises(ConfigError, match="evaluator: must be one of"):
        hpo.importance.get_param_importances(study, evaluator="shap")


def test_importance_of_a_multi_objective_study_needs_a_target(multi: hpo.Study) -> None:
    with pytest.raises(ConfigError, match="several objectives"):
        hpo.importance.get_param_importances(multi)
    assert next(iter(hpo.importance.get_param_importances(multi, objective="a"))) == "x"


def test_without_plotly_the_error_names_the_extra(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['plotly'] = None\n"
            "import hpo, hpo.visualization as vis\n"
            "try:\n    vis.plot_timeline(None)\nexcept hpo.errors.ConfigError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "pip install 'hpo-platform[dashboard]'" in out.stdout


def test_import_hpo_does_not_import_plotly_or_optuna() -> None:
    code = ("import hpo, sys; hpo.visualization; hpo.importance; "
            "print(sorted(m for m in ('plotly', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

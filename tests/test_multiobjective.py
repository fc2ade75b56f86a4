"""Multi-objective and constrained optimisation: Pareto front, hypervolume (brute force), its
incremental history, feasibility of recommendations, multi-objective BO and ``hpo bench multiobjective``."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpo
from hpo.errors import ObjectiveError, SamplerError
from hpo.hypervolume import (
    HypervolumeTracker,
    hypervolume,
    hypervolume_history,
    infer_reference_point,
    trials_hypervolume_history,
)
from hpo.records import TrialState
from hpo.results import non_dominated
from hpo.samplers import make_sampler
from hpo.samplers.bo import BOSampler

SPACE = {"x1": hpo.Float(0.0, 1.0), "x2": hpo.Float(0.0, 1.0)}
FAST = {"n_initial": 4, "num_restarts": 2, "raw_samples": 32, "mc_samples": 16}


# -- brute force -------------------------------------------------------------------------
def _brute_front(y: np.ndarray) -> np.ndarray:
    """Mask of points that no other point dominates (minimisation), by the definition."""
    n = len(y)
    return np.array([not any(np.all(y[j] <= y[i]) and np.any(y[j] < y[i]) for j in range(n)) for i in range(n)])


def _brute_hv(y: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by inclusion-exclusion over the subsets of the points inside the box."""
    pts = [p for p in y if np.all(p < ref)]
    total = 0.0
    for r in range(1, len(pts) + 1):
        for subset in itertools.combinations(pts, r):
            corner = np.max(subset, axis=0)
            total += (-1) ** (r + 1) * float(np.prod(ref - corner))
    return total


def _points(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Points on a coarse grid (ties) with some exact duplicates."""
    y = rng.integers(0, 6, size=(n, k)).astype(float)
    y[-2:] = y[:2]
    return y


@pytest.mark.parametrize("k", [2, 3])
def test_pareto_front_and_hypervolume_match_brute_force(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(20):
        y = _points(rng, 10, k)
        np.testing.assert_array_equal(non_dominated(y), _brute_front(y))
        ref = np.full(k, 5.5) - rng.integers(0, 2, size=k)  # some points fall outside the box
        assert hypervolume(y, ref) == pytest.approx(_brute_hv(y, ref), abs=1e-9)
    assert hypervolume(np.empty((0, k)), np.ones(k)) == 0.0


@pytest.mark.parametrize("k", [2, 3])
def test_incremental_history_equals_from_scratch(k: int) -> None:
    rng = np.random.default_rng(10 + k)
    y = np.vstack([_points(rng, 12, k), rng.uniform(0, 6, size=(12, k))])
    feasible = rng.uniform(size=len(y)) < 0.8
    ref = infer_reference_point(y)
    tracker = HypervolumeTracker(ref)
    for i, (p, ok) in enumerate(zip(y, feasible)):
        hv = tracker.add(p, feasible=bool(ok), key=i)
        prefix = y[: i + 1][feasible[: i + 1]]
        assert hv == pytest.approx(_brute_hv(prefix, ref) if len(prefix) <= 12 else hypervolume(prefix, ref), rel=1e-9)
        on_front = prefix[non_dominated(prefix)] if len(prefix) else prefix
        assert {tuple(p) for p in tracker.front} == {tuple(p) for p in on_front if np.all(p < ref)}


def _study(tmp_path: Path, name: str = "mo", **kwargs: Any) -> hpo.Study:
    kwargs.setdefault("objectives", {"loss": "minimize", "acc": "maximize"})
    kwargs.setdefault("sampler", "random")
    return hpo.create_study(name=name, space=kwargs.pop("space", SPACE), storage=f"sqlite:///{tmp_path}/{name}.db",
                            seed=0, **kwargs)


def test_study_pareto_front_history_and_constraints(tmp_path: Path) -> None:
    """Directions, constraints, ties: the study's front and history equal brute force on the feasible trials."""
    study = _study(tmp_path, constraints={"mem": ("<=", 3.0)})
    rng = np.random.default_rng(0)
    told = []
    for _ in range(30):
        t = study.ask()
        loss, acc, mem = (float(v) for v in rng.integers(0, 5, size=3))
        study.tell(t, {"loss": loss, "acc": acc, "mem": mem})
        told.append((loss, -acc, mem <= 3.0))
    study.tell(study.ask(), state="FAILED")
    y = np.array([[a, b] for a, b, _ in told])
    ok = np.array([f for *_, f in told])
    front = study.pareto_front()
    assert front and all(t.is_feasible(study.constraints) for t in front)
    expected = {i for i in np.flatnonzero(ok)[_brute_front(y[ok])]}
    assert {t.number for t in front} == expected
    history = hypervolume_history(study)
    ref = infer_reference_point(y[ok])
    assert history.ref_point == {"loss": ref[0], "acc": -ref[1]}
    assert len(history.values) == 30 and history.numbers == list(range(30))
    for i in range(30):
        prefix = y[: i + 1][ok[: i + 1]]
        assert history.values[i] == pytest.approx(hypervolume(prefix, ref), rel=1e-9)
    assert set(history.front_numbers) <= expected
    assert study.hypervolume_history().values == history.values  # the Study method is the same history
    given = hypervolume_history(study, ref_point={"loss": 4.0, "acc": 0.0})
    assert given.values[-1] == pytest.approx(_brute_hv(y[ok], np.array([4.0, 0.0])))
    with pytest.raises(ObjectiveError, match=r"expected a value for each objective \['loss', 'acc'\]"):
        hypervolume_history(study, ref_point={"loss": 1.0})


def test_cached_history_only_adds_new_trials(tmp_path: Path) -> None:
    study = _study(tmp_path)
    rng = np.random.default_rng(1)

    def tell(n: int) -> None:
        for _ in range(n):
            study.tell(study.ask(), {"loss": float(rng.uniform()), "acc": float(rng.uniform())})

    tell(10)
    ref = {"loss": 2.0, "acc": -1.0}
    first = hypervolume_history(study, ref_point=ref)
    tell(10)
    second = hypervolume_history(study, ref_point=ref)
    scratch = trials_hypervolume_history(study.trials, study.objectives, study.constraints, ref)  # no cache
    assert second.values[:10] == first.values and second.values == pytest.approx(scratch.values, rel=1e-12)
    assert second.front_numbers == scratch.front_numbers


def test_best_trial_and_front_never_infeasible(tmp_path: Path) -> None:
    single = _study(tmp_path, "single", objectives="minimize", constraints={"mem": ("<=", 1.0)})
    for value, mem in [(0.0, 5.0), (1.0, 1.0), (2.0, 0.5), (-1.0, 1.5)]:
        single.tell(single.ask(), {"value": value, "mem": mem})
    assert single.best_trial.values["value"] == 1.0
    assert all(t.is_feasible(single.constraints) for t in single.trials if t.number in (1, 2))
    infeasible = [t for t in single.trials if not t.is_feasible(single.constraints)]
    assert len(infeasible) == 2 and all(t.state is TrialState.COMPLETE for t in infeasible)  # kept, marked
    assert single.trials_dataframe()["feasible"].tolist() == [False, True, True, False]  # and in the export


@pytest.mark.parametrize("acquisition", ["auto", "ehvi"])
def test_constrained_mo_bo_recommends_feasible_trials(tmp_path: Path, acquisition: str) -> None:
    study = _study(tmp_path, sampler=make_sampler("gp", acquisition=acquisition, **FAST),
                   constraints={"c": ("<=", 0.8)})

    def objective(trial: hpo.Trial) -> dict[str, float]:
        x1, x2 = trial["x1"], trial["x2"]
        return {"loss": x1, "acc": 1 - (1 - x1) ** 2 - x2, "c": x1 + x2}

    with _no_fallback():
        study.optimize(objective, n_trials=9, show_progress_bar=False)
    front = study.pareto_front()
    assert front and all(t.constraint_values["c"] <= 0.8 for t in front)
    assert any(t.constraint_values["c"] > 0.8 for t in study.trials)  # infeasible ones are kept


# -- the BO sampler with several objectives ---------------------------------------------------
def _two_objectives(trial: hpo.Trial) -> dict[str, float]:
    x1, x2 = trial["x1"], trial["x2"]
    return {"loss": (x1 - 0.2) ** 2 + x2, "acc": -((x1 - 0.8) ** 2) - (1 - x2) ** 2}


@pytest.mark.parametrize("surrogate", ["gp", "ensemble"])
@pytest.mark.parametrize("acquisition", ["nehvi", "ehvi", "parego"])
def test_mo_bo_runs_with_each_surrogate(tmp_path: Path, surrogate: str, acquisition: str) -> None:
    extra = {"surrogate_options": {"steps": 60, "n_members": 4}} if surrogate == "ensemble" else {}
    sampler = make_sampler(surrogate, acquisition=acquisition, **FAST, **extra)
    study = _study(tmp_path, sampler=sampler)
    with _no_fallback():
        study.optimize(_two_objectives, n_trials=7, show_progress_bar=False)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert len({(t.params["x1"], t.params["x2"]) for t in study.trials}) == 7


class _no_fallback:
    """Fails the test when the BO step fell back to random suggestions."""

    def __enter__(self) -> None:
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self._log = self._cm.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)
        fallbacks = [str(w.message) for w in self._log if "suggesting random" in str(w.message)]
        assert not fallbacks, fallbacks


@pytest.mark.parametrize("acquisition", ["nehvi", "ehvi", "parego"])
def test_parallel_suggestions_are_distinct(tmp_path: Path, acquisition: str) -> None:
    study = _study(tmp_path, sampler=make_sampler("gp", acquisition=acquisition, **FAST))
    study.optimize(_two_objectives, n_trials=5, show_progress_bar=False)
    context = study.sampling_context(study.store.reserve_numbers(study.study_id, 3))
    with _no_fallback():
        batch = study.sampler.suggest_batch(context, 3)  # one q = 3 batch
    assert len({tuple(sorted(p.items())) for p in batch}) == 3
    with _no_fallback():
        running = [study.ask() for _ in range(3)]  # concurrent workers: the others are pending
    assert len({(t.params["x1"], t.params["x2"]) for t in running}) == 3


@pytest.mark.parametrize("acquisition", ["nehvi", "ehvi"])
def test_a_pending_point_moves_the_hypervolume_suggestion(tmp_path: Path, acquisition: str) -> None:
    study = _study(tmp_path, sampler=make_sampler("gp", acquisition=acquisition, **FAST))
    study.optimize(_two_objectives, n_trials=6, show_progress_bar=False)
    context = study.sampling_context(study.store.reserve_numbers(study.study_id, 1))
    first = study.sampler.suggest(context)
    moved = study.sampler.suggest(dataclasses.replace(context, pending=[first]))
    assert math.dist(first.values(), moved.values()) > 1e-3


@pytest.mark.parametrize("acquisition", ["nehvi", "ehvi", "parego"])
def test_seeded_mo_study_replays(tmp_path: Path, acquisition: str) -> None:
    runs = []
    for name in ("a", "b"):
        study = _study(tmp_path, name, sampler=make_sampler("gp", acquisition=acquisition, **FAST))
        study.optimize(_two_objectives, n_trials=6, show_progress_bar=False)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_default_sampler_of_several_objectives_is_qlognehvi(tmp_path: Path) -> None:
    study = _study(tmp_path, sampler=None)
    assert isinstance(study.sampler, BOSampler) and study.sampler.surrogate.name == "gp"
    assert study.sampler.resolved_acquisition(2) == "nehvi" and study.sampler.resolved_acquisition(1) == "logei"
    assert hpo.study.default_sampler(2) == hpo.study.DEFAULT_MULTI_OBJECTIVE_SAMPLER == "gp"


@pytest.mark.parametrize("objectives, acquisition, built", [
    ("minimize", "auto", "qLogNoisyExpectedImprovement"),
    ({"loss": "minimize", "acc": "maximize"}, "auto", "qLogNoisyExpectedHypervolumeImprovement"),
    ({"loss": "minimize", "acc": "maximize"}, "parego", "qLogNoisyExpectedImprovement"),
    ({"loss": "minimize", "acc": "maximize"}, "ehvi", "qLogExpectedHypervolumeImprovement"),
])
def test_the_acquisition_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, objectives: Any, acquisition: str,
                               built: str) -> None:
    study = _study(tmp_path, objectives=objectives, sampler=make_sampler("gp", acquisition=acquisition, **FAST))
    single = isinstance(objectives, str)
    study.optimize(lambda t: t["x1"] if single else _two_objectives(t), n_trials=4, show_progress_bar=False)
    seen: list[str] = []
    optimize = BOSampler._optimize
    monkeypatch.setattr(BOSampler, "_optimize",
                        lambda self, acqf, *args: seen.append(type(acqf).__name__) or optimize(self, acqf, *args))
    study.ask()
    assert seen == [built]


def test_user_reference_point_is_used_and_mapped_like_the_data() -> None:
    import torch

    from hpo.samplers.mo_acquisition import model_ref_point, warp_value

    raw = np.array([-3.0, -1.0, 0.0, 2.0])
    warped = np.array([-1.5, -0.4, 0.1, 1.2])
    assert warp_value(raw, warped, -1.0) == pytest.approx(-0.4)
    assert warp_value(raw, warped, -0.5) == pytest.approx(-0.15)
    assert warp_value(raw, warped, -5.0) < -1.5  # below the data: extrapolated, still lower
    Y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.2, 0.2], [-1.0, -1.0]], dtype=torch.float64)
    feasible = torch.tensor([True, True, True, False])
    inferred = model_ref_point(Y, feasible)
    assert inferred.tolist() == pytest.approx([-0.1, -0.1])  # nadir of the feasible front minus 10% of its range
    assert model_ref_point(Y, feasible, [None, -3.0]).tolist() == pytest.approx([-0.1, -3.0])


@pytest.mark.parametrize(
    "objectives, options, match",
    [
        ({"a": "minimize", "b": "minimize"}, {"acquisition": "ucb"},
         r"handles one objective.*valid acquisitions for several objectives: \['auto', 'ehvi', 'nehvi', 'parego'\]"),
        ("minimize", {"acquisition": "parego"}, r"is for several objectives.*\['auto', 'kg', 'logei', 'mes', 'ucb'\]"),
        ({"a": "minimize", "b": "minimize"}, {"ref_point": {"c": 1.0}}, r"ref_point names \['c'\].*\['a', 'b'\]"),
    ],
)
def test_invalid_combinations_are_refused(tmp_path: Path, objectives: Any, options: dict, match: str) -> None:
    study = _study(tmp_path, objectives=objectives, sampler=make_sampler("gp", n_initial=1, **options))
    with pytest.raises(SamplerError, match=match):
        study.ask()
    assert study.trials == []


def test_invalid_reference_point_option() -> None:
    with pytest.raises(SamplerError, match=r"ref_point\['a'\] must be a finite number"):
        make_sampler("gp", ref_point={"a": "high"})
    with pytest.raises(SamplerError, match="valid acquisitions"):
        make_sampler("gp", acquisition="hvi")


# -- hpo bench multiobjective ------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hpo.bench import run_benchmark

    out = tmp_path_factory.mktemp("bench-mo")
    return run_benchmark("multiobjective", quick=True, output_dir=out, runs_log=str(out / "runs.jsonl"))


def test_quick_bench_writes_the_report(quick_report: Path) -> None:
    text = quick_report.read_text()
    assert quick_report.name == "multiobjective.md"
    for needle in ("## Final table", "reference point", "branin-currin", "c2dtlz2", "gp", "nsga2",
                   "## Target", "multiobjective_hv.png"):
        assert needle in text, needle
    assert (quick_report.parent / "multiobjective_hv.png").stat().st_size > 0
    assert "## Failed runs" not in text
    assert str(quick_report.parent) not in text
    runs = (quick_report.parent / "runs.jsonl").read_text().splitlines()
    assert len(runs) == 2 * 4  # 2 problems x 4 methods x 1 seed


def test_bench_problems_are_right() -> None:
    from hpo.bench.mo_problems import MO_PROBLEM_NAMES, get_mo_problem

    assert len(MO_PROBLEM_NAMES) == 6
    dtlz2_4 = get_mo_problem("dtlz2-4")
    assert len(dtlz2_4.objectives) == 4 and dtlz2_4.max_hv == pytest.approx(1.1**4 - math.pi**2 / 32)
    dtlz2 = get_mo_problem("dtlz2")
    assert len(dtlz2.objectives) == 3 and dtlz2.max_hv == pytest.approx(1.1**3 - math.pi / 6)
    on_front = dtlz2.evaluate({f"x{i}": 0.5 for i in range(6)})  # x_M = 0.5: on the unit sphere
    assert sum(on_front[o] ** 2 for o in dtlz2.objectives) == pytest.approx(1.0)
    c2 = get_mo_problem("c2dtlz2")
    assert c2.constraints == {"slack": (">=", 0.0)} and "slack" in c2.evaluate({f"x{i}": 0.5 for i in range(6)})
    mlp = get_mo_problem("mlp-digits").evaluate({"width": 8, "layers": 1, "lr": 0.01})
    assert 0 <= mlp["error"] < 0.5 and mlp["log10_params"] == pytest.approx(math.log10(64 * 8 + 8 + 8 * 10 + 10))


def test_dashboard_history_is_incremental_and_matches_scratch(tmp_path: Path) -> None:
    import pandas as pd

    from hpo.dashboard import analysis

    study = _study(tmp_path)
    rng = np.random.default_rng(3)
    for _ in range(40):
        study.tell(study.ask(), {"loss": float(rng.uniform()), "acc": float(rng.uniform())})
    done = study.trials_dataframe()
    objectives = study.objectives
    first = analysis.hypervolume_history(done.iloc[:20], objectives, cache_key=("url", "mo"))
    later = analysis.hypervolume_history(done, objectives, n_points=40, cache_key=("url", "mo"))
    scratch = analysis.hypervolume_history(done, objectives, n_points=40)
    pd.testing.assert_frame_equal(later, scratch)
    history = hypervolume_history(study, ref_point=later.attrs["ref_point"])
    assert later["hypervolume"].tolist() == pytest.approx(history.values, rel=1e-12)
    assert len(first) == 20


def test_report_from_an_interrupted_log_uses_paired_seeds_and_checks_the_target(tmp_path: Path) -> None:
    import dataclasses as dc
    import json

    from hpo.bench.multiobjective_report import report_from_log
    from hpo.bench.samplers_bench import RunResult

    final = {"gp": 59.0, "parego": 58.0, "nsga2": 57.0, "motpe": 58.5, "random": 50.0}
    lines = []
    for seed in (0, 1):
        for method, hv in final.items():
            if seed == 1 and method == "random":
                continue  # seed 1 is not finished by every method: left out
            values = list(np.linspace(10.0, hv, 60))
            lines.append(RunResult("branin-currin", method, seed, values, [0.1], 1.0, extra={"front": [[1.0, 1.0]]}))
    log = tmp_path / "runs.jsonl"
    log.write_text("\n".join(json.dumps(dc.asdict(r)) for r in lines) + "\n")
    text = report_from_log(log, tmp_path).read_text()
    assert "Seeds finished by every method, per problem: branin-currin 1, dtlz2 0" in text
    assert "| branin-currin | gp | 1 | **59 [59, 59]** |" in text
    assert "branin-currin: 59 vs NSGA-II 57, MOTPE 58.5" in text and "**not met**" in text  # other problems missing

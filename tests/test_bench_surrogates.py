"""``hpo bench surrogates``: a tiny run writes its report and resumes from its runs log; the
problems know their optima; the findings and targets are computed from the numbers."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpo.bench.samplers_bench import BenchPlan, BenchResult, RunResult, TimingResult, run_studies
from hpo.bench.surrogate_problems import HIGH_DIM, SURROGATE_PROBLEMS, get_surrogate_problem
from hpo.bench.surrogates_bench import available_methods, make_surrogate_plan, run_surrogate_job
from hpo.bench.surrogates_report import findings, final_scores, ranks, score_curves


def test_tiny_run_from_the_command_line_writes_the_report_and_resumes(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    cmd = [sys.executable, "-m", "hpo.cli", "bench", "surrogates", "--quick", "--output-dir", str(tmp_path / "out"),
           "--methods", "gp,no-such-method,random", "--runs-log", str(log), "--processes", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipping method(s) ['no-such-method']" in done.stdout
    text = (tmp_path / "out" / "surrogates.md").read_text()
    for heading in ("## Problems", "## Median final log10 regret", "## Ranks", "## Time per suggestion",
                    "## Findings and targets"):
        assert heading in text
    assert "| branin | " in text and "| branin-currin | " in text and "**mean rank**" in text
    assert "| method | n=8 | n=12 |" in text
    assert "Target: ensemble ranks above random on at least 6 problems" in text
    assert str(tmp_path) not in text and "Failed runs" not in text
    png = tmp_path / "out" / "surrogates_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((r["problem"], r["sampler"]) for r in lines) == sorted(
        (p, m) for p in ("branin", "branin-currin") for m in ("gp", "random"))
    assert all(len(r["values"]) == 6 and r["error"] is None for r in lines)
    plan = make_surrogate_plan(quick=True, methods=["gp", "random"], processes=1)
    again = run_studies(plan, tmp_path, progress=False, log=log, run_job=run_surrogate_job)  # all in the log
    assert len(again) == len(lines) and len(log.read_text().splitlines()) == len(lines)


@pytest.mark.parametrize("name, optimum", [("hartmann6-in-30d", -3.32237), ("gramacy-lee-3d", 3 * -0.869011)])
def test_own_problems_know_their_optimum(name: str, optimum: float) -> None:
    problem = get_surrogate_problem(name)
    assert problem.optimum == pytest.approx(optimum, abs=1e-4)
    assert problem.objective(problem.minimiser) == pytest.approx(problem.optimum)
    rng = np.random.default_rng(0)
    for _ in range(200):  # nothing random is below the optimum
        params = {k: float(p.low + (p.high - p.low) * rng.random()) for k, p in problem.space.items()}
        assert problem.objective(params) >= problem.optimum - 1e-9


def test_problem_list_covers_the_protocol() -> None:
    dims = {name: len(get_surrogate_problem(name).space) for name in SURROGATE_PROBLEMS}
    assert sum(d >= HIGH_DIM for d in dims.values()) >= 2 and max(dims.values()) >= 30
    assert {"branin", "hartmann6", "ackley10", "branin-currin", "dtlz2", "mixed-hartmann3",
            "hgb-breast-cancer", "gramacy-lee-3d"} <= set(SURROGATE_PROBLEMS)
    plan = make_surrogate_plan(methods=["gp", "random"])
    assert len(plan.seeds) >= 5 and plan.timing_sizes == (50, 100, 200)


def test_unknown_methods_are_skipped_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert available_methods(["gp", "hmc-typo", "random"]) == ("gp", "random")
    assert "skipping method(s) ['hmc-typo']" in capsys.readouterr().out


def _result(finals: dict[str, dict[str, float]], times: dict[str, float]) -> BenchResult:
    """A made-up result whose final values are ``finals`` (problem -> method -> best value, optimum 0)."""
    from hpo.bench.problems import ProblemInfo

    problems = {p: ProblemInfo(p, p, 30 if p.startswith("high") else 2, 3, 0.0) for p in finals}
    methods = tuple(next(iter(finals.values())))
    runs = [RunResult(p, m, 0, [10.0, v, v], [], 0.0) for p, by in finals.items() for m, v in by.items()]
    plan = BenchPlan(tuple(finals), methods, (0,), {p: 3 for p in finals}, (100,))
    timings = [TimingResult(m, 100, [t]) for m, t in times.items()]
    return BenchResult(plan, problems, runs, timings)  # type: ignore[arg-type]


def test_findings_and_targets_are_computed_from_the_data() -> None:
    finals = {f"{kind}{i}": {"gp": 1e-1, "ibnn": 1e-2 if kind == "high" else 1.0, "ensemble": 1e-3 if i else 2.0,
                             "random": 1.0, "hmc": 1e-4 if kind == "low" else 5.0}
              for kind in ("high", "low") for i in range(4)}
    result = _result(finals, {"gp": 1.0, "ibnn": 1.5, "hmc": 25.0})
    scores = final_scores(result, score_curves(result))
    assert scores["high0"]["ibnn"] == pytest.approx(-2.0)
    status = {claim: s for claim, _, s in findings(result, scores, ranks(scores))}

    def of(text: str) -> str:
        (found,) = [s for claim, s in status.items() if text in claim]
        return found

    assert of("Finding 1: HMC") == "not met"  # hmc wins the low problems, ensemble three of the high ones: tie
    assert of("Finding 3: I-BNN beats the GP") == "met"
    assert of("Target: ibnn beats gp") == "met"
    assert of("Target: ensemble ranks above random") == "met"  # 6 of 8
    assert of("Target: ibnn time") == "met" and of("Target: hmc time") == "not met"
    assert of("Finding 4") == "met"
    assert of("Finding 2") == "not checked"  # dkl was not run
    assert of("Target: dkl time") == "not checked"


def test_ranks_share_ties() -> None:
    assert ranks({"p": {"a": 1.0, "b": 1.0, "c": 0.0}}) == {"p": {"a": 2.5, "b": 2.5, "c": 1.0}}
    assert math.isclose(ranks({"p": {"a": -1.0}})["p"]["a"], 1.0)

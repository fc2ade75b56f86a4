"""``hpo bench rl``: the quick run (tiny PPO agents) writes its report with every method's tuning/test
scores and gap, resumes from its runs log, and refuses unknown environments and methods."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hpo.errors import ConfigError

pytest.importorskip("stable_baselines3")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    os.environ.setdefault("HPO_THREADS", "1")
    from hpo.bench import run_benchmark

    out = tmp_path_factory.mktemp("bench-rl")
    return run_benchmark("rl", quick=True, output_dir=out, problems=["CartPole-v1"])


def test_quick_run_writes_report_with_every_method(quick_report: Path) -> None:
    from hpo.bench.rl_bench import METHODS

    text = quick_report.read_text()
    assert quick_report.name == "rl.md"
    for heading in ("## CartPole-v1", "## Single seed vs five seeds", "## Targets"):
        assert heading in text
    for method in METHODS:
        assert f"| {method} | 1 |" in text  # one repetition with an incumbent and its test score
    assert "studies failed" not in text
    assert "| the tuning/test gap is reported for every method | met |" in text
    assert (quick_report.parent / "rl_scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(quick_report.parent) not in text


def test_runs_log_holds_equal_step_budgets_and_test_scores(quick_report: Path) -> None:
    from hpo.bench.rl_bench import QUICK, RLRun, kendall_tau, load_runs

    runs = load_runs(quick_report.parent / "rl_runs_quick.jsonl")
    assert {r.method for r in runs} == {"gp", "tpe", "random", "asha", "pbt", "gp-1seed", "random-1seed"}
    budget = QUICK["full_trials"] * QUICK["steps"] * len(QUICK["tuning"])
    for run in runs:
        assert run.error is None
        # every method stops once the budget is spent; SB3 trains whole rollouts of 64 steps, so a study
        # may pass it by at most one trial's chunk
        assert budget <= run.steps_used <= budget + 64 * 2 * len(run.tuning_seeds)
        assert run.test_seeds == list(QUICK["test"])
        inc = run.configs[run.incumbent]
        assert inc["tuning"] == max(c["tuning"] for c in run.configs)
        assert all(1.0 <= c["test"] <= 500.0 for c in run.configs)  # quick: fewer configs than TEST_TOP_K
        assert set(inc["test_per_seed"]) == {str(s) for s in QUICK["test"]}
    assert next(r for r in runs if r.method == "gp-1seed").tuning_seeds == [0]
    two = RLRun("CartPole-v1", "gp", 0, configs=[{"tuning": 1.0, "test": 2.0}, {"tuning": 2.0, "test": 1.0}])
    assert math.isnan(kendall_tau(two))
    three = RLRun("CartPole-v1", "gp", 0, configs=[{"tuning": float(i), "test": float(i)} for i in range(3)])
    assert kendall_tau(three) == pytest.approx(1.0)


def test_rerun_resumes_from_the_runs_log(quick_report: Path) -> None:
    from hpo.bench.rl_bench import run_rl_benchmark

    log = quick_report.parent / "rl_runs_quick.jsonl"
    before = log.read_text()
    runs = run_rl_benchmark(["CartPole-v1"], ["gp"], 1, True, quick_report.parent, log, progress=False)
    assert log.read_text() == before  # nothing re-run
    assert [json.loads(line)["method"] for line in before.splitlines()].count("gp") == 1
    assert len(runs) == 1


def test_unknown_env_or_method_is_refused(tmp_path: Path) -> None:
    from hpo.bench.rl_bench import run_rl_benchmark

    for envs, methods, match in ((["Pong-v5"], ["gp"], "Pong-v5"), (["CartPole-v1"], ["bohb"], "bohb")):
        with pytest.raises(ConfigError, match=match):
            run_rl_benchmark(envs, methods, 1, True, tmp_path, tmp_path / "log.jsonl", progress=False)

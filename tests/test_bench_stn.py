"""``hpo bench stn``: the tasks' fixed splits and shared space, the plan's checks, the runs log and
resuming, the report and its target computed from the numbers; a tiny run end to end (needs hpo.stn)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpo.bench.stn_bench import METHODS, MethodRun, StnBenchResult, load_runs, make_stn_plan, run_stn_benchmark
from hpo.bench.stn_report import summary, targets, write_stn_report
from hpo.bench.stn_tasks import TASKS, get_task, interior, load_splits, run_fixed
from hpo.errors import ConfigError, UnknownNameError
from hpo.params import Float

MEANINGFUL = {"input_dropout", "noise", "scale", "cutout", "label_smoothing"}


@pytest.mark.parametrize("name", TASKS)
def test_splits_are_fixed_disjoint_and_cover_every_class(name: str) -> None:
    data = load_splits(name)
    again = load_splits.__wrapped__(name)  # built afresh, not the cached one
    for a, b in zip(dataclasses.astuple(data), dataclasses.astuple(again)):
        np.testing.assert_array_equal(a, b)
    shape = (1, 8, 8) if name == "digits-cnn" else (40,)
    for X, y in ((data.X_train, data.y_train), (data.X_val, data.y_val), (data.X_test, data.y_test)):
        assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape[1:] == shape and len(X) == len(y)
        assert set(np.unique(y)) == set(range(10))
    assert data.sizes() == ((1000, 400, 397) if name == "digits-cnn" else (3000, 1000, 1000))
    if name == "digits-cnn":  # the 1,797 images split without overlap
        assert sum(data.sizes()) == 1797 and 0.0 <= data.X_train.min() and data.X_train.max() <= 1.0


@pytest.mark.parametrize("name", TASKS)
def test_one_space_for_stn_and_black_box_with_initial_values_inside(name: str) -> None:
    task = get_task(name)
    space = task.space()
    assert set(space) == set(task.bounds) == set(task.initial)
    for key, param in space.items():
        assert isinstance(param, Float) and param.low < task.initial[key] < param.high
        assert key in MEANINGFUL or key.startswith("dropout_")  # names the STN models give a meaning
    assert interior(task, {k: p.low for k, p in space.items()}) == pytest.approx(
        {k: p.low + 1e-4 * (p.high - p.low) for k, p in space.items()})
    assert interior(task, {k: p.high for k, p in space.items()}) == pytest.approx(
        {k: p.high - 1e-4 * (p.high - p.low) for k, p in space.items()})


def test_bad_plans_and_params_are_typed_errors_naming_the_field() -> None:
    with pytest.raises(UnknownNameError, match="unknown task 'cifar'"):
        make_stn_plan(tasks=["cifar"])
    with pytest.raises(ConfigError, match="methods must be among"):
        make_stn_plan(methods=["stn", "tpe"])
    with pytest.raises(ConfigError, match="seconds > 0"):
        make_stn_plan(seconds=0)
    with pytest.raises(ConfigError, match="trials >= 1"):
        make_stn_plan(trials=0)
    with pytest.raises(ConfigError, match=r"missing=\['noise'\], unknown=\['lr'\]"):
        run_fixed("mnist1d-mlp", {"dropout_0": 0.1, "dropout_1": 0.1, "input_dropout": 0.1, "lr": 0.1}, 0, 1.0)
    plan = make_stn_plan()
    assert plan.tasks == TASKS and plan.methods == METHODS and len(plan.seeds) >= 5
    assert len(plan.tasks) * len(plan.methods) * len(plan.seeds) * plan.seconds <= 90 * 60  # ~90 CPU-minutes


def _run(task: str, method: str, seed: int, test: float, seconds: float = 2.0, trials: int = 2) -> MethodRun:
    names = list(get_task(task).bounds)
    schedule = {"step": [5.0, 10.0], "val_loss": [1.0, 0.9], **{n: [0.05, 0.1] for n in names}}
    return MethodRun(task, method, seed, seconds, trials, val_loss=test - 0.01, test_loss=test, wall=seconds,
                     weight_steps=100, params={n: 0.1 for n in names},
                     trials=[] if method == "stn" else [{"params": {}, "val_loss": test - 0.01}],
                     schedule=schedule if method == "stn" else None)


def _result(tests: dict[str, dict[str, list[float]]]) -> StnBenchResult:
    """A made-up result: task -> method -> test loss per seed."""
    plan = make_stn_plan(quick=True, tasks=list(tests), seeds=len(next(iter(next(iter(tests.values())).values()))),
                         seconds=2.0, trials=2)
    runs = [_run(t, m, s, v) for t, by in tests.items() for m, vals in by.items() for s, v in enumerate(vals)]
    return StnBenchResult(plan=plan, runs=runs, machine={"host": "test"}, run_seconds=1.0)


def test_report_tables_plots_and_target_from_the_numbers(tmp_path: Path) -> None:
    result = _result({"digits-cnn": {"stn": [0.10, 0.12], "random": [0.15, 0.17], "gp": [0.14, 0.11]},
                      "mnist1d-mlp": {"stn": [1.1, 1.3], "random": [1.0, 1.2], "gp": [1.5, 1.5]}})
    result.runs.append(MethodRun("mnist1d-mlp", "gp", 2, 2.0, 2, error="Traceback\nRuntimeError: boom"))
    table = summary(result)
    assert table["digits-cnn"]["stn"]["test_mean"] == pytest.approx(0.11)
    assert table["digits-cnn"]["gp"]["test_sd"] == pytest.approx(np.std([0.14, 0.11], ddof=1))
    assert table["mnist1d-mlp"]["gp"]["n"] == 2  # the failed seed is left out
    status = {claim.split(")")[0]: (detail, s) for claim, detail, s in targets(result, table)}
    assert status["Target (digits-cnn"][1] == "met" and "STN lower on 2/2 seeds" in status["Target (digits-cnn"][0]
    assert status["Target (mnist1d-mlp"][1] == "not met"  # random's 1.1 beats the STN's 1.2
    assert "random 1.1000 (STN +0.1000" in status["Target (mnist1d-mlp"][0]
    md = write_stn_report(result, tmp_path)
    text = md.read_text()
    for heading in ("## Tasks", "## Validation and test loss (mean ± sd over seeds)", "## Hyperparameters found",
                    "## Plots", "## Target", "## Failed runs (left out)"):
        assert heading in text
    assert "| digits-cnn | stn | 2 | 0.1000 ± 0.0141 | **0.1100 ± 0.0141** |" in text
    assert "| digits-cnn | 1000 / 400 / 397 |" in text and "mnist1d-mlp / gp / seed 2: RuntimeError: boom" in text
    assert "-> **not met**" in text and str(tmp_path) not in text
    for png in ("stn_schedules.png", "stn_test_loss.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png})" in text


def test_runs_log_round_trips_and_a_rerun_skips_what_it_holds(tmp_path: Path) -> None:
    result = _result({"digits-cnn": {"stn": [0.1], "random": [0.2], "gp": [0.3]}})
    log = tmp_path / "runs.jsonl"
    other = _run("digits-cnn", "stn", 0, 0.5, seconds=99.0)  # another W: not this plan's
    log.write_text("".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in [*result.runs, other]))
    assert load_runs(log) == [*result.runs, other]
    again = run_stn_benchmark(result.plan, progress=False, runs_log=log)  # everything is in the log: no run
    assert [(r.method, r.test_loss) for r in again.runs] == [("stn", 0.1), ("random", 0.2), ("gp", 0.3)]
    assert len(log.read_text().splitlines()) == 4
    log.write_text(log.read_text() + "{not json\n")
    with pytest.raises(ConfigError, match="runs log line 5"):
        load_runs(log)
    assert load_runs(tmp_path / "missing.jsonl") == []


def test_tiny_run_from_the_command_line_writes_the_report_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("hpo.stn")
    log = tmp_path / "runs.jsonl"
    cmd = [sys.executable, "-m", "hpo.cli", "bench", "stn", "--quick", "--output-dir", str(tmp_path / "out"),
           "--runs-log", str(log), "--seconds", "1.5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "out" / "stn.md").read_text()
    assert "**Quick (tiny) run.**" in text and "Failed runs" not in text and "W = 1.5 s" in text
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((r["task"], r["method"]) for r in rows) == sorted((t, m) for t in TASKS for m in METHODS)
    for r in rows:
        assert math.isfinite(r["test_loss"]) and math.isfinite(r["val_loss"]) and r["weight_steps"] > 0
        if r["method"] == "stn":
            assert set(get_task(r["task"]).bounds) | {"step", "val_loss"} <= set(r["schedule"])
        else:
            assert len(r["trials"]) >= 1 and r["val_loss"] == min(t["val_loss"] for t in r["trials"])
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0 and "bench stn [" not in again.stdout  # nothing left to run
    assert len(log.read_text().splitlines()) == len(rows)

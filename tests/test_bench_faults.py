"""``hpo bench faults``: the quick run on SQLite keeps every told result, and resumes from its runs log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpo.bench.faults_bench import run_faults_benchmark
from hpo.bench.faults_report import write_faults_report


@pytest.mark.slow
def test_quick_fault_run_on_sqlite_loses_nothing_and_resumes(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    runs = run_faults_benchmark(quick=True, seed=1, backends=("sqlite",), runs_log=log)
    assert [(r.scenario, r.backend) for r in runs] == [
        ("sigkill", "sqlite"), ("paused", "sqlite"), ("reclaimers", "sqlite"), ("deleted", "sqlite")]
    by = {r.scenario: r for r in runs}
    for r in runs:
        assert r.told > 0 and r.faults > 0, r
        assert (r.lost, r.overwritten, r.duplicated, r.requeued_twice, r.left_running, r.wrong_study,
                r.crashed) == (0, 0, 0, 0, 0, 0, 0), r
    assert by["paused"].late_kept == 1 and by["paused"].told == 4  # the paused worker's result came back late and was kept
    assert by["reclaimers"].late_kept > 0  # the race was exercised: results told after their reclaim
    report = write_faults_report(runs, tmp_path, quick=True, seed=1).read_text()
    assert "| paused | sqlite | 1 | 4 | 0 |" in report and "All targets met" in report
    assert str(tmp_path) not in report
    assert len(log.read_text().splitlines()) == 4
    again = run_faults_benchmark(quick=True, seed=1, backends=("sqlite",), runs_log=log)  # nothing left to run
    assert [json.dumps(r.__dict__, sort_keys=True) for r in again] == [json.dumps(r.__dict__, sort_keys=True) for r in runs]

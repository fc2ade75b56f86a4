"""`hpo bench ray`: the report (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.bench import SUITES, run_benchmark
from hpo.bench.ray_bench import RayBenchRun, write_ray_report


def test_report_evaluates_targets(tmp_path: Path) -> None:
    runs = [
        RayBenchRun("sleep", "ray", 1, 60, 121.0, 1.0, 1.1, 1.0),
        RayBenchRun("sleep", "ray", 2, 60, 62.0, 1.1, 2.0, 1.0),
        RayBenchRun("noop", "ray", 1, 2000, 8.0, 1.0, 1.0, 6.0),
        RayBenchRun("noop", "ray", 2, 2000, 6.0, 1.0, 1.0, 5.0),
        RayBenchRun("noop", "local", 1, 2000, 2.0, 1.0, 1.0, 2.0),
    ]
    text = write_ray_report(runs, tmp_path).read_text()
    assert "| 1 | 121.0 | 2.017 | 1.00 -> 1.10 |" in text
    assert "Speedup of 2 workers over 1: **1.95x** (target >= 1.8x: **met**)" in text
    assert "| ray | 2 | 6.00 | 3.00 | 2.50 | 1.00 -> 1.00 |" in text
    assert "**3.00 ms per trial** at best (target < 5 ms: **met**" in text
    assert "Load average (1 min) during the runs: 1.00 to 2.00" in text


@pytest.mark.slow
def test_quick_ray_benchmark_writes_report(tmp_path: Path) -> None:
    assert "ray" in SUITES
    path = run_benchmark("ray", quick=True, output_dir=tmp_path)
    text = path.read_text()
    assert path.name == "ray.md" and "## Parallel speedup: 6 trials of a 0.2-second objective" in text
    assert "| local | 1 |" in text and "| ray | 2 |" in text

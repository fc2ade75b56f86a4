"""`hpo bench store --quick` measures both systems and writes its report (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.bench import run_benchmark
from hpo.bench.store_bench import StoreRun
from hpo.bench.store_report import write_store_report


@pytest.mark.slow
def test_quick_store_benchmark_writes_report(tmp_path: Path) -> None:
    path = run_benchmark("store", quick=True, output_dir=tmp_path)
    text = path.read_text()
    assert path.name == "store.md"
    assert "| sqlite | 100 | 1 |" in text and "| sqlite | 300 | 2 |" in text
    assert "## Time per ask as the history grows" in text and "## Targets" in text
    assert (tmp_path / "store_throughput.png").stat().st_size > 1000


def test_report_evaluates_targets(tmp_path: Path) -> None:
    runs = [
        StoreRun("hpo", "sqlite", 1000, 1, 1000, 1.0, 1.0, 1.2),
        StoreRun("optuna", "sqlite", 1000, 1, 50, 2.0, 10.0, 30.0),  # capped: 25 trials/s
        StoreRun("hpo", "sqlite", 1000, 4, 1000, 2.0, None, None),
        StoreRun("optuna", "sqlite", 1000, 4, 1000, 20.0, None, None),
    ]
    text = write_store_report(runs, tmp_path).read_text()
    assert "| sqlite | 1000 | 1 | 1000.0 | 25.0 * (50 reached) | 40x |" in text
    assert "| sqlite | 1000 | 4 | 500.0 | 50.0 | 10x |" in text
    assert "smallest ratio measured 10x -> **met**" in text
    assert "largest growth 1.2x -> **met**" in text

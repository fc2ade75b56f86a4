"""Benchmarks (``hpo bench SUITE``): measured side by side with the baselines in one
run, written as markdown reports with tables and PNG plots under ``benchmarks/results/``."""

from __future__ import annotations

from pathlib import Path

from hpo.errors import UnknownNameError

__all__ = ["run_benchmark", "SUITES"]

SUITES = ("store",)


def run_benchmark(suite: str, quick: bool = False, output_dir: str | Path = "benchmarks/results") -> Path:
    """Run one benchmark suite and write its report; return the report's path."""
    if suite not in SUITES:
        raise UnknownNameError(f"bench: unknown suite {suite!r}; valid: {list(SUITES)}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    from hpo.bench.store_bench import run_store_benchmark
    from hpo.bench.store_report import write_store_report

    runs = run_store_benchmark(quick=quick)
    return write_store_report(runs, output_dir, quick=quick)

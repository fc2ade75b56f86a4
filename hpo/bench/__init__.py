"""Benchmarks (``hpo bench SUITE``): measured side by side with the baselines in one
run, written as markdown reports with tables and PNG plots under ``benchmarks/results/``.

A suite is a function ``run(quick: bool, output_dir: Path) -> Path`` (the report it
wrote), registered in ``SUITES`` as ``"module:function"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.registry import Registry, check_options

__all__ = ["run_benchmark", "SUITES"]

SUITES: Registry[Path] = Registry("bench", None, ConfigError)
for _name, _target in {
    "store": "hpo.bench.store_report:run",
    "samplers": "hpo.bench.samplers_report:run",
    "pfn": "hpo.bench.pfn_bench:run",
    "ray": "hpo.bench.ray_bench:run",
    "dashboard": "hpo.bench.dashboard_bench:run",
    "fidelity": "hpo.bench.fidelity_report:run",
    "multiobjective": "hpo.bench.multiobjective_report:run",
    "faults": "hpo.bench.faults_report:run",
    "priors": "hpo.bench.priors_report:run",
    "optuna": "hpo.bench.optuna_report:run",
    "surrogates": "hpo.bench.surrogates_report:run",
    "rl": "hpo.bench.rl_report:run",
    "stn": "hpo.bench.stn_report:run",
}.items():
    SUITES.register(_name, _target)


def run_benchmark(suite: str, quick: bool = False, output_dir: str | Path = "benchmarks/results",
                  **options: Any) -> Path:
    """Run one benchmark suite and write its report; return the report's path.

    ``options`` (e.g. ``processes=8`` for ``samplers``) go to the suite's ``run``;
    one it does not take raises :class:`hpo.errors.ConfigError` naming those it takes.
    """
    func = SUITES.factory(suite)
    check_options(f"bench {suite}", func, options, ConfigError, skip=("quick", "output_dir"))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return func(quick=quick, output_dir=output_dir, **options)

"""``hpo bench SUITE``: the command-line flags of the benchmark suites (:mod:`hpo.bench`) and the command."""

from __future__ import annotations

import argparse

__all__ = ["BENCH_OPTIONS", "add_arguments", "cmd_bench"]

#: ``hpo bench`` flags passed on to the suite (only when given).
BENCH_OPTIONS = ("processes", "seeds", "problems", "samplers", "methods", "timing_cores", "runs_log", "part",
                 "seconds")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the chosen suite with the flags that were given and print where its report went."""
    from hpo.bench import run_benchmark

    options = {k: getattr(args, k) for k in BENCH_OPTIONS if getattr(args, k, None) is not None}
    path = run_benchmark(args.suite, quick=args.quick, output_dir=args.output_dir, **options)
    print(f"wrote {path}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``hpo bench`` sub-command's arguments (the suite and the flags each suite reads)."""
    from hpo.bench import SUITES

    arg = parser.add_argument
    arg("suite", choices=SUITES.names(), help="which benchmark: " + ", ".join(SUITES.names()))
    arg("--quick", action="store_true", help="a small version for the test suite")
    arg("--output-dir", default="benchmarks/results", help="where the report goes "
        "(default benchmarks/results)")
    arg("--processes", type=int, help="samplers, surrogates, rl, optuna (its sampler part): worker "
        "processes for the studies (default 2; optuna 1)")
    arg("--seeds", type=int, help="samplers: seeds per (problem, sampler) (default 10); faults: the seed; "
        "rl: repetitions of each tuning run (default 3)")
    arg("--problems", type=_names, help="samplers: comma-separated problems (default: all); "
        "rl: environments (default CartPole-v1,Acrobot-v1); stn: tasks")
    arg("--samplers", type=_names, help="samplers: comma-separated samplers (default: gp, ensemble, "
        "tpe, optuna-gp, random, sobol)")
    arg("--methods", type=_names, help="fidelity: comma-separated methods (default: random-full, "
        "hyperband, asha-random, asha-bo, mfbo-kg, mfbo-mes); surrogates: (default: gp, ibnn, dkl, hmc, "
        "sghmc, ensemble, random; unregistered names are skipped); rl: (default: gp, tpe, random, asha, "
        "pbt, gp-1seed, random-1seed)")
    arg("--timing-cores", type=int, help="samplers: pin the time-per-suggestion part to this many "
        "CPU cores (default: all)")
    arg("--runs-log", help="samplers, surrogates, rl, stn: append each finished study to this JSON-lines "
        "file and skip "
        "the studies already in it (resumes an interrupted run)")
    arg("--seconds", type=float, help="stn: wall-clock per (task, method, seed) in seconds (default 180)")
    arg("--part", choices=["all", "storage", "sampler"], help="optuna: which part (default all): "
        "storage (HpoStorage vs Optuna's RDBStorage), sampler (HpoSampler vs Optuna's samplers)")

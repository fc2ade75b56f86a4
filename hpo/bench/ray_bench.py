"""``hpo bench ray``: the Ray backend's parallel speedup and its driver overhead, written to ``ray.md``.

1. Speedup: 60 trials of a 2-second objective with 1 and then 2 Ray workers
   (a 2-CPU local Ray instance); target >= 1.8x.
2. Driver overhead: 2,000 trials of a no-op objective; wall-clock per trial
   (ask, task submission, result, tell: everything but the objective), with
   the local executor beside it; target < 5 ms per trial (Ray Tune's own
   figure is about 9 ms).

Both run on SQLite files in a temporary folder with the random sampler, after a
warm-up that starts the Ray worker processes. The machine's load average is
recorded, since other processes share the cores.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["run", "RayBenchRun", "write_ray_report"]

TARGET_SPEEDUP = 1.8
TARGET_OVERHEAD_MS = 5.0
TUNE_OVERHEAD_MS = 9.0


@dataclass(frozen=True)
class RayBenchRun:
    """One timed ``optimize`` call."""

    kind: str  # "sleep" or "noop"
    backend: str  # "ray" or "local"
    n_workers: int
    n_trials: int
    seconds: float
    load_before: float
    load_after: float
    cpu_seconds: float = 0.0  # CPU time of the driver process (all its threads, Ray's included)

    @property
    def ms_per_trial(self) -> float:
        return 1000.0 * self.seconds / self.n_trials

    @property
    def cpu_ms_per_trial(self) -> float:
        return 1000.0 * self.cpu_seconds / self.n_trials


def sleep_objective(trial: Any, seconds: float = 2.0) -> float:
    time.sleep(seconds)
    return trial["x"] ** 2


def noop_objective(trial: Any) -> float:
    return 0.0



def _timed(folder: Path, kind: str, backend: str, n_workers: int, n_trials: int, objective: Any) -> RayBenchRun:
    import hpo

    name = f"{kind}-{backend}-{n_workers}"
    study = hpo.create_study(name=name, space={"x": hpo.Float(-1, 1)}, storage=f"sqlite:///{folder}/{name}.db",
                             sampler="random", seed=0)
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=n_trials, n_workers=n_workers, backend=backend, show_progress_bar=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    done = len(study.get_trials(["COMPLETE"]))
    if done != n_trials:
        raise RuntimeError(f"bench ray: {name} completed {done} of {n_trials} trials")
    run = RayBenchRun(kind, backend, n_workers, n_trials, seconds, load_before, os.getloadavg()[0], cpu_seconds)
    print(f"  {kind:5s} {backend:5s} workers={n_workers} trials={n_trials}: {seconds:.2f}s "
          f"({run.ms_per_trial:.2f} ms/trial, load {run.load_before:.2f} -> {run.load_after:.2f})", flush=True)
    return run


def run(quick: bool = False, output_dir: Path = Path("benchmarks/results")) -> Path:
    """Measure and write ``ray.md`` (``quick``: 6 x 0.2 s sleeps and 100 no-ops, for the tests)."""
    from functools import partial

    from hpo.testing.ray_local import local_ray

    n_sleep, n_noop = (6, 100) if quick else (60, 2000)
    sleep_s = 0.2 if quick else 2.0
    runs: list[RayBenchRun] = []
    with tempfile.TemporaryDirectory(prefix="hpo-bench-ray-") as tmp, local_ray(num_cpus=2):
        folder = Path(tmp)
        print("warm-up (starts the Ray workers)", flush=True)
        _timed(folder, "warm", "ray", 2, 20, noop_objective)
        for n_workers in (1, 2):
            runs.append(_timed(folder, "sleep", "ray", n_workers, n_sleep, partial(sleep_objective, seconds=sleep_s)))
        for n_workers in (1, 2):
            runs.append(_timed(folder, "noop", "ray", n_workers, n_noop, noop_objective))
        runs.append(_timed(folder, "noop", "local", 1, n_noop, noop_objective))
    return write_ray_report(runs, Path(output_dir), quick=quick, sleep_s=sleep_s)


def write_ray_report(runs: list[RayBenchRun], output_dir: Path, quick: bool = False, sleep_s: float = 2.0) -> Path:
    """Write ``ray.md`` from measured runs; return its path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "ray.md"
    sleep = {r.n_workers: r for r in runs if r.kind == "sleep"}
    noop = [r for r in runs if r.kind == "noop"]
    speedup = sleep[1].seconds / sleep[2].seconds if 1 in sleep and 2 in sleep else None
    ray_noop = [r for r in noop if r.backend == "ray"]
    best_overhead = min((r.ms_per_trial for r in ray_noop), default=None)
    loads = [x for r in runs for x in (r.load_before, r.load_after)]
    lines = [
        "# Ray backend benchmark (`hpo bench ray" + (" --quick" if quick else "") + "`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, a local Ray instance with 2 CPUs (`resources={{'cpu': 1}}` per "
        "trial), random sampler, SQLite store, after a warm-up that starts the Ray workers. "
        f"Load average (1 min) during the runs: {min(loads):.2f} to {max(loads):.2f} "
        "(the machine is shared: other processes compete for the cores).",
        "",
        f"## Parallel speedup: {sleep[1].n_trials if 1 in sleep else '?'} trials of a {sleep_s:g}-second objective",
        "",
        "| workers | wall-clock (s) | per trial (s) | load before -> after |",
        "|---|---|---|---|",
    ]
    for n in sorted(sleep):
        r = sleep[n]
        lines.append(f"| {n} | {r.seconds:.1f} | {r.seconds / r.n_trials:.3f} | {r.load_before:.2f} -> {r.load_after:.2f} |")
    if speedup is not None:
        lines += ["", f"Speedup of 2 workers over 1: **{speedup:.2f}x** (target >= {TARGET_SPEEDUP}x: "
                      f"{'**met**' if speedup >= TARGET_SPEEDUP else '**not met**'})."]
    lines += [
        "",
        f"## Driver overhead: {noop[0].n_trials if noop else '?'} trials of a no-op objective",
        "",
        "Wall-clock per trial: ask (sampler + store), task submission, result, tell, and the heartbeat and "
        "report-drain loops; the objective itself takes no time. The driver's CPU time per trial counts "
        "every thread of the driver process (Ray's own included) and leaves out the workers.",
        "",
        "| backend | workers | wall-clock (s) | ms per trial | driver CPU ms per trial | load before -> after |",
        "|---|---|---|---|---|---|",
    ]
    for r in noop:
        lines.append(f"| {r.backend} | {r.n_workers} | {r.seconds:.2f} | {r.ms_per_trial:.2f} | "
                     f"{r.cpu_ms_per_trial:.2f} | {r.load_before:.2f} -> {r.load_after:.2f} |")
    if best_overhead is not None:
        lines += ["", f"Ray backend: **{best_overhead:.2f} ms per trial** at best (target < {TARGET_OVERHEAD_MS:g} ms: "
                      f"{'**met**' if best_overhead < TARGET_OVERHEAD_MS else '**not met**'}; Ray Tune's own "
                      f"figure is about {TUNE_OVERHEAD_MS:g} ms). The local executor runs the objective in the "
                      "driver's thread, so it has no task round trip: it is the floor set by the store."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

"""``hpo bench store``: ask+tell throughput of the study store against Optuna's RDB storage.

Both run the random sampler on the same three-parameter space, on the same
database server (a SQLite file, and a PostgreSQL server the benchmark starts
on 127.0.0.1), at several history sizes and process counts, in one run.
Worker processes are started and import everything before the clock starts
(a barrier), so the figures are ask+tell work only.

Optuna's RDB storage slows down as the history grows (tens of ms per trial on
SQLite), so each Optuna run is capped in time; its throughput is then measured
over the trials it reached, which flatters Optuna (its later trials would be
slower). Capped runs are marked in the report.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StoreRun", "run_store_benchmark"]

SPACE_NAMES = ("x", "n", "c")


@dataclass
class StoreRun:
    system: str  # "hpo" | "optuna"
    backend: str  # "sqlite" | "postgresql" | "sqlite (synchronous=FULL)"
    target: int  # trials asked for
    procs: int
    done: int  # trials completed within the cap
    seconds: float
    ask_ms_at_100: float | None
    ask_ms_at_end: float | None

    @property
    def throughput(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else float("nan")

    @property
    def capped(self) -> bool:
        return self.done < self.target


def _timed_loop(ask: Any, tell: Any, n: int, cap: float, barrier: Any, out: Any) -> None:
    """After the barrier, run up to ``n`` ask+tell pairs (at most ``cap`` s); report to ``out``."""
    barrier.wait()
    start = time.monotonic()
    asks: list[float] = []
    for _ in range(n):
        if time.monotonic() - start > cap:
            break
        t0 = time.perf_counter()
        trial, value = ask()
        asks.append(time.perf_counter() - t0)
        tell(trial, value)
    out.put((start, time.monotonic(), len(asks), asks))


def _hpo_worker(url: str, name: str, n: int, cap: float, barrier: Any, out: Any) -> None:
    import hpo

    study = hpo.load_study(name, url)

    def ask() -> tuple[Any, float]:
        trial = study.ask()
        return trial, trial["x"]

    _timed_loop(ask, study.tell, n, cap, barrier, out)


def _optuna_worker(url: str, name: str, n: int, cap: float, barrier: Any, out: Any) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=url, sampler=optuna.samplers.RandomSampler())

    def ask() -> tuple[Any, float]:
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_int("n", 1, 100)
        trial.suggest_categorical("c", ["a", "b", "c"])
        return trial, x

    _timed_loop(ask, study.tell, n, cap, barrier, out)


def _create(system: str, url: str, name: str) -> None:
    if system == "hpo":
        import hpo

        space = {"x": hpo.Float(0.0, 1.0), "n": hpo.Int(1, 100), "c": hpo.Categorical(["a", "b", "c"])}
        hpo.create_study(name=name, space=space, storage=url, sampler="random", seed=0)
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        optuna.create_study(study_name=name, storage=url)


def _median_ms(values: list[float]) -> float | None:
    return 1000.0 * statistics.median(values) if values else None


def measure(system: str, backend: str, url: str, target: int, procs: int, cap: float) -> StoreRun:
    """Run ``target`` ask+tell pairs split over ``procs`` processes (at most ``cap`` seconds)."""
    name = f"bench-{system}-{target}-{procs}"
    _create(system, url, name)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    worker = _hpo_worker if system == "hpo" else _optuna_worker
    share = [target // procs + (1 if i < target % procs else 0) for i in range(procs)]
    workers = [ctx.Process(target=worker, args=(url, name, k, cap, barrier, out)) for k in share]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    done = sum(r[2] for r in results)
    first = results[0][3]  # per-ask latencies of one process, in order
    return StoreRun(
        system=system,
        backend=backend,
        target=target,
        procs=procs,
        done=done,
        seconds=end - start,
        ask_ms_at_100=_median_ms(first[50:150]) if procs == 1 else None,
        ask_ms_at_end=_median_ms(first[-100:]) if procs == 1 else None,
    )


def _backends(quick: bool, workdir: Path) -> tuple[list[tuple[str, Any]], Any]:
    """(backend label, url factory) pairs; PostgreSQL only when it can be started here."""
    counter = iter(range(10**6))
    backends: list[tuple[str, Any]] = [
        ("sqlite", lambda: f"sqlite:///{workdir}/store-{next(counter)}.db"),
    ]
    if not quick:
        backends.append(("sqlite (synchronous=FULL)", lambda: f"sqlite:///{workdir}/full-{next(counter)}.db?synchronous=FULL"))
    server = None
    try:
        from hpo.testing.postgres import start_postgres

        server = start_postgres()
        backends.append(("postgresql", lambda: server.new_database(f"bench_{next(counter)}")))
    except Exception as exc:  # PostgreSQL not installed: report it, measure SQLite
        print(f"PostgreSQL unavailable, measuring SQLite only: {exc}")
    return backends, server


def run_store_benchmark(quick: bool = False, progress: bool = True) -> list[StoreRun]:
    from tqdm.auto import tqdm

    sizes = (100, 300) if quick else (1000, 10000)
    procs_list = (1, 2) if quick else (1, 4)
    cap = 5.0 if quick else 60.0
    runs: list[StoreRun] = []
    with tempfile.TemporaryDirectory(prefix="hpo-bench-") as tmp:
        backends, server = _backends(quick, Path(tmp))
        try:
            plan = [
                (system, label, factory, n, p)
                for label, factory in backends
                for n in sizes
                for p in procs_list
                for system in ("hpo", "optuna")
                if not (system == "optuna" and "FULL" in label)
            ]
            bar = tqdm(plan, desc="bench store", unit="run", disable=not progress)
            for system, label, factory, n, p in bar:
                bar.set_postfix_str(f"{system} {label} {n} trials x{p}")
                url = factory()
                # Only Optuna is capped; hpo runs are measured to the end (bounded by a large cap).
                runs.append(measure(system, label, url, n, p, cap if system == "optuna" else 20 * cap))
        finally:
            if server is not None:
                server.stop()
    return runs

"""``hpo bench optuna``: hpo inside Optuna, measured through Optuna's own API.

The benchmark has parts (:data:`SECTIONS`), each a function ``(quick, runs_log) -> list of rows`` whose rows the
report (:mod:`hpo.bench.optuna_report`) writes as its own section:

- ``storage``: Optuna's ask/tell loop (``RandomSampler``, three parameters: float, int, categorical) on
  :class:`~hpo.integrations.optuna.HpoStorage` against Optuna's ``RDBStorage`` (as ``optuna.create_study``
  wraps it, with its cache) on the same kind of SQLite file and on one PostgreSQL server (started on
  127.0.0.1), for 1k and 10k trials in 1 and 4 processes. Worker processes import everything and load the
  study before a barrier starts the clock; Optuna's RDB runs are capped in time (marked in the report).
- ``sampler``: ``HpoSampler`` inside Optuna against Optuna's samplers (:mod:`hpo.bench.optuna_sampler_bench`).

Each finished run is appended to the ``--runs-log`` file (JSON lines) and skipped when the benchmark is rerun.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["StorageRun", "SECTIONS", "run_storage_part", "load_runs", "storage_plan"]


@dataclass
class StorageRun:
    storage: str  # "hpo" (HpoStorage) | "optuna-rdb" (RDBStorage)
    backend: str  # "sqlite" | "postgresql"
    target: int  # trials asked for
    procs: int
    done: int  # trials told within the cap
    seconds: float
    trial_ms_at_100: float | None  # median ask+suggest+tell time of one process, trials 50-150
    trial_ms_at_end: float | None  # the same over its last 100 trials
    per_trial_ms: list[float] | None = None  # medians over windows of 100 trials (one process), for the plot

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.storage, self.backend, self.target, self.procs)

    @property
    def throughput(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else float("nan")

    @property
    def capped(self) -> bool:
        return self.done < self.target


def _worker(storage: str, url: str, name: str, n: int, cap: float, barrier: Any, out: Any) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage == "hpo":
        from hpo.integrations.optuna import HpoStorage

        backend: Any = HpoStorage(url)
    else:
        backend = url  # optuna.load_study wraps RDBStorage in its cache, as users get it
    study = optuna.load_study(study_name=name, storage=backend, sampler=optuna.samplers.RandomSampler())
    barrier.wait()
    start = time.monotonic()
    times: list[float] = []
    for _ in range(n):
        if time.monotonic() - start > cap:
            break
        t0 = time.perf_counter()
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_int("n", 1, 100)
        trial.suggest_categorical("c", ["a", "b", "c"])
        study.tell(trial, x)
        times.append(time.perf_counter() - t0)
    out.put((start, time.monotonic(), len(times), times))


def _median_ms(values: list[float]) -> float | None:
    return 1000.0 * statistics.median(values) if values else None


def measure(storage: str, backend: str, url: str, target: int, procs: int, cap: float) -> StorageRun:
    """``target`` ask/tell trials of Optuna's loop over ``procs`` processes on one storage (at most ``cap`` s)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"bench-{storage}-{target}-{procs}"
    if storage == "hpo":
        from hpo.integrations.optuna import HpoStorage

        optuna.create_study(study_name=name, storage=HpoStorage(url))
    else:
        optuna.create_study(study_name=name, storage=url)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    share = [target // procs + (1 if i < target % procs else 0) for i in range(procs)]
    workers = [ctx.Process(target=_worker, args=(storage, url, name, k, cap, barrier, out)) for k in share]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    first = results[0][3]
    windows = [_median_ms(first[i:i + 100]) for i in range(0, len(first), 100)]
    return StorageRun(
        storage=storage, backend=backend, target=target, procs=procs, done=sum(r[2] for r in results),
        seconds=max(r[1] for r in results) - min(r[0] for r in results),
        trial_ms_at_100=_median_ms(first[50:150]), trial_ms_at_end=_median_ms(first[-100:]),
        per_trial_ms=[w for w in windows if w is not None],
    )


def storage_plan(quick: bool) -> tuple[tuple[int, ...], tuple[int, ...], float]:
    """(trial counts, process counts, Optuna RDB's time cap in seconds)."""
    if quick:
        return (20,), (1, 2), 10.0
    return (1000, 10000), (1, 4), 300.0


def load_runs(runs_log: Path | None) -> list[StorageRun]:
    if runs_log is None or not runs_log.exists():
        return []
    runs = []
    for line in runs_log.read_text(encoding="utf-8").splitlines():
        if line.strip():
            doc = json.loads(line)
            if doc.get("part") == "storage":
                doc.pop("part")
                runs.append(StorageRun(**doc))
    return runs


def run_storage_part(quick: bool, runs_log: Path | None = None, progress: bool = True) -> list[StorageRun]:
    """Every (backend, trials, processes, storage) cell not in ``runs_log`` yet; each appended as it finishes."""
    from tqdm.auto import tqdm

    sizes, procs_list, cap = storage_plan(quick)
    done = {r.key: r for r in load_runs(runs_log)}
    runs: list[StorageRun] = []
    with tempfile.TemporaryDirectory(prefix="hpo-bench-optuna-") as tmp:
        counter = iter(range(10**6))
        backends: list[tuple[str, Callable[[], str]]] = [("sqlite", lambda: f"sqlite:///{tmp}/db-{next(counter)}.db")]
        server = None
        try:
            from hpo.testing.postgres import start_postgres

            server = start_postgres()
            backends.append(("postgresql", lambda: server.new_database(f"bench_{next(counter)}")))
        except Exception as exc:  # noqa: BLE001 - PostgreSQL not installed: say so, measure SQLite
            print(f"PostgreSQL unavailable, measuring SQLite only: {str(exc)[:200]}")
        try:
            plan = [(s, label, factory, n, p) for label, factory in backends for n in sizes for p in procs_list
                    for s in ("hpo", "optuna-rdb")]
            bar = tqdm(plan, desc="bench optuna storage", unit="run", disable=not progress)
            for storage, label, factory, n, p in bar:
                if (storage, label, n, p) in done:
                    runs.append(done[(storage, label, n, p)])
                    continue
                bar.set_postfix_str(f"{storage} {label} {n} trials x{p}")
                run = measure(storage, label, factory(), n, p, cap if storage == "optuna-rdb" else 20 * cap)
                runs.append(run)
                if runs_log is not None:
                    runs_log.parent.mkdir(parents=True, exist_ok=True)
                    with runs_log.open("a", encoding="utf-8") as log:
                        log.write(json.dumps({"part": "storage", **asdict(run)}) + "\n")
        finally:
            if server is not None:
                server.stop()
    return runs


#: The benchmark's parts: name -> ``run(quick, runs_log, processes) -> rows`` (None: a part whose module is not
#: there yet). ``processes`` runs the sampler part's studies in parallel; the storage part's process counts
#: (1 and 4) are part of what it measures, so it takes no other.
#: ``sampler``: HpoSampler inside Optuna vs Optuna's GPSampler and TPESampler (hpo.bench.optuna_sampler_bench).
SECTIONS: dict[str, Callable[..., list[Any]] | None] = {
    "storage": lambda quick, runs_log, processes: run_storage_part(quick, runs_log),
    "sampler": lambda quick, runs_log, processes: _sampler_part().run_part(quick, runs_log, processes),
}


def _sampler_part() -> Any:
    from hpo.bench import optuna_sampler_bench

    return optuna_sampler_bench

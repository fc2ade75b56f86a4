"""Resumable benchmark runs: a JSON-lines runs log of finished studies, and the pool that fills it.

A benchmark that runs many independent studies (``hpo bench fidelity``, ``rl``, ...) lists its jobs,
drops those whose key is already in the runs log (:func:`load_keyed_runs`), and hands the rest to
:func:`run_logged_jobs`, which runs them in this process or on a pool of one-thread worker processes
and appends each result to the log as soon as it finishes, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["load_keyed_runs", "run_logged_jobs"]


def load_keyed_runs(path: Path, cls: Callable[..., Any]) -> list[Any]:
    """The runs of a JSON-lines runs log as ``cls(**line)`` records, one per ``.key`` (later lines win)."""
    runs: dict[Any, Any] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                run = cls(**json.loads(line))
                runs[run.key] = run
    return list(runs.values())


def run_logged_jobs(jobs: Sequence[Any], run_job: Callable[[Any], Any], runs_log: Path, processes: int, desc: str,
                    label: Callable[[Any], str], progress: bool = True) -> None:
    """Run every job with ``run_job`` (a module-level function: it is sent to worker processes) and append
    each result, a dataclass, to ``runs_log`` as one JSON line when it finishes.

    Args:
        jobs: what to run, in the order to start them.
        run_job: ``job -> result``; failures should come back inside the result (its ``error``).
        runs_log: the JSON-lines file (created with its folder when missing).
        processes: 1 runs in this process; more runs on a pool of spawned one-thread worker processes.
        desc: the progress bar's name; ``label(result)``: its postfix for a finished result.
    """
    from tqdm.auto import tqdm

    from hpo.bench.samplers_bench import _init_worker, _single_threaded_env

    bar = tqdm(total=len(jobs), desc=desc, unit="study", disable=not progress)
    runs_log.parent.mkdir(parents=True, exist_ok=True)

    def record(result: Any) -> None:
        with runs_log.open("a") as f:
            f.write(json.dumps(asdict(result)) + "\n")
        bar.set_postfix_str(label(result), refresh=False)
        bar.update(1)

    try:
        if processes <= 1:
            _init_worker()
            for job in jobs:
                record(run_job(job))
        else:
            import multiprocessing

            with _single_threaded_env(), ProcessPoolExecutor(
                processes, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
            ) as pool:
                for future in as_completed([pool.submit(run_job, job) for job in jobs]):
                    record(future.result())
    finally:
        bar.close()

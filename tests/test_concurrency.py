"""Many processes asking and telling at once: no duplicate numbers, no lost tell."""

from __future__ import annotations

import multiprocessing as mp

import pytest

import hpo
from hpo.records import TrialState

N_PROCS = 8
N_EACH = 250


def _worker(url: str, name: str, n: int) -> list[tuple[int, float]]:
    study = hpo.load_study(name, url)
    told = []
    for _ in range(n):
        trial = study.ask()
        value = trial["x"] * 2.0
        study.tell(trial, value)
        told.append((trial.number, value))
    return told


@pytest.mark.slow
def test_processes_ask_and_tell_concurrently(storage_url: str) -> None:
    hpo.create_study(name="conc", space={"x": hpo.Float(0, 1)}, storage=storage_url, sampler="random", seed=0)
    ctx = mp.get_context("spawn")
    with ctx.Pool(N_PROCS) as pool:
        results = pool.starmap(_worker, [(storage_url, "conc", N_EACH)] * N_PROCS)
    told = [item for chunk in results for item in chunk]
    numbers = [n for n, _ in told]
    assert len(numbers) == N_PROCS * N_EACH
    assert len(set(numbers)) == len(numbers), "a trial number was handed out twice"
    trials = hpo.load_study("conc", storage_url).trials
    assert len(trials) == N_PROCS * N_EACH
    assert {t.number for t in trials} == set(numbers)
    assert all(t.state is TrialState.COMPLETE for t in trials)
    stored = {t.number: t.value for t in trials}
    assert all(stored[n] == v for n, v in told), "a told value was lost or changed"

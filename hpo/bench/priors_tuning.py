"""Part 3 of ``hpo bench priors``: tuning on the real table.

Each released dense (N, D) cell is a tabular problem: a study searches ``lr`` (log Float) and ``bs``
(log Int, sequences of 2048 tokens) over the whole released grid's ranges, and the objective is the smooth loss of the
released run nearest to the suggestion (in (ln lr, ln bs), as Step Law snaps its predictions). We count
the evaluations until a run within 0.25% of the cell's best loss is found. Methods, side by side in one
run with the same seeds:

- ``gp+steplaw``: ``gp`` with log-normal priors (sigma 0.3 in ln) around Step Law's prediction;
- ``gp+fitted``: the same around :func:`hpo.priors.fit_law`'s prediction, fitted on the OTHER cells;
- ``gp+wrong``: Step Law's prior with the learning rate off by 10x;
- ``gp``, ``tpe``, ``random``: no prior.

The prior-guided runs use the BO sampler's defaults for priors: the initial design alternates prior and
uniform Sobol points, and πBO's ``prior_beta`` is 3 (a tenth of the 30-evaluation budget).

A study that does not reach the target within the budget counts as ``budget + 1`` (censored).
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo.bench.priors_bench import LOSS, SEQ_LEN, STEP_LAW_FEATURES, snap

__all__ = ["TuningRun", "METHODS", "tuning_runs", "evaluations_to_target", "TOLERANCE"]

TOLERANCE = 0.0025
METHODS = ("gp+steplaw", "gp+fitted", "gp+wrong", "gp", "tpe", "random")
#: Spread of the priors, in ln units (the released cells' best lr sits 0.18 +- 0.22 from the law).
PRIOR_SIGMA = 0.3
#: BO settings for the benchmark: cheap acquisition optimisation (the table is 2-D).
GP_OPTIONS = {"n_initial": 4, "num_restarts": 2, "raw_samples": 64}


@dataclass(frozen=True)
class TuningRun:
    """One (cell, method, seed) study."""

    N: float
    D: float
    method: str
    seed: int
    budget: int
    evaluations: int  # to reach the target; budget + 1 if it was not reached
    best_gap: float  # final best loss over the cell's best, minus 1


def evaluations_to_target(losses: Sequence[float], best: float, budget: int,
                          tolerance: float = TOLERANCE) -> int:
    """1-based index of the first loss within ``tolerance`` of ``best``; ``budget + 1`` if none is."""
    for i, loss in enumerate(losses, start=1):
        if loss <= best * (1.0 + tolerance):
            return i
    return budget + 1


def _prior(method: str, N: float, D: float, dense: pd.DataFrame) -> dict[str, Any] | None:
    from hpo.priors import LogNormal, fit_law, step_law

    if method in ("gp", "tpe", "random"):
        return None
    if method == "gp+fitted":
        others = dense[(dense["N"] != N) | (dense["D"] != D)]
        law = fit_law(others, scale=("N", "D"), targets=STEP_LAW_FEATURES, objective=LOSS, n_bootstrap=50, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = law.predict(N=N, D=D)
        lr, bs = p.values["lr"], p.values["batch"] / SEQ_LEN
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = step_law(N, D, seq_len=SEQ_LEN)
        lr, bs = s.lr, s.batch_sequences
        if method == "gp+wrong":
            lr *= 10.0
    return {"lr": LogNormal(lr, PRIOR_SIGMA), "bs": LogNormal(bs, PRIOR_SIGMA)}


def _one(job: tuple[float, float, str, int, int]) -> TuningRun:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    import hpo
    from hpo.bench.priors_bench import load_dense

    N, D, method, seed, budget = job
    dense = load_dense()
    cell = dense[(dense["N"] == N) & (dense["D"] == D)]
    best = float(cell[LOSS].min())
    # The search range is the whole released grid (every cell's lr and bs ranges together): a tuner does not
    # know where a cell's grid was centred, and a prior 10x off stays inside the space.
    space = {"lr": hpo.Float(float(dense["lr"].min()), float(dense["lr"].max()), log=True),
             "bs": hpo.Int(int(dense["bs"].min()), int(dense["bs"].max()), log=True)}
    sampler: Any = {"name": "tpe", "options": {"n_startup_trials": 4}} if method == "tpe" else (
        "random" if method == "random" else {"name": "gp", "options": GP_OPTIONS})
    losses: list[float] = []

    def objective(trial: Any) -> float:
        loss = float(snap(cell, trial["lr"], trial["bs"])[LOSS])
        losses.append(loss)
        return loss

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = hpo.create_study(name="cell", space=space, storage=f"sqlite:///{Path(tmp) / 's.db'}",
                                 sampler=sampler, seed=seed, prior=_prior(method, N, D, dense))
        for _ in range(budget):  # one trial at a time: stop as soon as the target is reached
            study.optimize(objective, n_trials=1, show_progress_bar=False)
            if losses and losses[-1] <= best * (1.0 + TOLERANCE):
                break
    return TuningRun(N, D, method, seed, budget, evaluations_to_target(losses, best, budget),
                     min(losses) / best - 1.0)


def tuning_runs(dense: pd.DataFrame, methods: Sequence[str] = METHODS, seeds: Sequence[int] = range(10),
                budget: int = 30, cells: int | None = None, processes: int = 2) -> list[TuningRun]:
    """Every (cell, method, seed) study, on ``processes`` worker processes (spawned, one thread each)."""
    keys = sorted({(float(n), float(d)) for n, d in dense[["N", "D"]].itertuples(index=False)})
    if cells is not None:
        keys = keys[:: max(1, math.ceil(len(keys) / cells))][:cells]
    jobs = [(n, d, m, s, budget) for n, d in keys for m in methods for s in seeds]
    if processes <= 1:
        return [_one(j) for j in jobs]
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        return list(pool.map(_one, jobs))


def summarise(runs: Sequence[TuningRun]) -> pd.DataFrame:
    """Per method: the median over cells of the per-cell median evaluations, and how often the target
    was reached."""
    frame = pd.DataFrame([r.__dict__ for r in runs])
    per_cell = frame.groupby(["method", "N", "D"])["evaluations"].median().reset_index()
    reached = frame.assign(hit=frame["evaluations"] <= frame["budget"]).groupby("method")["hit"].mean()
    out = per_cell.groupby("method")["evaluations"].median().to_frame("median evaluations")
    out["mean evaluations"] = frame.groupby("method")["evaluations"].mean()
    out["reached"] = reached
    return out.reindex([m for m in METHODS if m in out.index])


def cell_table(runs: Sequence[TuningRun]) -> pd.DataFrame:
    """(N, D) x method: the median evaluations over seeds."""
    frame = pd.DataFrame([r.__dict__ for r in runs])
    table = frame.pivot_table(index=["N", "D"], columns="method", values="evaluations", aggfunc="median")
    return table[[m for m in METHODS if m in table.columns]]


def median_ratio(runs: Sequence[TuningRun], method: str, baseline: str = "gp") -> float:
    """Median over cells of (method's median evaluations) / (baseline's)."""
    table = cell_table(runs)
    return float(np.median(table[method] / table[baseline]))

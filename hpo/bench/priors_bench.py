"""The scaling-law benchmark's measurements (``hpo bench priors``) on Step Law's released dense runs.

Part 1: Step Law's predicted (lr, batch) per (N, D) cell, snapped to the nearest grid point of the cell
(nearest in (ln lr, ln bs)); the gap is that run's smooth loss over the cell's best run.
Part 2: :func:`hpo.priors.fit_law` on the cells with the smaller N only; the held-out cells (the largest
N) are predicted and snapped the same way.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from hpo.errors import ExtrapolationWarning
from hpo.priors import FittedLaw, fit_law, step_law

__all__ = ["CellGap", "load_dense", "snap", "step_law_gaps", "Extrapolation", "extrapolation",
           "SEQ_LEN", "LOSS"]

SEQ_LEN = 2048
LOSS = "smooth loss"
#: Step Law's law shape: lr on N and D, the batch (tokens) on D only.
STEP_LAW_FEATURES = {"lr": ("N", "D"), "batch": ("D",)}


@dataclass(frozen=True)
class CellGap:
    """One (N, D) cell: the predicted optimum, the grid point it snaps to, and the loss gap."""

    N: float
    D: float
    runs: int
    lr: float
    batch_sequences: float
    snapped_lr: float
    snapped_bs: int
    snapped_loss: float
    best_loss: float
    best_lr: float
    best_bs: int

    @property
    def gap(self) -> float:
        """``snapped_loss / best_loss - 1``."""
        return self.snapped_loss / self.best_loss - 1.0


def load_dense() -> pd.DataFrame:
    """The 1,911 released dense runs (shipped in ``hpo/priors/data/``), with ``batch`` in tokens added."""
    with resources.files("hpo.priors").joinpath("data", "dense_lr_bs_loss.csv").open("r", encoding="utf-8") as f:
        frame = pd.read_csv(f)
    frame["batch"] = frame["bs"] * SEQ_LEN
    return frame


def snap(cell: pd.DataFrame, lr: float, batch_sequences: float) -> pd.Series:
    """The run of ``cell`` nearest to (lr, batch_sequences) in (ln lr, ln bs)."""
    dist = (np.log(cell["lr"].to_numpy()) - math.log(lr)) ** 2 + (
        np.log(cell["bs"].to_numpy()) - math.log(batch_sequences)) ** 2
    return cell.iloc[int(np.argmin(dist))]


def _gap(N: float, D: float, cell: pd.DataFrame, lr: float, batch_sequences: float) -> CellGap:
    at = snap(cell, lr, batch_sequences)
    best = cell.loc[cell[LOSS].idxmin()]
    return CellGap(float(N), float(D), len(cell), lr, batch_sequences, float(at["lr"]), int(at["bs"]),
                   float(at[LOSS]), float(best[LOSS]), float(best["lr"]), int(best["bs"]))


def step_law_gaps(dense: pd.DataFrame) -> list[CellGap]:
    """Part 1: Step Law's snapped prediction per cell (ordered by N, then D)."""
    rows = []
    for (N, D), cell in dense.groupby(["N", "D"], sort=True):
        p = step_law(float(N), float(D), seq_len=SEQ_LEN)
        rows.append(_gap(N, D, cell, p.lr, p.batch_sequences))
    return rows


@dataclass(frozen=True)
class Extrapolation:
    """Part 2: a law fitted on the smaller models, checked on the held-out largest one."""

    law: FittedLaw
    held_out_N: float
    fitted: list[CellGap]  # the held-out cells, at the fitted law's snapped prediction
    step_law: list[CellGap]  # the same cells, at Step Law's
    intervals: list[dict[str, tuple[float, float]]]  # per held-out cell: the fit's 95% intervals
    full_law: FittedLaw  # the same procedure on all 17 cells (for comparison with the published law)
    cells_law: FittedLaw  # ``law`` refitted with resample="cells" (whole cells drawn)
    cells_intervals: list[dict[str, tuple[float, float]]]  # its 95% intervals per held-out cell


def extrapolation(dense: pd.DataFrame, n_bootstrap: int = 1000, seed: int = 0) -> Extrapolation:
    """Fit on every cell with N below the largest, predict (and snap) the largest N's cells."""
    held_out = float(dense["N"].max())
    train, test = dense[dense["N"] < held_out], dense[dense["N"] == held_out]
    law = fit_law(train, scale=("N", "D"), targets=STEP_LAW_FEATURES, objective=LOSS,
                  n_bootstrap=n_bootstrap, seed=seed)
    full = fit_law(dense, scale=("N", "D"), targets=STEP_LAW_FEATURES, objective=LOSS,
                   n_bootstrap=n_bootstrap, seed=seed)
    cells = fit_law(train, scale=("N", "D"), targets=STEP_LAW_FEATURES, objective=LOSS,
                    n_bootstrap=n_bootstrap, seed=seed, resample="cells")
    fitted, by_law, intervals, cells_intervals = [], [], [], []
    for (N, D), cell in test.groupby(["N", "D"], sort=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)  # extrapolating is the point here
            p = law.predict(N=float(N), D=float(D))
            cells_intervals.append(cells.predict(N=float(N), D=float(D)).intervals)
        fitted.append(_gap(N, D, cell, p.values["lr"], p.values["batch"] / SEQ_LEN))
        intervals.append(p.intervals)
        s = step_law(float(N), float(D), seq_len=SEQ_LEN)
        by_law.append(_gap(N, D, cell, s.lr, s.batch_sequences))
    return Extrapolation(law, held_out, fitted, by_law, intervals, full, cells, cells_intervals)

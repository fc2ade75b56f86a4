"""Step Law: the optimal learning rate and batch size of LLM pre-training from N and D.

Li et al., "Predictable Scale: Part I -- Optimal Hyperparameter Scaling Law in Large Language Model
Pretraining" (arXiv 2503.04715), fitted on dense-transformer runs with AdamW:

    lr*(N, D) = 1.79 * N^-0.713 * D^0.307        B*(D) = 0.58 * D^0.571 tokens

N = non-embedding parameters (:func:`transformer_params`), D = training tokens. The point law is the
mean of the 1,000 bootstrap fits the paper's repository ships (``data/`` here, as its ``pred-opt-lr-bs``
does); the 95% intervals are the 2.5% and 97.5% quantiles of the 1,000 fits' predictions.

    >>> p = step_law(1e9, 1e11)
    >>> round(p.lr, 6), round(p.batch_tokens)
    (0.001662, 1107467)
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from hpo.errors import ExtrapolationWarning, PriorError, short_repr
from hpo.validators import is_int, is_number

__all__ = ["LawPrediction", "step_law", "transformer_params", "step_law_parameters", "STEP_LAW_RANGE",
           "PARAMETER_FILE", "check_positive"]

#: The bootstrap fits shipped with the package (from the step-law/steplaw repository).
PARAMETER_FILE = "1004_fitted_lr_bs_scaling_model_parameters.csv"
#: The range of the released dense runs (N 2.15e8..1.07e9, D 4e9..1e11): (low, high) per input.
STEP_LAW_RANGE: dict[str, tuple[float, float]] = {"N": (214_663_680.0, 1_073_741_824.0), "D": (4e9, 1e11)}
_COLUMNS = ("lr_intercept", "lr_coefN", "lr_coefD", "bs_intercept", "bs_coefD")


def check_positive(name: str, value: Any) -> float:
    """``value`` as a finite float > 0, else :class:`PriorError` naming ``name`` (bools are refused)."""
    if not is_number(value):
        raise PriorError(f"{name}: must be a finite number > 0, but got {short_repr(value)} "
                         f"({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise PriorError(f"{name}: must be a finite number > 0, but got {short_repr(value)}")
    return x


@dataclass(frozen=True)
class LawPrediction:
    """A scaling law's predicted optimum at one scale.

    Attributes:
        lr: the optimal (peak) learning rate.
        batch_tokens: the optimal batch size in tokens.
        batch_sequences: ``batch_tokens / seq_len``.
        lr_interval: 95% interval of ``lr`` (bootstrap quantiles).
        batch_tokens_interval: 95% interval of ``batch_tokens``.
        batch_sequences_interval: 95% interval of ``batch_sequences``.
        inputs: the scale asked about (``{"N": ..., "D": ..., "seq_len": ...}``).
        in_range: whether every input lies inside the range of the data the law was fitted on.
        note: where the law comes from and, outside its range, that it extrapolates.
        law: the law's name.
    """

    lr: float
    batch_tokens: float
    batch_sequences: float
    lr_interval: tuple[float, float]
    batch_tokens_interval: tuple[float, float]
    batch_sequences_interval: tuple[float, float]
    inputs: dict[str, float] = field(default_factory=dict)
    in_range: bool = True
    note: str = ""
    law: str = "step_law"

    @property
    def values(self) -> dict[str, float]:
        """The predicted optimum per target: ``{"lr": ..., "batch_tokens": ..., "batch_sequences": ...}``."""
        return {"lr": self.lr, "batch_tokens": self.batch_tokens, "batch_sequences": self.batch_sequences}

    @property
    def intervals(self) -> dict[str, tuple[float, float]]:
        """The 95% interval per target (the keys of :attr:`values`)."""
        return {"lr": self.lr_interval, "batch_tokens": self.batch_tokens_interval,
                "batch_sequences": self.batch_sequences_interval}


def transformer_params(layers: int, hidden: int, ffn_hidden: int) -> int:
    """Non-embedding parameters of a transformer as Step Law counts them: ``L * (4 h^2 + 3 h d_ff)``
    (attention's four h x h projections and a gated (SwiGLU) FFN's three h x d_ff matrices per layer).

    >>> transformer_params(7, 960, 9368)
    214663680
    """
    for name, value in (("layers", layers), ("hidden", hidden), ("ffn_hidden", ffn_hidden)):
        if not is_int(value) or value < 1:
            raise PriorError(f"{name}: must be an integer >= 1, but got {short_repr(value)}")
    return int(layers) * (4 * int(hidden) ** 2 + 3 * int(hidden) * int(ffn_hidden))


@lru_cache(maxsize=1)
def step_law_parameters() -> np.ndarray:
    """The shipped bootstrap fits, ``(1000, 5)``: lr_intercept, lr_coefN, lr_coefD, bs_intercept, bs_coefD."""
    text = resources.files("hpo.priors").joinpath("data", PARAMETER_FILE).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    table = np.array([[float(r[c]) for c in _COLUMNS] for r in rows])  # (n_fits, 5)
    table.setflags(write=False)
    return table


def _outside(inputs: dict[str, float], ranges: dict[str, tuple[float, float]]) -> list[str]:
    return [f"{k}={inputs[k]:.3g} (fitted on {lo:.3g}..{hi:.3g})" for k, (lo, hi) in ranges.items()
            if k in inputs and not lo <= inputs[k] <= hi]


def _interval(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [0.025, 0.975])
    return float(lo), float(hi)


def step_law(N: float, D: float, seq_len: int = 2048) -> LawPrediction:
    """Step Law's optimal learning rate and batch size for ``N`` non-embedding parameters trained on
    ``D`` tokens.

    Args:
        N: non-embedding parameters (see :func:`transformer_params`), > 0.
        D: training tokens, > 0.
        seq_len: tokens per sequence, for :attr:`LawPrediction.batch_sequences` (the paper's is 2048).

    Returns:
        The prediction, with 95% intervals from the 1,000 shipped bootstrap fits.

    Raises:
        PriorError: ``N``, ``D`` or ``seq_len`` not a finite number > 0 (or a bool).

    Warns:
        ExtrapolationWarning: N or D outside the range of the released dense runs
        (N 2.15e8..1.07e9, D 4e9..1e11); the prediction is still returned, with ``in_range=False``.
    """
    n, d = check_positive("N", N), check_positive("D", D)
    if not is_int(seq_len) or seq_len < 1:
        raise PriorError(f"seq_len: must be an integer >= 1, but got {short_repr(seq_len)}")
    fits = step_law_parameters()
    ln_lr = fits[:, 0] + fits[:, 1] * math.log(n) + fits[:, 2] * math.log(d)  # (n_fits,)
    ln_bs = fits[:, 3] + fits[:, 4] * math.log(d)  # (n_fits,)
    mean = fits.mean(axis=0)
    lr = math.exp(mean[0] + mean[1] * math.log(n) + mean[2] * math.log(d))
    batch = math.exp(mean[3] + mean[4] * math.log(d))
    inputs = {"N": n, "D": d, "seq_len": float(seq_len)}
    outside = _outside(inputs, STEP_LAW_RANGE)
    note = ("Step Law (Li et al. 2025, arXiv 2503.04715): lr = 1.79 N^-0.713 D^0.307, B = 0.58 D^0.571 tokens; "
            "dense transformers with AdamW; 95% intervals from its 1,000 bootstrap fits")
    if outside:
        note += "; EXTRAPOLATES beyond the fitted data: " + ", ".join(outside)
        warnings.warn(f"step_law: {', '.join(outside)}: the law is extrapolated outside the range of the "
                      "runs it was fitted on", ExtrapolationWarning, stacklevel=2)
    lr_s, bs_s = np.exp(ln_lr), np.exp(ln_bs)
    return LawPrediction(
        lr=lr, batch_tokens=batch, batch_sequences=batch / seq_len,
        lr_interval=_interval(lr_s), batch_tokens_interval=_interval(bs_s),
        batch_sequences_interval=_interval(bs_s / seq_len),
        inputs=inputs, in_range=not outside, note=note,
    )

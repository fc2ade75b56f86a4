"""The tasks of ``hpo bench stn``: real data sets that need no download, fixed splits, one search space.

Every call into :mod:`hpo.stn` is in this module (:func:`run_stn`, :func:`run_fixed`).

- ``digits-cnn``: scikit-learn's digits (1,797 8x8 grey images, 10 classes, pixels scaled to
  [0, 1]), a :class:`hpo.stn.StnCNN` (two 3x3 convolutions with 16 and 32 channels, one hidden
  layer of 64 units) with a dropout rate after each hidden layer (``dropout_0`` .. ``dropout_2``),
  ``input_dropout``, and the augmentations ``noise`` (Gaussian input noise std), ``scale``
  (random input scaling amplitude) and ``cutout`` (masked fraction).
- ``mnist1d-mlp``: MNIST-1D (``mnist1d.data.make_dataset(get_dataset_args())``, generated
  locally: 4,000 + 1,000 sequences of length 40, 10 classes), a :class:`hpo.stn.StnMLP` with two
  hidden layers of 256 units, ``dropout_0``, ``dropout_1``, ``input_dropout`` and ``noise``.

Splits are fixed (they do not depend on the seed; the seed sets the network's initialisation, the
data order and the black-box sampler): digits, stratified 1,000 train / 400 validation / 397 test
(``random_state=0``); MNIST-1D, the generator's 4,000 training sequences as 3,000 train / 1,000
validation (stratified, ``random_state=0``) and its 1,000 test sequences as test. The test split is
never used for a decision: black-box trials are ranked by validation loss, the STN's hyperparameter
steps use the validation split, and the test loss is only computed for the report.

The search space (``hpo.Float`` bounds) is the same for the STN (its hyperparameter bounds) and for
random search and ``gp`` (the fixed values of a trial). The STN starts from :attr:`StnTask.initial`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpo.errors import ConfigError, UnknownNameError
from hpo.params import Float

__all__ = ["TASKS", "StnTask", "Splits", "TaskRun", "get_task", "load_splits", "run_stn", "run_fixed",
           "interior"]

TASKS = ("digits-cnn", "mnist1d-mlp")
#: An upper bound on epochs: every run here is stopped by its wall-clock budget (``max_seconds``) first.
MAX_EPOCHS = 100_000


@dataclass(frozen=True)
class Splits:
    """Fixed train / validation / test arrays: ``X`` float32 ``(n, *input_shape)``, ``y`` int64 ``(n,)``."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def sizes(self) -> tuple[int, int, int]:
        return len(self.y_train), len(self.y_val), len(self.y_test)


@dataclass(frozen=True)
class StnTask:
    """One benchmark task: its data, model, search space, STN initial values and trainer options.

    Attributes:
        bounds: name -> (low, high) of the ``hpo.Float`` search space (see :meth:`space`).
        initial: name -> the STN's starting value (inside the bounds).
        model: ``"cnn"`` or ``"mlp"`` and ``model_options`` its constructor's sizes.
        train_options: keyword arguments of ``hpo.stn.train`` shared by the STN and the fixed runs.
        stn_options: those only the STN run gets (warm-up, hyper learning rates, tau, T_train/T_val).
    """

    name: str
    description: str
    bounds: Mapping[str, tuple[float, float]]
    initial: Mapping[str, float]
    model: str
    model_options: Mapping[str, Any]
    train_options: Mapping[str, Any] = field(default_factory=dict)
    stn_options: Mapping[str, Any] = field(default_factory=dict)

    def space(self) -> dict[str, Float]:
        """The shared search space: name -> ``hpo.Float(low, high)``."""
        return {name: Float(lo, hi) for name, (lo, hi) in self.bounds.items()}


_STN_OPTIONS = {"warmup_epochs": 5, "t_train": 5, "t_val": 1, "hyper_lr": 3e-3, "scale_lr": 3e-3, "tau": 1e-3}

_TASKS = {
    "digits-cnn": StnTask(
        name="digits-cnn",
        description="scikit-learn digits (8x8 images), CNN 16-32 channels + 64 hidden; 3 dropout rates, "
                    "input dropout, noise, scale, cutout",
        bounds={"dropout_0": (0.0, 0.9), "dropout_1": (0.0, 0.9), "dropout_2": (0.0, 0.9),
                "input_dropout": (0.0, 0.9), "noise": (0.0, 1.0), "scale": (0.0, 0.5), "cutout": (0.0, 0.5)},
        initial={"dropout_0": 0.05, "dropout_1": 0.05, "dropout_2": 0.05, "input_dropout": 0.05,
                 "noise": 0.05, "scale": 0.05, "cutout": 0.05},
        model="cnn",
        model_options={"in_channels": 1, "image_size": 8, "channels": (16, 32), "hidden": 64, "out_features": 10},
        train_options={"lr": 1e-3, "batch_size": 128},
        stn_options=_STN_OPTIONS,
    ),
    "mnist1d-mlp": StnTask(
        name="mnist1d-mlp",
        description="MNIST-1D (length-40 sequences, generated locally), MLP 256-256; 2 dropout rates, "
                    "input dropout, noise",
        bounds={"dropout_0": (0.0, 0.9), "dropout_1": (0.0, 0.9), "input_dropout": (0.0, 0.9), "noise": (0.0, 1.0)},
        initial={"dropout_0": 0.05, "dropout_1": 0.05, "input_dropout": 0.05, "noise": 0.05},
        model="mlp",
        model_options={"in_features": 40, "hidden": (256, 256), "out_features": 10},
        train_options={"lr": 1e-3, "batch_size": 128},
        stn_options=_STN_OPTIONS,
    ),
}


def get_task(name: str) -> StnTask:
    """The task named ``name`` (one of :data:`TASKS`); an unknown name raises UnknownNameError listing them."""
    try:
        return _TASKS[name]
    except (KeyError, TypeError):
        raise UnknownNameError(f"bench stn: unknown task {str(name)[:80]!r}; known: {list(TASKS)}") from None


@functools.lru_cache(maxsize=4)
def load_splits(name: str) -> Splits:
    """The fixed splits of task ``name`` (generated locally, cached per process)."""
    from sklearn.model_selection import train_test_split

    get_task(name)
    if name == "digits-cnn":
        from sklearn.datasets import load_digits

        digits = load_digits()
        X = (digits.images / 16.0).astype(np.float32)[:, None, :, :]  # (1797, 1, 8, 8)
        y = digits.target.astype(np.int64)
        X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=397, stratify=y, random_state=0)
        X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=400, stratify=y_rest,
                                                          random_state=0)
    else:
        from mnist1d.data import get_dataset_args, make_dataset

        data = make_dataset(get_dataset_args())  # generated, never downloaded
        X, y = np.asarray(data["x"], dtype=np.float32), np.asarray(data["y"], dtype=np.int64)  # (4000, 40)
        X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=1000, stratify=y, random_state=0)
        X_test = np.asarray(data["x_test"], dtype=np.float32)  # (1000, 40)
        y_test = np.asarray(data["y_test"], dtype=np.int64)
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test)


@dataclass
class TaskRun:
    """One training run's outcome.

    Attributes:
        val_loss, test_loss: mean cross-entropy of the final network (eval mode, no dropout or augmentation)
            on the validation and test splits.
        best_val_loss: the trainer's best validation loss during the run.
        params: the hyperparameters at the end (the STN's final values, or the fixed ones).
        schedule: the STN's schedule, column -> list (``step``, ``val_loss``, one per hyperparameter);
            None for a fixed run.
    """

    val_loss: float
    test_loss: float
    best_val_loss: float
    seconds: float
    weight_steps: int
    params: dict[str, float]
    schedule: dict[str, list[float]] | None = None


def _check_seconds(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise ConfigError(f"bench stn: `seconds > 0` must hold, but got seconds={seconds!r}")
    return float(seconds)


def _build(task: StnTask, initial: Mapping[str, float], seed: int) -> Any:
    import torch

    import hpo.stn as stn

    torch.manual_seed(seed)
    hyper = stn.StnHyperparameters(task.space(), dict(initial))
    if task.model == "cnn":
        return stn.StnCNN(hyper=hyper, **task.model_options)
    return stn.StnMLP(hyper=hyper, **task.model_options)


def _train(task: StnTask, initial: Mapping[str, float], seed: int, seconds: float, tune: bool) -> TaskRun:
    import torch

    import hpo.stn as stn

    seconds = _check_seconds(seconds)
    data = load_splits(task.name)
    start = time.perf_counter()
    model = _build(task, initial, seed)
    tensors = [torch.from_numpy(a) for a in (data.X_train, data.y_train, data.X_val, data.y_val)]
    options = dict(task.train_options)
    if tune:
        options.update(task.stn_options)
    result = stn.train(model, (tensors[0], tensors[1]), (tensors[2], tensors[3]), epochs=MAX_EPOCHS, tune=tune,
                       seed=seed, progress=False, max_seconds=seconds, **options)
    val = float(result.evaluate(tensors[2], tensors[3]))
    test = float(result.evaluate(torch.from_numpy(data.X_test), torch.from_numpy(data.y_test)))
    schedule = None
    if tune:
        frame = result.schedule
        schedule = {str(c): [float(v) for v in frame[c].tolist()] for c in frame.columns}
    params = {k: float(v) for k, v in result.final_values.items()} if tune else {k: float(v) for k, v in initial.items()}
    return TaskRun(val_loss=val, test_loss=test, best_val_loss=float(result.best_val_loss),
                   seconds=time.perf_counter() - start, weight_steps=int(result.weight_steps), params=params,
                   schedule=schedule)


def run_stn(task: str | StnTask, seed: int, seconds: float) -> TaskRun:
    """One self-tuning run of ``task`` from its initial values, stopped after ``seconds`` of training."""
    spec = task if isinstance(task, StnTask) else get_task(task)
    return _train(spec, spec.initial, seed, seconds, tune=True)


def run_fixed(task: str | StnTask, params: Mapping[str, float], seed: int, seconds: float) -> TaskRun:
    """The same network trained at the FIXED hyperparameters ``params`` (``hpo.stn.train(tune=False)``)."""
    spec = task if isinstance(task, StnTask) else get_task(task)
    missing = sorted(set(spec.bounds) - set(params))
    extra = sorted(set(params) - set(spec.bounds))
    if missing or extra:
        raise ConfigError(f"bench stn: params must name exactly {sorted(spec.bounds)}, but got missing={missing}, "
                          f"unknown={extra}")
    return _train(spec, interior(spec, params), seed, seconds, tune=False)


def interior(task: StnTask, params: Mapping[str, float], margin: float = 1e-4) -> dict[str, float]:
    """``params`` moved at most ``margin`` of each range inside its bounds.

    The bounded representation ``a + (b - a) * sigmoid(h)`` reaches neither bound, so a black-box
    suggestion on a bound (``gp`` often proposes dropout 0) is trained at ``a + margin * (b - a)``.
    """
    out = {}
    for name, value in params.items():
        lo, hi = task.bounds[name]
        eps = margin * (hi - lo)
        out[name] = float(min(max(float(value), lo + eps), hi - eps))
    return out

"""Class-incremental continual learning, tuned on one data set and evaluated on another.

"Hyperparameters in Continual Learning: a Reality Check" (Mundt et al. 2023) shows that a method tuned
and evaluated on the same data set looks better than it is; the protocol tunes on one data set and
evaluates the fixed choice on a different one (:class:`hpo.protocols.DatasetSplit`).

The scenario: the 10 classes of a data set in 5 tasks of 2 classes each (``(0, 1), (2, 3), ...``), seen
one after the other; a small torch MLP with one 10-way head (no task id at test time) is trained task
by task, with

- experience replay: a reservoir buffer of ``buffer_size`` past examples; each batch of the current task
  is trained together with ``round(replay_ratio * batch_size)`` examples drawn from the buffer;
- an EWC-style penalty (Kirkpatrick et al. 2017): ``ewc_strength / 2 * sum F_i (w_i - w*_i)^2`` with the
  diagonal Fisher ``F`` and the weights ``w*`` after each earlier task (Fisher summed over tasks).

Score: the average accuracy over all tasks' test examples after the last task (the mean of the 5
per-task accuracies). Data sets, both generated here without downloads:

- ``"digits"``: scikit-learn's 8x8 digits (1797 images, 64 features), a fixed stratified 70/30 split;
- ``"mnist1d"``: MNIST-1D (Greydanus 2020) generated from its templates by
  ``mnist1d.data.make_dataset(get_dataset_args())`` (4000 training and 1000 test sequences of 40).

Features are standardised with the training part's mean and standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from hpo.protocols.example_support import torch_threads, validate_params
from hpo.errors import ConfigError, short_repr
from hpo.params import Categorical, Float, Int, Param

__all__ = ["DATASETS", "TASKS", "ContinualData", "continual_objective", "continual_space", "load_dataset",
           "train_continual"]

#: The data sets :func:`load_dataset` builds.
DATASETS = ("digits", "mnist1d")
#: The class-incremental tasks: 5 tasks of 2 classes.
TASKS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


def continual_space() -> dict[str, Param]:
    """The method's search space: a fresh dict of params."""
    return {
        "lr": Float(1e-4, 0.3, log=True),
        "epochs": Int(1, 10),
        "batch_size": Categorical((16, 32, 64, 128)),
        "hidden": Int(16, 256, log=True),
        "buffer_size": Int(0, 1000),
        "replay_ratio": Float(0.0, 2.0),
        "ewc_strength": Float(0.0, 1000.0),
    }


#: What a missing hyperparameter is.
DEFAULTS: dict[str, Any] = {"lr": 0.01, "epochs": 2, "batch_size": 32, "hidden": 64, "buffer_size": 200,
                            "replay_ratio": 1.0, "ewc_strength": 0.0}


@dataclass(frozen=True)
class ContinualData:
    """A data set's training and test parts: ``x_train`` ``(n, d)`` float32, ``y_train`` ``(n,)`` int64 in
    ``0..9``, and the same for the test part."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@lru_cache(maxsize=4)
def _load(name: str) -> ContinualData:
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    else:
        from mnist1d.data import get_dataset_args, make_dataset

        data = make_dataset(get_dataset_args())  # generated from templates with the package's fixed seed
        x_tr, y_tr, x_te, y_te = data["x"], data["y"], data["x_test"], data["y_test"]
    x_tr, x_te = np.asarray(x_tr, dtype=np.float64), np.asarray(x_te, dtype=np.float64)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0) + 1e-6
    return ContinualData(name, ((x_tr - mean) / std).astype(np.float32), np.asarray(y_tr, dtype=np.int64),
                         ((x_te - mean) / std).astype(np.float32), np.asarray(y_te, dtype=np.int64))


def load_dataset(name: str, max_per_class: int | None = None) -> ContinualData:
    """The data set ``name`` (one of :data:`DATASETS`), with at most ``max_per_class`` training and test
    examples per class when given (the first ones, for tiny tests).

    Raises:
        ConfigError: an unknown name or a ``max_per_class`` below 1.
    """
    if name not in DATASETS:
        raise ConfigError(f"dataset must be one of {DATASETS}, but got {short_repr(name, 40)}")
    data = _load(name)
    if max_per_class is None:
        return data
    from hpo.validators import is_int

    if not is_int(max_per_class) or max_per_class < 1:
        raise ConfigError(f"max_per_class must be an integer >= 1 or None, but got {short_repr(max_per_class, 40)}")

    def cut(y: np.ndarray) -> np.ndarray:
        return np.sort(np.concatenate([np.flatnonzero(y == c)[:max_per_class] for c in range(10)]))

    tr, te = cut(data.y_train), cut(data.y_test)
    return ContinualData(name, data.x_train[tr], data.y_train[tr], data.x_test[te], data.y_test[te])


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` over :data:`DEFAULTS`, each name known and each value inside :func:`continual_space`.

    Raises:
        ConfigError: an unknown name or a value outside the space.
    """
    return validate_params(params, continual_space(), "continual-learning", DEFAULTS)


def train_continual(dataset: str | ContinualData, params: Mapping[str, Any], seed: int,
                    max_per_class: int | None = None) -> float:
    """Train the MLP on the 5 tasks of ``dataset`` in order with ``params`` and ``seed`` (weights, batch
    order, replay draws); return the average accuracy over the 5 tasks' test examples after the last task,
    in ``[0, 1]``. The same seed gives the same number.

    Raises:
        ConfigError: an unknown data set, hyperparameter or value outside the space; a negative seed.
    """
    from hpo.validators import is_int

    if not is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, but got {short_repr(seed, 40)}")
    p = check_params(params)
    data = dataset if isinstance(dataset, ContinualData) else load_dataset(dataset, max_per_class)
    with torch_threads():
        return _run(data, p, int(seed))


def _run(data: ContinualData, p: dict[str, Any], seed: int) -> float:
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(data.x_train.shape[1], p["hidden"]), nn.ReLU(), nn.Linear(p["hidden"], 10))
    opt = torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    buffer_x: list[np.ndarray] = []
    buffer_y: list[int] = []
    seen = 0
    fisher: list[torch.Tensor] | None = None
    anchors: list[torch.Tensor] = []
    n_replay = int(round(p["replay_ratio"] * p["batch_size"]))
    for task in TASKS:
        idx = np.flatnonzero(np.isin(data.y_train, task))
        x_task, y_task = torch.from_numpy(data.x_train[idx]), torch.from_numpy(data.y_train[idx])
        for _ in range(p["epochs"]):
            order = torch.randperm(len(idx), generator=gen)
            for start in range(0, len(idx), p["batch_size"]):
                batch = order[start:start + p["batch_size"]]
                xb, yb = x_task[batch], y_task[batch]
                if n_replay and buffer_y:
                    pick = rng.integers(0, len(buffer_y), size=n_replay)
                    xb = torch.cat([xb, torch.from_numpy(np.stack([buffer_x[i] for i in pick]))])
                    yb = torch.cat([yb, torch.tensor([buffer_y[i] for i in pick], dtype=torch.int64)])
                loss = loss_fn(model(xb), yb)
                if fisher is not None and p["ewc_strength"] > 0:
                    penalty = sum((f * (w - a) ** 2).sum() for f, w, a in zip(fisher, model.parameters(), anchors))
                    loss = loss + p["ewc_strength"] / 2 * penalty
                opt.zero_grad()
                loss.backward()
                opt.step()
        for i in idx:  # reservoir sampling over the stream of training examples
            seen += 1
            if len(buffer_y) < p["buffer_size"]:
                buffer_x.append(data.x_train[i])
                buffer_y.append(int(data.y_train[i]))
            elif p["buffer_size"]:
                j = int(rng.integers(0, seen))
                if j < p["buffer_size"]:
                    buffer_x[j], buffer_y[j] = data.x_train[i], int(data.y_train[i])
        if p["ewc_strength"] > 0:
            task_fisher = _fisher(model, loss_fn, x_task, y_task)
            fisher = task_fisher if fisher is None else [f + g for f, g in zip(fisher, task_fisher)]
            anchors = [w.detach().clone() for w in model.parameters()]
    return _average_accuracy(model, data)


def _fisher(model: Any, loss_fn: Any, x: Any, y: Any) -> list[Any]:
    """The diagonal empirical Fisher of ``model`` on one task: squared gradients over batches of 32."""
    out = [w.detach() * 0.0 for w in model.parameters()]
    n_batches = 0
    for start in range(0, len(y), 32):
        model.zero_grad()
        loss_fn(model(x[start:start + 32]), y[start:start + 32]).backward()
        for f, w in zip(out, model.parameters()):
            f += w.grad.detach() ** 2
        n_batches += 1
    model.zero_grad()
    return [f / max(n_batches, 1) for f in out]


def _average_accuracy(model: Any, data: ContinualData) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(data.x_test)).argmax(dim=1).numpy()
    accs = []
    for task in TASKS:
        mask = np.isin(data.y_test, task)
        accs.append(float(np.mean(pred[mask] == data.y_test[mask])) if mask.any() else math.nan)
    value = float(np.mean(accs))
    if not math.isfinite(value):
        raise ConfigError(f"dataset {data.name!r}: a task has no test examples, so its accuracy is undefined")
    return value


def continual_objective(max_per_class: int | None = None) -> Callable[[Any], None]:
    """``objective(trial)`` for a study with a :class:`hpo.protocols.DatasetSplit`: trains on
    ``trial.dataset`` (the tuning data set while tuning, the evaluation data set in the test phase) once
    per ``trial.seeds`` seed and records each average accuracy with ``trial.report_seed`` (maximise).
    ``max_per_class`` cuts both data sets (tiny tests and examples)."""
    def objective(trial: Any) -> None:
        dataset, seeds = _trial_dataset(trial)
        for seed in seeds:
            trial.report_seed(seed, train_continual(dataset, trial.params, seed, max_per_class))
        return None

    return objective


# -- the adapter to the protocol core (trial.dataset / trial.seeds / trial.report_seed, issue 21) ----------
def _trial_dataset(trial: Any) -> tuple[str, tuple[int, ...]]:
    """The data set this trial trains on and its seeds: ``trial.dataset`` and ``trial.seeds``."""
    dataset = getattr(trial, "dataset", None)
    seeds = getattr(trial, "seeds", None)
    if dataset is None or not seeds:
        raise ConfigError("continual_objective needs a study with a data-set protocol (create_study(protocol="
                          f"DatasetSplit(tuning='digits', evaluation='mnist1d', seeds=[...]))): trial "
                          f"{getattr(trial, 'number', '?')} has dataset {dataset!r} and seeds {seeds!r}")
    return str(dataset), tuple(int(s) for s in seeds)

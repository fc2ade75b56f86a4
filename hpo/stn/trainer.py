"""The bilevel STN trainer (``cnn/hypertrain.py``; Delta-STN's ``base_step_optimizer.py``).

1. Warm-up: ``warmup_epochs`` of weight steps at perturbed hyperparameters, no hyperparameter steps.
2. Cycles of ``t_train`` weight steps on training batches (per-example perturbed ``λ̃``, regularisers on;
   SGD with momentum on the weights and the gates) and ``t_val`` hyperparameter steps on validation
   batches (evaluation mode: no dropout or augmentation, so the loss reaches ``h`` only through the
   hypernetwork; Adam on ``h`` and, separately, on the scale ``s``; objective ``loss - τ·entropy``).
3. Every ``eval_every`` weight steps (one epoch by default): the full validation loss at the current
   hyperparameters, a report to the trial, early stopping, the learning-rate rule (divide by 10 when the
   validation loss is worse than ``lr_drop_window`` evaluations earlier) and a checkpoint.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from hpo.errors import StnError
from hpo.stn import checkpoint as ckpt
from hpo.stn.layers import StnConv2d, StnLinear
from hpo.stn.models import StnModel
from hpo.stn.result import StnResult, mean_loss

__all__ = ["train"]

_LOSSES = ("cross_entropy", "mse")


def _number(name: str, value: Any, *, low: float = 0.0, strict: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= low if strict else value < low):
        rule = f"{name} > {low}" if strict else f"{name} >= {low}"
        raise StnError(f"{name}: `{rule}` must hold, but got {name}={value!r:.60}")
    return float(value)


def _optional(name: str, value: Any) -> int | None:
    return None if value is None else _count(name, value)


def _count(name: str, value: Any, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise StnError(f"{name}: must be an integer >= {low}, but got {name}={value!r:.60}")
    return int(value)


def _data(name: str, data: Any, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise StnError(f"{name} must be a pair of tensors (X, y), but got {type(data).__name__}")
    X, y = data
    if X.dim() < 2 or len(X) == 0 or y.dim() != 1 or len(y) != len(X):
        raise StnError(f"{name}: X must have shape (N, ...) with N >= 1 and y shape (N,), but got X "
                       f"{tuple(X.shape)} and y {tuple(y.shape)}")
    if loss == "cross_entropy" and (y.dtype.is_floating_point or y.dtype == torch.bool):
        raise StnError(f"{name}: loss='cross_entropy' needs integer class labels y, but got dtype {y.dtype}")
    return X, (y.float() if loss == "mse" else y.long())


def _train_loss(loss: str, logits: torch.Tensor, y: torch.Tensor, smoothing: torch.Tensor | None) -> torch.Tensor:
    """The training loss; with per-example label smoothing ``ε`` (B,): ``(1-ε)·nll + ε·mean_k(-log p_k)``."""
    if smoothing is None:
        return mean_loss(loss, logits, y)
    logp = F.log_softmax(logits, dim=1)
    nll = -logp.gather(1, y[:, None])[:, 0]
    eps = smoothing.detach()
    return ((1 - eps) * nll + eps * (-logp.mean(dim=1))).mean()


def _batches(n: int, batch_size: int, seed: int, k: int) -> torch.Tensor:
    """Row indices of the ``k``-th batch of a sequence of shuffled epochs (a function of its arguments, so
    a resumed run draws the same batches)."""
    per_epoch = math.ceil(n / batch_size)
    epoch, i = divmod(k, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return perm[i * batch_size:(i + 1) * batch_size]


def train(model: StnModel, train_data: tuple[torch.Tensor, torch.Tensor], val_data: tuple[torch.Tensor, torch.Tensor],
          *, trial: Any = None, epochs: int = 10, warmup_epochs: int = 1, t_train: int = 5, t_val: int = 1,
          lr: float = 0.01, momentum: float = 0.9, hyper_lr: float | None = None, scale_lr: float = 3e-3,
          tau: float = 1e-3, tune_scales: bool = True, hyper_optimizer: str | None = None, batch_size: int = 128,
          loss: str = "cross_entropy", patience: int | None = None, lr_drop_window: int | None = None,
          eval_every: int | None = None, checkpoint_dir: Any = None, tune: bool = True, seed: int = 0,
          progress: bool = True, max_seconds: float | None = None,
          callback: Callable[[dict[str, Any]], bool | None] | None = None) -> StnResult:
    """Train a self-tuning network: the weights and, with ``tune=True``, its hyperparameters, in one run.

    Args:
        model: an :class:`hpo.stn.StnMLP`, :class:`hpo.stn.StnCNN` or other :class:`hpo.stn.StnModel`.
        train_data: ``(X (N, ...), y (N,))``: class labels (``cross_entropy``) or targets (``mse``).
        val_data: the validation data the hyperparameters are tuned on.
        trial: an ``hpo`` trial: every evaluation reports ``val_loss`` and ``hp/<name>`` at
            ``step = weight steps``; checkpoints go to ``trial.checkpoint_dir``; a run resumes from
            ``trial.load_checkpoint()`` or from its own checkpoint; ``trial.should_stop()`` stops it.
        epochs: training epochs in all (warm-up included).
        warmup_epochs: the first epochs train only the weights.
        t_train: weight steps per cycle (Delta-STN: 5; the paper's CNN: 2).
        t_val: hyperparameter steps per cycle (>= 1).
        lr: the weights' SGD learning rate; ``momentum`` its momentum.
        hyper_lr: the learning rate on ``h`` (default 3e-3 with Adam; Delta-STN 1e-2 with RMSprop).
        scale_lr: the Adam learning rate on the perturbation scale ``s``.
        tau: the entropy weight τ (>= 0).
        tune_scales: learn the scale (hyperparameter steps then use perturbed hyperparameters).
        hyper_optimizer: ``"adam"`` (the STN default) or ``"rmsprop"`` (the Delta-STN default).
        batch_size: the batch size of both steps.
        loss: ``"cross_entropy"`` or ``"mse"`` (regression, one output).
        patience: stop after this many evaluations without a better validation loss (None: never).
        lr_drop_window: divide ``lr`` by 10 when the validation loss is worse than this many
            evaluations earlier (and at most once per window); None: never (the paper's CNN: 60).
        eval_every: weight steps between evaluations (default: one epoch).
        checkpoint_dir: a folder for checkpoints when there is no trial; a run resumes from it.
        tune: False trains the same network at the fixed initial hyperparameters (no perturbation, no
            hyperparameter steps): the baseline of a black-box search.
        seed: the seed of the batches, the perturbations and the dropout masks.
        progress: show a tqdm progress bar.
        max_seconds: stop after this wall-clock (checked after every weight step).
        callback: called after every evaluation with ``{"step", "val_loss", "values"}``; True stops.

    Returns:
        The :class:`hpo.stn.StnResult`.

    Raises:
        StnError: a bad option (its name and value in the message), data of the wrong shape, a
            hyperparameter the loss cannot use, or a checkpoint of another model.
    """
    if not isinstance(model, StnModel):
        raise StnError(f"model must be an hpo.stn.StnModel (StnMLP, StnCNN), but got {type(model).__name__}")
    if loss not in _LOSSES:
        raise StnError(f"loss must be one of {', '.join(_LOSSES)}, but got loss={loss!r:.60}")
    hyper = model.hyper
    if loss == "mse" and "label_smoothing" in hyper.names:
        raise StnError("hyperparameter 'label_smoothing' is not used with loss='mse' (it smooths class labels)")
    epochs = _count("epochs", epochs)
    warmup_epochs = _count("warmup_epochs", warmup_epochs, low=0)
    t_train, t_val = _count("t_train", t_train), _count("t_val", t_val)
    batch_size = _count("batch_size", batch_size)
    patience = _optional("patience", patience)
    lr_drop_window = _optional("lr_drop_window", lr_drop_window)
    eval_every = _optional("eval_every", eval_every)
    _count("seed", seed, low=0)
    lr, momentum = _number("lr", lr), _number("momentum", momentum, strict=False)
    optimizer = hyper_optimizer or ("rmsprop" if model.delta else "adam")
    if optimizer not in ("adam", "rmsprop"):
        raise StnError(f"hyper_optimizer must be 'adam' or 'rmsprop', but got {hyper_optimizer!r:.60}")
    hyper_lr = _number("hyper_lr", hyper_lr if hyper_lr is not None else (1e-2 if model.delta else 3e-3))
    scale_lr, tau = _number("scale_lr", scale_lr), _number("tau", tau, strict=False)
    if max_seconds is not None:
        _number("max_seconds", max_seconds)
    if warmup_epochs >= epochs and tune:
        raise StnError(f"warmup_epochs: `warmup_epochs < epochs` must hold with tune=True (else nothing is "
                       f"tuned), but got warmup_epochs={warmup_epochs}, epochs={epochs}")
    X, y = _data("train_data", train_data, loss)
    Xv, yv = _data("val_data", val_data, loss)
    device = next(model.parameters()).device
    X, y, Xv, yv = X.to(device), y.to(device), Xv.to(device), yv.to(device)

    per_epoch = math.ceil(len(X) / batch_size)
    total, warmup = epochs * per_epoch, warmup_epochs * per_epoch
    every: int = eval_every or per_epoch
    hyper_ids = {id(hyper.h), id(hyper.s)}
    response = [p for m in model.modules() if isinstance(m, (StnLinear, StnConv2d))
                for p in m.response_parameters()] if model.delta else []
    response_ids = {id(p) for p in response}
    general = [p for p in model.parameters() if id(p) not in hyper_ids | response_ids]
    opt_w = torch.optim.SGD(general, lr=lr, momentum=momentum)
    opt_r = torch.optim.SGD(response, lr=lr, momentum=momentum) if response else None
    hyper_cls = torch.optim.RMSprop if optimizer == "rmsprop" else torch.optim.Adam
    opt_h, opt_s = hyper_cls([hyper.h], lr=hyper_lr), torch.optim.Adam([hyper.s], lr=scale_lr)
    optimizers = {"w": opt_w, "r": opt_r, "h": opt_h, "s": opt_s}
    gen = torch.Generator(device=device).manual_seed(seed)
    model.generator = gen

    folder = ckpt.folder(trial, checkpoint_dir)
    state = ckpt.new_state(lr)
    source = ckpt.source(trial, folder)
    if source is not None:
        state = ckpt.load(source, model, optimizers, gen)

    def evaluate() -> float:
        model.eval()
        with torch.no_grad():
            fixed = hyper.current()
            total_loss = 0.0
            for i in range(0, len(Xv), 1024):
                out = model(Xv[i:i + 1024], fixed, train=False)
                total_loss += float(mean_loss(loss, out, yv[i:i + 1024])) * len(out)
        return total_loss / len(Xv)

    def weight_step(k: int) -> None:
        model.train()
        idx = _batches(len(X), batch_size, seed, k)
        xb, yb = X[idx], y[idx]
        with torch.no_grad():
            perturbed = hyper.sample(len(idx), gen) if tune else hyper.fixed(len(idx))
        steps = [(opt_w, hyper.fixed(len(idx))), (opt_r, perturbed)] if opt_r is not None else [(opt_w, perturbed)]
        for opt, batch in steps:  # Delta-STN: general parameters at zero offset, then the response
            opt.zero_grad(set_to_none=True)
            logits = model(xb, batch, train=True)
            _train_loss(loss, logits, yb, model.label_smoothing(batch, len(idx))).backward()
            opt.step()

    def hyper_step(k: int) -> None:
        model.eval()
        idx = _batches(len(Xv), batch_size, seed + 1, k)
        opt_h.zero_grad(set_to_none=True)
        opt_s.zero_grad(set_to_none=True)
        batch = hyper.sample(len(idx), gen) if tune_scales else hyper.current()
        objective = mean_loss(loss, model(Xv[idx], batch, train=False), yv[idx])
        if tune_scales:
            objective = objective - tau * hyper.entropy()
        objective.backward()
        opt_h.step()
        if tune_scales:
            opt_s.step()

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, initial=state["step"], desc="stn" if tune else "fixed", leave=False)
    start = time.perf_counter()
    base_seconds = float(state["seconds"])

    def record(step: int) -> dict[str, Any]:
        val = evaluate()
        values = hyper.values_dict()
        state["schedule"].append({"step": step, "val_loss": val, **values})
        state["evals"].append(val)
        if val < state["best"]:
            state["best"], state["since_best"] = val, 0
        else:
            state["since_best"] += 1
        if trial is not None:
            trial.report(step=step, values={"val_loss": val, **{f"hp/{n}": v for n, v in values.items()}})
        if bar is not None:
            bar.set_postfix(val_loss=f"{val:.4g}")
        return {"step": step, "val_loss": val, "values": values}

    def drop_lr() -> None:
        evals, window = state["evals"], lr_drop_window
        if window is None or len(evals) <= window or len(evals) - state["last_drop"] < window:
            return
        if evals[-1] > evals[-1 - window]:
            state["lr"] /= 10
            state["last_drop"] = len(evals)
            for opt in (opt_w, opt_r):
                for group in (opt.param_groups if opt is not None else []):
                    group["lr"] = state["lr"]

    for opt in (opt_w, opt_r):
        for group in (opt.param_groups if opt is not None else []):
            group["lr"] = state["lr"]
    stopped = state["stopped"] if state["stopped"] not in ("max_seconds", "callback", "trial") else ""
    while not stopped and state["step"] < total:
        k = state["step"]
        weight_step(k)
        state["step"] = k = k + 1
        if bar is not None:
            bar.update(1)
        if tune and k > warmup and (k - warmup) % t_train == 0:
            for _ in range(t_val):
                hyper_step(state["hyper_steps"])
                state["hyper_steps"] += 1
        if k % every == 0 or k == total:
            info = record(k)
            drop_lr()
            if patience is not None and state["since_best"] >= patience:
                stopped = "early_stopping"
            elif callback is not None and callback(info):
                stopped = "callback"
            elif trial is not None and trial.should_stop():
                stopped = "trial"
        if not stopped and max_seconds is not None and time.perf_counter() - start >= max_seconds:
            stopped = "max_seconds"
            if not state["schedule"] or state["schedule"][-1]["step"] != k:
                record(k)
        state["seconds"] = base_seconds + time.perf_counter() - start
        if folder is not None and (stopped or k % every == 0 or k == total):
            state["stopped"] = stopped
            ckpt.save(folder, state, model, optimizers, gen, trial)
    if bar is not None:
        bar.close()
    import pandas as pd
    columns = ["step", "val_loss", *hyper.names]
    return StnResult(model=model, best_val_loss=float(state["best"]), final_values=hyper.values_dict(),
                     schedule=pd.DataFrame(state["schedule"], columns=columns), seconds=float(state["seconds"]),
                     weight_steps=int(state["step"]), stopped=stopped or "done", loss=loss,
                     extra={"lr": state["lr"], "hyper_steps": state["hyper_steps"]})

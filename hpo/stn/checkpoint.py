"""Checkpoints of an STN run: ``stn.pt`` (tensors: model, optimisers, random generator; loaded with
``weights_only=True``) and ``stn.json`` (counters, the learning rate, the schedule so far)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from hpo.errors import StnError

if TYPE_CHECKING:
    from hpo.stn.models import StnModel

__all__ = ["folder", "load", "new_state", "owner", "save", "source"]

_META, _TENSORS = "stn.json", "stn.pt"


def new_state(lr: float) -> dict[str, Any]:
    """The counters of a fresh run."""
    return {"step": 0, "hyper_steps": 0, "lr": lr, "evals": [], "best": math.inf, "since_best": 0,
            "last_drop": 0, "schedule": [], "seconds": 0.0, "stopped": ""}


def folder(trial: Any, checkpoint_dir: Any) -> Path | None:
    """Where this run writes checkpoints: ``checkpoint_dir``, else the trial's folder, else nowhere."""
    if checkpoint_dir is not None:
        path = Path(checkpoint_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(trial.checkpoint_dir) if trial is not None else None


def owner(trial: Any) -> str | None:
    """Who wrote a checkpoint: the trial's study id, number and creation time (None without a trial), so a
    folder left by a deleted study of the same name and id is not taken for this trial's own."""
    if trial is None:
        return None
    frozen = getattr(trial, "_frozen", None)
    created = getattr(frozen, "created_at", None)
    return f"{getattr(frozen, 'study_id', None)}:{trial.number}:{created.isoformat() if created else None}"


def _own_checkpoint(trial: Any, own: Path) -> bool:
    if not (own / _META).is_file():
        return False
    try:
        meta = json.loads((own / _META).read_text())
    except (OSError, ValueError):
        return False
    return meta.get("owner") == owner(trial)


def source(trial: Any, own: Path | None) -> Path | None:
    """The checkpoint to resume: this run's own (a re-run of the same trial, or ``checkpoint_dir``),
    else the trial's ``load_checkpoint()`` (a promoted or exploited trial's parent), else None."""
    if own is not None and _own_checkpoint(trial, own):
        return own
    if trial is not None:
        parent = trial.load_checkpoint()
        if parent is not None and (Path(parent) / _META).is_file():
            return Path(parent)
    return None


def save(path: Path, state: dict[str, Any], model: StnModel, optimizers: dict[str, Any],
         generator: torch.Generator, trial: Any = None) -> None:
    """Write the checkpoint atomically (a temporary file, then a rename)."""
    tensors = {"model": model.state_dict(), "generator": generator.get_state(),
               **{f"opt_{k}": opt.state_dict() for k, opt in optimizers.items() if opt is not None}}
    meta = dict(state, best=None if not math.isfinite(state["best"]) else state["best"],
                names=list(model.hyper.names), owner=owner(trial))
    tmp = path / (_TENSORS + ".tmp")
    torch.save(tensors, tmp)
    os.replace(tmp, path / _TENSORS)
    tmp = path / (_META + ".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, path / _META)


def load(path: Path, model: StnModel, optimizers: dict[str, Any], generator: torch.Generator) -> dict[str, Any]:
    """Restore model, optimisers and generator from ``path``; return the counters.

    Raises:
        StnError: the checkpoint is unreadable or belongs to a model with other hyperparameters or shapes.
    """
    try:
        meta = json.loads((path / _META).read_text())
        tensors = torch.load(path / _TENSORS, weights_only=True, map_location="cpu")
    except (OSError, ValueError, RuntimeError) as e:
        raise StnError(f"checkpoint {path.name}: cannot be read ({type(e).__name__}: {str(e)[:200]})") from None
    names = list(model.hyper.names)
    if meta.get("names") != names:
        raise StnError(f"checkpoint {path.name}: its hyperparameters {meta.get('names')!r:.200} are not the "
                       f"model's {names!r:.200}")
    try:
        model.load_state_dict(tensors["model"])
        for key, opt in optimizers.items():
            if opt is not None:
                opt.load_state_dict(tensors[f"opt_{key}"])
        generator.set_state(tensors["generator"])
    except (KeyError, RuntimeError, ValueError) as e:
        raise StnError(f"checkpoint {path.name}: does not fit this model ({type(e).__name__}: {str(e)[:200]})") from None
    meta.pop("names")
    meta.pop("owner", None)
    meta["best"] = math.inf if meta["best"] is None else float(meta["best"])
    return meta

"""Training the PFN on the GP prior (``hpo pfn train``).

One step: draw a batch of data sets from the prior (:mod:`.prior`), pick a
context size ``n_ctx`` uniform in ``min_context..max_context`` (one per step),
feed the first ``n_ctx`` points as context and the rest as queries, and minimise
the bar-distribution NLL of the queries' targets. AdamW, linear warm-up then
cosine decay, gradient clipping, bf16 autocast on CUDA.

Checkpoints (``ckpt_<step>.pt``: model, optimiser, scheduler, data generator
state, config) go to ``out_dir`` every ``checkpoint_every`` steps and at the
end; a run started again with the same ``out_dir`` resumes from the latest one.
``train_curve.csv`` (step, loss, lr, seconds) and ``train_curve.png`` record the
curve. :func:`export_weights` writes the shipped file (half-precision weights,
config, borders; loadable with ``torch.load(..., weights_only=True)``).

The bucket borders are quantiles of ``border_samples`` prior targets drawn with
the run's seed before training, so the run is reproducible from its config.
With ``init_weights`` a run starts from the weights (and borders) of an exported
file instead of a random initialisation, with a fresh optimiser and schedule
(a second stage of training).
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from hpo.errors import ValidationError
from hpo.surrogates.pfn.bar_distribution import borders_from_samples
from hpo.surrogates.pfn.model import PFN, ModelConfig
from hpo.surrogates.pfn.prior import PriorConfig, sample_batch

__all__ = ["TrainConfig", "train", "export_weights", "load_config", "make_borders"]

WEIGHTS_FORMAT = "hpo-pfn-v1"


@dataclass
class TrainConfig:
    """Everything a training run depends on (``hpo pfn train --config FILE``: the same keys in YAML)."""

    prior: PriorConfig = field(default_factory=PriorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 2000
    batch_size: int = 128
    n_points: int = 128
    min_context: int = 1
    max_context: int = 100
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    grad_clip: float = 1.0
    border_samples: int = 200_000
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    device: str = "auto"
    time_limit_s: float | None = None
    init_weights: str | None = None
    out_dir: str = "pfn_run"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(f"pfn train: unknown config key(s) {unknown}; valid keys: {sorted(known)}")
        prior = PriorConfig(**dict(data.pop("prior", None) or {}))
        model = ModelConfig(**dict(data.pop("model", None) or {}))
        cfg = cls(prior=prior, model=model, **data)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        self.prior.validate()
        if self.model.max_dim != self.prior.max_dim:
            raise ValidationError(f"pfn train: model.max_dim ({self.model.max_dim}) must equal prior.max_dim "
                                  f"({self.prior.max_dim})")
        if not 1 <= self.min_context <= self.max_context < self.n_points:
            raise ValidationError(f"pfn train: need 1 <= min_context <= max_context < n_points, but got "
                                  f"min_context={self.min_context}, max_context={self.max_context}, "
                                  f"n_points={self.n_points}")
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValidationError(f"pfn train: {name} must be >= 1, but got {getattr(self, name)!r}")


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A config from a YAML file (``yaml.safe_load``) with dotted ``overrides`` (``{"model.d_model": 128}``)."""
    data: dict[str, Any] = {}
    if path is not None:
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValidationError(f"pfn train: {path} must hold a mapping, but got {type(data).__name__}")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        target = data
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return TrainConfig.from_dict(data)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_borders(cfg: TrainConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    """Bucket borders from prior targets (queries of batches at random context sizes), seeded by ``cfg.seed``."""
    gen = torch.Generator().manual_seed(cfg.seed + 1_000_003)
    ys = []
    per_batch = cfg.batch_size * (cfg.n_points - cfg.min_context)
    n_batches = max(1, math.ceil(cfg.border_samples / max(1, per_batch)))
    for _ in range(n_batches):
        n_ctx = int(torch.randint(cfg.min_context, cfg.max_context + 1, (1,), generator=gen))
        batch = sample_batch(cfg.prior, cfg.batch_size, cfg.n_points, n_ctx, gen=gen, device=device)
        ys.append(batch.y[:, n_ctx:].reshape(-1).cpu())
    return borders_from_samples(torch.cat(ys), cfg.model.n_buckets)


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _init_state(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """float32 state dict of a weights file to start from (a warm start; its model config must match)."""
    payload = torch.load(str(cfg.init_weights), map_location="cpu", weights_only=True)
    if payload.get("config", {}).get("model") != cfg.model.to_dict():
        raise ValidationError(f"pfn train: init_weights {cfg.init_weights!r} has model config "
                              f"{payload.get('config', {}).get('model')}, but this run has {cfg.model.to_dict()}")
    return {k: v.float() for k, v in payload["state_dict"].items()}


def _latest_checkpoint(out: Path) -> Path | None:
    ckpts = sorted(out.glob("ckpt_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    return ckpts[-1] if ckpts else None


def measure_step_rate(cfg: TrainConfig, n_steps: int = 60, warmup: int = 30) -> float:
    """Training steps per second of ``cfg`` on its device (a throwaway model; the run's RNG is untouched)."""
    device = _device(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    borders = torch.linspace(-3, 3, cfg.model.n_buckets + 1)
    with torch.random.fork_rng(devices=[]):
        model = PFN(cfg.model, borders).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        t0 = 0.0
        for i in range(warmup + n_steps):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            n_ctx = int(torch.randint(cfg.min_context, cfg.max_context + 1, (1,), generator=gen))
            batch = sample_batch(cfg.prior, cfg.batch_size, cfg.n_points, n_ctx, gen=gen, device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(batch.x[:, :n_ctx], batch.y[:, :n_ctx], batch.x[:, n_ctx:], batch.dims)
            loss = model.bar.loss(logits.float(), batch.y[:, n_ctx:]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return n_steps / (time.perf_counter() - t0)


def train(cfg: TrainConfig, progress: bool = True, export: str | Path | None = None) -> Path:
    """Train (or resume) and return the path of the final checkpoint.

    With ``export``, the shipped weights file is (re)written there at every
    checkpoint and at the end.
    """
    from tqdm.auto import tqdm

    cfg.validate()
    device = _device(cfg.device)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    latest = _latest_checkpoint(out)
    if latest is not None:
        state = torch.load(latest, map_location="cpu", weights_only=True)
        borders = state["borders"]
        start = int(state["step"])
        print(f"pfn train: resuming from {latest.name} (step {start})")
    else:
        state, start = None, 0
        init = _init_state(cfg) if cfg.init_weights else None
        borders = init["bar.borders"] if init is not None else make_borders(cfg, device)
    model = PFN(cfg.model, borders).to(device)
    if state is None and init is not None:
        model.load_state_dict(init)
        print(f"pfn train: initialised from {cfg.init_weights}")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    gen = torch.Generator().manual_seed(cfg.seed)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
    print(f"pfn train: {model.num_parameters():,} parameters on {device}; steps {start}..{cfg.steps}")
    curve_path = out / "train_curve.csv"
    new_curve = not curve_path.exists() or start == 0
    curve = curve_path.open("w" if new_curve else "a", newline="")
    writer = csv.writer(curve)
    if new_curve:
        writer.writerow(["step", "loss", "lr", "seconds"])
    use_amp = device.type == "cuda"
    t0 = time.perf_counter()
    elapsed0 = float(state["seconds"]) if state is not None else 0.0
    ema: float | None = None
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="pfn train", disable=not progress,
               mininterval=5.0)
    step = start
    model.train()
    try:
        for step in bar:
            n_ctx = int(torch.randint(cfg.min_context, cfg.max_context + 1, (1,), generator=gen))
            batch = sample_batch(cfg.prior, cfg.batch_size, cfg.n_points, n_ctx, gen=gen, device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model(batch.x[:, :n_ctx], batch.y[:, :n_ctx], batch.x[:, n_ctx:], batch.dims)
            loss = model.bar.loss(logits.float(), batch.y[:, n_ctx:]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            value = float(loss.detach())
            ema = value if ema is None else 0.98 * ema + 0.02 * value
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                seconds = elapsed0 + time.perf_counter() - t0
                writer.writerow([done, f"{ema:.5f}", f"{sched.get_last_lr()[0]:.3e}", f"{seconds:.1f}"])
                curve.flush()
                bar.set_postfix(loss=f"{ema:.4f}")
                if not progress:
                    print(f"step {done} loss {ema:.4f} lr {sched.get_last_lr()[0]:.2e} {seconds:.0f}s", flush=True)
            if done % cfg.checkpoint_every == 0:
                ckpt = _save(out, model, opt, sched, gen, cfg, done, elapsed0 + time.perf_counter() - t0)
                if export is not None:
                    export_weights(ckpt, export)
            if cfg.time_limit_s is not None and time.perf_counter() - t0 > cfg.time_limit_s:
                print(f"pfn train: time limit {cfg.time_limit_s:g}s reached at step {done}", flush=True)
                break
    finally:
        bar.close()
        curve.close()
    done = step + 1 if cfg.steps > start else start
    path = _save(out, model, opt, sched, gen, cfg, done, elapsed0 + time.perf_counter() - t0)
    plot_curve(curve_path, out / "train_curve.png")
    if export is not None:
        export_weights(path, export)
    return path


def _save(out: Path, model: PFN, opt: Any, sched: Any, gen: torch.Generator, cfg: TrainConfig, step: int,
          seconds: float) -> Path:
    path = out / f"ckpt_{step}.pt"
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "generator": gen.get_state(), "step": step, "seconds": seconds, "config": cfg.to_dict(),
             "borders": model.bar.borders.detach().cpu()}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    for old in out.glob("ckpt_*.pt"):  # keep the two latest
        if int(old.stem.split("_")[1]) < step - cfg.checkpoint_every:
            old.unlink(missing_ok=True)
    return path


def plot_curve(csv_path: Path, png_path: Path) -> None:
    """The training curve (EMA loss per step) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(Path(csv_path).open()))
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows])
    ax.set_xlabel("step")
    ax.set_ylabel("bar-distribution NLL (EMA)")
    ax.set_title("PFN training curve")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def export_weights(checkpoint: str | Path, path: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """Write the shipped weights file from a checkpoint (weights in ``dtype``, borders in float32)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    sd = {k: (v.to(dtype) if v.is_floating_point() and k != "bar.borders" else v)
          for k, v in state["model"].items()}
    payload = {"format": WEIGHTS_FORMAT, "config": state["config"], "step": state["step"],
               "seconds": state["seconds"], "state_dict": sd}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path

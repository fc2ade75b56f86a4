"""``hpo pfn train`` and ``hpo pfn eval`` (wired into :mod:`hpo.cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]

#: flag -> dotted config key of :class:`~hpo.surrogates.pfn.train.TrainConfig`
_TRAIN_FLAGS = {
    "steps": ("steps", int), "batch_size": ("batch_size", int), "lr": ("lr", float),
    "max_context": ("max_context", int), "n_points": ("n_points", int), "seed": ("seed", int),
    "device": ("device", str), "out_dir": ("out_dir", str), "checkpoint_every": ("checkpoint_every", int),
    "time_limit_s": ("time_limit_s", float), "d_model": ("model.d_model", int), "n_layers": ("model.n_layers", int),
    "n_heads": ("model.n_heads", int), "d_ff": ("model.d_ff", int), "n_buckets": ("model.n_buckets", int),
    "max_dim": ("prior.max_dim", int), "warmup_steps": ("warmup_steps", int), "init_weights": ("init_weights", str),
    "near_query_frac": ("prior.near_query_frac", float),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pfn_command", required=True, metavar="ACTION")
    t = sub.add_parser("train", help="train a PFN on the GP prior (resumes from the latest checkpoint in --out-dir)")
    t.add_argument("--config", help="YAML file with TrainConfig keys (flags override it)")
    for flag, (key, typ) in _TRAIN_FLAGS.items():
        t.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=typ, default=None,
                       help=f"TrainConfig {key} (overrides --config)")
    t.add_argument("--export", help="also write the shipped weights file here (float16) at every checkpoint")
    t.add_argument("--budget-s", type=float, help="set --steps to what fits this many seconds on this device "
                   "(measured with a throwaway model first; the chosen number is printed and saved)")
    t.add_argument("--no-progress", action="store_true", help="print a line per log step instead of a bar")
    e = sub.add_parser("eval", help="NLL of the PFN on held-out GP-prior draws vs exact GPs")
    e.add_argument("--weights", help="weights file (default: the shipped one)")
    e.add_argument("--dims", default="1,2,4,8", help="comma-separated input dimensions")
    e.add_argument("--contexts", default="5,20,50", help="comma-separated context sizes")
    e.add_argument("--datasets", type=int, default=32, help="data sets per cell")
    e.add_argument("--queries", type=int, default=50, help="held-out points per data set")
    e.add_argument("--no-fitted-gp", action="store_true", help="skip the GP with fitted hyperparameters")
    e.add_argument("--seed", type=int, default=123, help="seed of the held-out draws (default 123)")
    e.add_argument("--output", "-o", help="also write the table as markdown here")


def run(args: argparse.Namespace) -> int:
    if args.pfn_command == "train":
        from hpo.surrogates.pfn.train import load_config, measure_step_rate, train

        overrides = {key: getattr(args, flag) for flag, (key, _) in _TRAIN_FLAGS.items()}
        if overrides.get("prior.max_dim") is not None:
            overrides["model.max_dim"] = overrides["prior.max_dim"]
        cfg = load_config(args.config, overrides)
        if args.budget_s is not None:
            rate = measure_step_rate(cfg)
            cfg.steps = max(1, int(args.budget_s * rate))
            cfg.warmup_steps = min(cfg.warmup_steps, max(1, cfg.steps // 10))
            print(f"pfn train: {rate:.2f} steps/s on this device -> steps={cfg.steps} "
                  f"(warmup_steps={cfg.warmup_steps}) for a budget of {args.budget_s:g}s", flush=True)
        ckpt = train(cfg, progress=not args.no_progress, export=args.export)
        print(f"final checkpoint: {ckpt}")
        if args.export:
            print(f"wrote {args.export}")
        return 0
    from hpo.surrogates.pfn.eval import evaluate, format_markdown

    dims = [int(v) for v in args.dims.split(",") if v]
    contexts = [int(v) for v in args.contexts.split(",") if v]
    rows = evaluate(weights=args.weights, dims=dims, contexts=contexts, n_datasets=args.datasets,
                    n_queries=args.queries, fitted_gp=not args.no_fitted_gp, seed=args.seed)
    text = format_markdown(rows)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0

"""``hpo pfn eval``: NLL of the PFN on held-out GP-prior draws against exact GPs.

For each input dimension ``d`` and context size ``n``, ``n_datasets`` data sets
are drawn from the prior the weights were trained on (same hyperpriors, no
target clipping), with ``n`` context and ``n_queries`` held-out points each.
Three predictive distributions of the held-out (noisy, standardised) targets
are scored by their mean negative log-likelihood per point:

* ``pfn``: the PFN's bar distribution;
* ``gp_true``: the exact GP with the data set's true hyperparameters (kernel,
  lengthscales, outputscale and noise): the Bayes-optimal reference for a GP
  prior with known hyperparameters (the PFN approximates the posterior
  predictive *marginalised* over the hyperpriors, so it can come close to but
  is not expected to beat it);
* ``gp_fit``: BoTorch's ``SingleTaskGP`` with hyperparameters fitted by
  maximum marginal likelihood (``fit_gpytorch_mll``) on the context.

All three are scored in the same standardised scale (the context's mean and
standard deviation), so the numbers are comparable. Each point's NLL is capped
at ``NLL_CAP`` nats for all three before averaging (``capped`` counts the PFN's
capped points): with a handful of nearly equal context values the standardised
held-out targets can lie hundreds of units out, where the bar distribution's
fixed half-normal tails (trained on targets clipped to +-10) give an NLL in the
millions that would swamp every mean.

Each row also has ``pfn_var_observed``, the median of the PFN's predictive
variance at the context inputs themselves, next to ``noise``, the median true
noise variance (both standardised): an exact GP predicts about the noise at an
observed input, so a PFN far above it has not learnt to trust its observations,
which limits how precisely BO with it can exploit.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hpo.surrogates.pfn.prior import PriorConfig, matern_kernel, sample_batch

__all__ = ["evaluate", "format_markdown", "exact_gp_nll", "fitted_gp_nll", "NLL_CAP"]

NLL_CAP = 20.0


def exact_gp_nll(x: Tensor, y: Tensor, n_ctx: int, lengthscale: Tensor, outputscale: Tensor, noise: Tensor,
                 y_std: Tensor, nu: float) -> Tensor:
    """Per-point NLL ``B x m`` of the held-out targets under the zero-mean GP with the true hyperparameters.

    ``x``: ``B x n x D`` (float64, warped inputs), ``y``: ``B x n`` targets in the GP's
    scale divided by ``y_std`` (``B``; ones for raw targets).
    """
    xc, xq = x[:, :n_ctx], x[:, n_ctx:]
    yc, yq = y[:, :n_ctx], y[:, n_ctx:]
    s2 = (y_std**2).reshape(-1, 1, 1)
    Kcc = matern_kernel(xc, xc, lengthscale, outputscale, nu) / s2
    Kcc = Kcc + (noise.reshape(-1, 1, 1) / s2) * torch.eye(n_ctx, dtype=x.dtype)
    Kqc = matern_kernel(xq, xc, lengthscale, outputscale, nu) / s2
    L = torch.linalg.cholesky(Kcc + 1e-9 * torch.eye(n_ctx, dtype=x.dtype))
    A = torch.cholesky_solve(yc.unsqueeze(-1), L)
    mu = (Kqc @ A).squeeze(-1)
    V = torch.linalg.solve_triangular(L, Kqc.transpose(1, 2), upper=False)
    var = (outputscale.reshape(-1, 1) + noise.reshape(-1, 1)) / s2.reshape(-1, 1) - V.pow(2).sum(1)
    var = var.clamp_min(1e-12)
    return 0.5 * (torch.log(2 * math.pi * var) + (yq - mu) ** 2 / var)


def fitted_gp_nll(x: Tensor, y: Tensor, n_ctx: int, d: int) -> Tensor:
    """Per-point NLL ``B x m`` under BoTorch ``SingleTaskGP`` fitted on each context (observation noise included)."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood

    out = []
    for b in range(x.shape[0]):
        xc, yc = x[b, :n_ctx, :d], y[b, :n_ctx].unsqueeze(-1)
        xq, yq = x[b, n_ctx:, :d], y[b, n_ctx:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = SingleTaskGP(xc, yc)
            try:
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            except Exception:  # keep the prior hyperparameters
                pass
            with torch.no_grad():
                post = model.posterior(xq, observation_noise=True)
        mu, var = post.mean.squeeze(-1), post.variance.squeeze(-1).clamp_min(1e-12)
        out.append(0.5 * (torch.log(2 * math.pi * var) + (yq - mu) ** 2 / var))
    return torch.stack(out)


def evaluate(weights: str | Path | None = None, dims: list[int] | None = None, contexts: list[int] | None = None,
             n_datasets: int = 32, n_queries: int = 50, fitted_gp: bool = True, seed: int = 123,
             progress: bool = True) -> list[dict[str, Any]]:
    """One row per (d, n): mean NLL per held-out point of pfn, gp_true and (optionally) gp_fit."""
    from tqdm.auto import tqdm

    from hpo.surrogates.pfn.surrogate import load_pfn

    net, config = load_pfn(weights)
    # held-out points uniform in the cube (no near-context queries), as the exact-GP comparison assumes
    prior = PriorConfig(**{**config["prior"], "y_clip": 1e9, "near_query_frac": 0.0})
    dims = dims or [1, 2, 4, 8]
    contexts = contexts or [5, 20, 50]
    rows = []
    cells = [(d, n) for d in dims for n in contexts]
    for i, (d, n) in enumerate(tqdm(cells, desc="pfn eval", disable=not progress)):
        batch = sample_batch(prior, n_datasets, n + n_queries, n, dims=d, seed=seed + 1000 * i)
        with torch.no_grad():
            # one pass scores the held-out queries and the observed inputs themselves (queries are independent);
            # at an observed input an exact GP predicts about the noise
            logits = net(batch.x[:, :n, :d], batch.y[:, :n], torch.cat([batch.x[:, n:, :d], batch.x[:, :n, :d]], 1), d)
            nll_pfn = net.bar.loss(logits[:, :-n], batch.y[:, n:]).double()
            ctx_var = net.bar.variance(logits[:, -n:])  # B x n
        y64 = batch.y.double()
        nll_true = _shifted_exact(batch, y64, n, prior.nu)
        row = {"d": d, "n": n, "pfn": float(nll_pfn.clamp_max(NLL_CAP).mean()),
               "gp_true": float(nll_true.clamp_max(NLL_CAP).mean()),
               "capped": int((nll_pfn > NLL_CAP).sum()), "points": int(nll_pfn.numel()),
               "pfn_var_observed": float(ctx_var.median()),
               "noise": float((batch.noise / batch.y_std.double() ** 2).median())}
        if fitted_gp:
            row["gp_fit"] = float(fitted_gp_nll(batch.x.double(), y64, n, d).detach().clamp_max(NLL_CAP).mean())
        rows.append(row)
    return rows


def _shifted_exact(batch: Any, y: Tensor, n: int, nu: float) -> Tensor:
    """The exact-GP NLL in the raw scale, converted to the standardised scale (``- log y_std``)."""
    raw = y * batch.y_std.unsqueeze(1) + batch.y_mean.unsqueeze(1)
    nll_raw = exact_gp_nll(batch.x_warped, raw, n, batch.lengthscale, batch.outputscale, batch.noise,
                           torch.ones_like(batch.y_std), nu)
    return nll_raw - torch.log(batch.y_std).unsqueeze(1)


def format_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table, plus the mean over cells (NLL per point in nats, capped at ``NLL_CAP``).

    The last two columns are medians over the cell's data sets, in the standardised
    scale: the PFN's predictive variance at the context inputs themselves, and the
    true noise variance, which is about what an exact GP predicts there.
    """
    has_fit = any("gp_fit" in r for r in rows)
    head = "| d | context n | PFN NLL | exact GP (true hyperparameters) | " + \
           ("GP (fitted hyperparameters) | " if has_fit else "") + "PFN - exact | PFN points capped | " \
           "PFN variance at observed points | true noise variance |"
    sep = "|" + "---|" * (head.count("|") - 1)
    lines = [head, sep]
    for r in rows:
        fit = f" {r['gp_fit']:.3f} |" if has_fit else ""
        lines.append(f"| {r['d']} | {r['n']} | {r['pfn']:.3f} | {r['gp_true']:.3f} |{fit} "
                     f"{r['pfn'] - r['gp_true']:+.3f} | {r['capped']}/{r['points']} | "
                     f"{r['pfn_var_observed']:.3f} | {r['noise']:.4f} |")
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("pfn", "gp_true", *(("gp_fit",) if has_fit else ()))}
    fit = f" {mean['gp_fit']:.3f} |" if has_fit else ""
    capped, points = sum(r["capped"] for r in rows), sum(r["points"] for r in rows)
    lines.append(f"| all | all | {mean['pfn']:.3f} | {mean['gp_true']:.3f} |{fit} "
                 f"{mean['pfn'] - mean['gp_true']:+.3f} | {capped}/{points} | | |")
    return "\n".join(lines)


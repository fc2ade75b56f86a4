"""``hpo bench pfn``: the PFN surrogate against the GP (and TPE), measured in one run.

Four parts, written to ``benchmarks/results/pfn.md`` with PNG plots:

1. time per suggestion (``study.ask()``) at 50 / 200 / 1000 completed trials of
   6-D Hartmann, ``pfn-ei`` (the PFN with the augmented EI of its bar
   distribution over a candidate set),
   ``pfn`` (the generic BO sampler with the PFN's posterior) and ``gp``, on this
   machine's CPU, same run (:func:`hpo.bench.samplers_bench.measure_suggest_times`);
2. simple regret on the samplers-benchmark problems of at most 8 dimensions,
   ``gp`` / ``pfn-ei`` / ``tpe`` (:func:`hpo.bench.samplers_bench.run_samplers_benchmark`);
3. calibration: NLL of the PFN on held-out draws of its GP prior against the exact
   GP with the true hyperparameters and a GP with fitted hyperparameters
   (:func:`hpo.surrogates.pfn.eval.evaluate`);
4. the noise the PFN and the GP infer on each regret problem (:func:`noise_levels`).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hpo.bench.samplers_bench import (
    BenchResult,
    TimingResult,
    log_regret_curves,
    make_plan,
    measure_suggest_times,
    run_samplers_benchmark,
)

__all__ = ["run", "noise_levels", "REGRET_PROBLEMS", "REGRET_SAMPLERS", "TIMING_SAMPLERS"]

REGRET_PROBLEMS = ("branin", "levy4", "hartmann6", "mixed-hartmann3", "styblinskitang8")
REGRET_SAMPLERS = ("gp", "pfn-ei", "tpe")
TIMING_SAMPLERS = ("gp", "pfn-ei", "pfn-ei-bf16", "pfn")
#: Timed variants that are not registered sampler names.
TIMING_SPECS = {"pfn-ei-bf16": {"name": "pfn-ei", "options": {"precision": "bfloat16"}}}


def noise_levels(problems: tuple[str, ...] = REGRET_PROBLEMS, sizes: tuple[int, ...] = (20, 60),
                 seed: int = 0) -> list[dict[str, Any]]:
    """The observation noise the PFN and the GP infer on each problem, one row per (problem, n).

    ``n`` random configurations (seeded) are evaluated and both surrogates are fitted
    as the BO sampler fits them (unit-cube inputs, outcomes negated and power-warped
    for the GP). ``pfn``: the PFN's smallest predictive variance at an observed point
    (:meth:`~hpo.surrogates.pfn.surrogate.PFNModel.noise_variance`, the noise it
    implies); ``gp``: the GP likelihood's noise variance. Both are in units of the
    standardised outcome's variance; ``ratio``: ``pfn / gp``. ``gap``: the best minus the fifth-best
    observation on the PFN's scale; a gap below the PFN's noise standard deviation
    means that it cannot tell those points apart.
    """
    import torch

    from hpo.bench.problems import get_problem
    from hpo.samplers.warping import power_warp
    from hpo.space import SearchSpace
    from hpo.surrogates import make_surrogate

    rows = []
    for name in problems:
        problem = get_problem(name)
        space = SearchSpace(problem.space)
        encoder = space.encoder(onehot=False)
        categorical = encoder.category_counts
        rng = np.random.default_rng(seed)
        for n in sizes:
            configs = [space.sample(rng) for _ in range(n)]
            X = torch.as_tensor(encoder.encode(configs), dtype=torch.float64)  # n x d
            y = -np.array([problem.objective(c) for c in configs])  # n, maximised
            pfn = make_surrogate("pfn").fit(X, torch.as_tensor(y).unsqueeze(-1), categorical=categorical, seed=seed)
            gp = make_surrogate("gp").fit(X, torch.as_tensor(power_warp(y)).unsqueeze(-1), categorical=categorical,
                                          seed=seed)
            t = np.sort(pfn.transforms[0].forward(y))[::-1]
            pfn_noise, gp_noise = float(pfn.noise_variance(0)), float(gp.likelihood.noise.detach().mean())
            rows.append({"problem": name, "d": problem.dim, "n": n, "pfn": pfn_noise, "gp": gp_noise,
                         "ratio": pfn_noise / max(gp_noise, 1e-12), "gap": float(t[0] - t[min(4, n - 1)])})
    return rows


def _ratio_span(rows: list[dict[str, Any]]) -> str:
    """``"a-b times (median c times)"``: the range of the PFN's noise over the GP's across ``rows``."""
    ratios = sorted(r["ratio"] for r in rows)
    if not ratios:
        return "(no rows)"
    return f"{ratios[0]:.3g}-{ratios[-1]:.3g} times (median {statistics.median(ratios):.3g} times)"


def _near_query_sentence(prior: dict[str, Any]) -> str:
    """How the weights were taught to trust observations (the prior's ``near_query_frac``), for the report."""
    frac = float(prior.get("near_query_frac", 0.0))
    if frac <= 0:
        return ("These weights were trained on uniform queries only, which almost never fall next to an observed "
                "input in several dimensions, so the network never learnt what to predict there.")
    return (f"These weights were trained with {frac:.0%} of their queries next to observed inputs "
            "(`near_query_frac`), so that the network learns to trust its observations.")


def _noise_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| problem | d | n | PFN noise variance | GP noise variance | PFN / GP | best - 5th best (PFN scale) "
             "| PFN noise sd |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['problem']} | {r['d']} | {r['n']} | {r['pfn']:.2g} | {r['gp']:.2g} | "
                     f"{r['ratio']:.0f} | {r['gap']:.3f} | {math.sqrt(r['pfn']):.3f} |")
    return lines


def _median(t: TimingResult | None) -> float | None:
    return None if t is None else t.median


def _timing_table(timings: list[TimingResult], sizes: tuple[int, ...]) -> list[str]:
    by = {(t.sampler, t.n_obs): t for t in timings}
    samplers = list(dict.fromkeys(t.sampler for t in timings))
    lines = ["| sampler | " + " | ".join(f"{n} trials" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for s in samplers:
        cells = []
        for n in sizes:
            t = by.get((s, n))
            if t is None or t.median is None:
                cells.append(f"n/a ({t.error})" if t is not None and t.error else "n/a")
            else:
                cells.append(f"{t.median:.3f} s")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    for variant in ("pfn-ei", "pfn-ei-bf16"):
        if not any(t.sampler == variant for t in timings):
            continue
        speed = []
        for n in sizes:
            gp, pfn = _median(by.get(("gp", n))), _median(by.get((variant, n)))
            speed.append(f"{gp / pfn:.1f}x" if gp and pfn else "n/a")
        lines.append(f"| **gp / {variant}** | " + " | ".join(speed) + " |")
    return lines


def _plot_timing(timings: list[TimingResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, s in enumerate(dict.fromkeys(t.sampler for t in timings)):
        pts = sorted((t.n_obs, t.median) for t in timings if t.sampler == s and t.median is not None)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=s, color=f"C{i}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("completed trials")
    ax.set_ylabel("median time per ask (s)")
    ax.set_title("Time per suggestion, 6-D Hartmann, CPU")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_regret(result: BenchResult, curves: dict[tuple[str, str], np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(result.plan.problems)
    ncols = min(3, len(problems))
    nrows = math.ceil(len(problems) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.2 * nrows), squeeze=False)
    for ax, problem in zip(axes.flat, problems):
        for i, sampler in enumerate(result.plan.samplers):
            curve = curves.get((problem, sampler))
            if curve is None:
                continue
            x = np.arange(1, curve.shape[1] + 1)
            med = 10.0 ** np.median(curve, axis=0)
            ax.plot(x, med, label=sampler, color=f"C{i}")
            ax.fill_between(x, 10.0 ** np.percentile(curve, 25, axis=0), 10.0 ** np.percentile(curve, 75, axis=0),
                            color=f"C{i}", alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set_title(f"{problem} ({result.problems[problem].dim}-D)", fontsize=10)
        ax.set_xlabel("evaluations", fontsize=8)
        ax.set_ylabel("simple regret", fontsize=8)
        ax.grid(alpha=0.3, which="both", lw=0.4)
    for ax in list(axes.flat)[len(problems):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle("Simple regret: median over seeds, band = quartiles", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _regret_section(result: BenchResult, curves: dict[tuple[str, str], np.ndarray]) -> tuple[list[str], dict[str, Any]]:
    samplers = list(result.plan.samplers)
    lines = ["| problem | d | budget | " + " | ".join(samplers) + " | pfn-ei / gp | pfn-ei beats tpe |",
             "|---|---|---|" + "---|" * (len(samplers) + 2)]
    within, beats, total = 0, 0, 0
    for problem in result.plan.problems:
        med = {s: (float(10.0 ** np.median(curves[(problem, s)][:, -1])) if (problem, s) in curves else None)
               for s in samplers}
        gp, pfn, tpe = med.get("gp"), med.get("pfn-ei"), med.get("tpe")
        ratio = pfn / gp if gp and pfn is not None and gp > 0 else None
        beat = pfn is not None and tpe is not None and pfn < tpe
        if ratio is not None:
            total += 1
            within += ratio <= 1.2
            beats += beat
        info = result.problems[problem]
        cells = " | ".join("n/a" if v is None else f"{v:.3g}" for v in med.values())
        lines.append(f"| {problem} | {info.dim} | {info.budget} | {cells} | "
                     f"{'n/a' if ratio is None else f'{ratio:.2f}'} | {'yes' if beat else 'no'} |")
    return lines, {"within": within, "beats": beats, "total": total}


def run(quick: bool, output_dir: Path, seeds: int | None = None, processes: int = 2) -> Path:
    """Run the PFN benchmark and write ``pfn.md`` (+ PNGs) to ``output_dir``; return the report's path."""
    from hpo.surrogates.pfn.eval import NLL_CAP, evaluate, format_markdown
    from hpo.surrogates.pfn.surrogate import load_pfn

    output_dir = Path(output_dir)
    _, config = load_pfn()
    sizes = (20, 50) if quick else (50, 200, 1000)
    plan = make_plan(quick=quick, samplers=list(REGRET_SAMPLERS),
                     problems=["branin"] if quick else list(REGRET_PROBLEMS),
                     seeds=seeds or (1 if quick else 3), budget=8 if quick else None, timing_sizes=sizes,
                     processes=processes)
    start = time.perf_counter()
    result = run_samplers_benchmark(plan)
    with tempfile.TemporaryDirectory(prefix="hpo-bench-pfn-") as tmp:
        bf16 = measure_suggest_times(["pfn-ei-bf16"], sizes, plan.timing_repeats, Path(tmp), specs=TIMING_SPECS)
    with tempfile.TemporaryDirectory(prefix="hpo-bench-pfn-") as tmp:  # the generic BO path, one repeat
        slow = measure_suggest_times(["pfn"], sizes[:2], 1, Path(tmp))
    timings = [*result.timings, *bf16, *slow]
    nll_rows = evaluate(dims=[2] if quick else [1, 2, 4, 8], contexts=[10] if quick else [5, 20, 50],
                        n_datasets=4 if quick else 32, n_queries=10 if quick else 50, fitted_gp=not quick)
    noise_rows = noise_levels(tuple(plan.problems), sizes=(10,) if quick else (20, 60))
    seconds = time.perf_counter() - start
    curves = log_regret_curves(result)
    stem = "pfn_quick" if quick else "pfn"
    _plot_timing(timings, output_dir / f"{stem}_timing.png")
    _plot_regret(result, curves, output_dir / f"{stem}_regret.png")
    regret_lines, counts = _regret_section(result, curves)
    by = {(t.sampler, t.n_obs): t.median for t in timings}
    n_mid = sizes[1] if len(sizes) > 2 else sizes[-1]
    gp_t, pfn_t, bf16_t = by.get(("gp", n_mid)), by.get(("pfn-ei", n_mid)), by.get(("pfn-ei-bf16", n_mid))
    speedup = gp_t / pfn_t if gp_t and pfn_t else None
    speedup_bf16 = gp_t / bf16_t if gp_t and bf16_t else None
    mean_pfn = sum(r["pfn"] for r in nll_rows) / len(nll_rows)
    mean_true = sum(r["gp_true"] for r in nll_rows) / len(nll_rows)
    gap = (mean_pfn - mean_true) / abs(mean_true) if mean_true else float("nan")
    m = result.machine
    prior = config["prior"]
    lines = [
        "# PFN surrogate benchmark" + (" (quick)" if quick else ""),
        "",
        f"`hpo bench pfn{' --quick' if quick else ''}`; {seconds / 60:.1f} min on {m.get('cpus')} CPUs "
        f"({m.get('processor') or 'unknown processor'}, 1-minute load average after the timings "
        f"{'n/a' if m.get('load_1min') is None else format(m['load_1min'], '.2f')}, torch threads "
        f"{m.get('torch_threads')}). Shipped weights: `surrogates/pfn/weights/pfn_gp_d8.pt` "
        f"({config['model']['n_layers']} layers, d_model {config['model']['d_model']}, "
        f"{config['model']['n_buckets']} buckets, inputs up to {config['model']['max_dim']}-D, context up to "
        f"{config['max_context']} points; training: `surrogates/pfn/weights/MODEL.md`).",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| >= 10x faster than `gp` per suggestion at {n_mid} trials (CPU) | "
        f"{'n/a' if speedup is None else f'{speedup:.1f}x ({gp_t:.3f} s vs {pfn_t:.3f} s)'} | "
        f"{'yes' if speedup and speedup >= 10 else 'no'} |",
        f"| the same with `precision=\"bfloat16\"` | "
        f"{'n/a' if speedup_bf16 is None else f'{speedup_bf16:.1f}x ({gp_t:.3f} s vs {bf16_t:.3f} s)'} | "
        f"{'yes' if speedup_bf16 and speedup_bf16 >= 10 else 'no'} |",
        f"| median final regret within 1.2x of `gp` | {counts['within']}/{counts['total']} problems | "
        f"{'yes' if counts['total'] and counts['within'] == counts['total'] else 'no'} |",
        f"| better than TPE on most problems | {counts['beats']}/{counts['total']} problems | "
        f"{'yes' if counts['beats'] * 2 > counts['total'] else 'no'} |",
        f"| PFN NLL within 5% of the exact-GP reference | mean {mean_pfn:.3f} vs {mean_true:.3f} nats "
        f"({100 * gap:+.0f}%) | {'yes' if gap <= 0.05 else 'no'} |",
        "",
        "## Time per suggestion",
        "",
        "Median `study.ask()` time with n completed random trials of 6-D Hartmann in the history "
        f"({plan.timing_repeats} timed asks after one warm-up; `pfn`: one timed ask, and only at the smaller sizes). "
        "`pfn-ei`: PFN, augmented EI (EI of the bar distribution x (1 - sqrt(noise variance / predictive "
        "variance)), computed exactly) over 1024 Sobol/local candidates in one forward pass plus "
        "2 rounds of batched local perturbation; `pfn-ei-bf16`: the same with `precision=\"bfloat16\"` "
        "(CPU autocast; timed after the others, in the same process); `pfn`: the generic BO sampler (qLogNEI on the PFN's "
        "moment-matched posterior, maximised by multi-start L-BFGS); `gp`: the GP surrogate.",
        "",
        *_timing_table(timings, sizes),
        "",
        f"![time per suggestion]({stem}_timing.png)",
        "",
        "## Regret",
        "",
        f"Median final simple regret over {len(plan.seeds)} seeds (same seeds and initial designs for every "
        "sampler), problems of the samplers benchmark with at most 8 dimensions.",
        "",
        *regret_lines,
        "",
        f"![regret curves]({stem}_regret.png)",
        "",
        "## The noise the models infer",
        "",
        "A diagnosis of the regret: n random configurations of each problem, both surrogates fitted as the "
        "samplers fit them. The PFN's value is its smallest predictive variance at an observed input (the noise "
        "its augmented EI discounts); the GP's is its likelihood's noise variance, about what a GP predicts "
        "there; both in units of the standardised outcome's variance. The functions are noiseless. The PFN's "
        f"prior draws noise variances from LogNormal({prior['noise_loc']:g}, {prior['noise_scale']:g}) (95% "
        f"between {math.exp(prior['noise_loc'] - 1.96 * prior['noise_scale']):.2g} and "
        f"{math.exp(prior['noise_loc'] + 1.96 * prior['noise_scale']):.2g} before standardisation). Here the "
        f"PFN's noise is {_ratio_span(noise_rows)} the GP's; on draws of its own prior, compare the last two "
        "columns of the calibration table. Where the best observations differ by less than the PFN's noise "
        "standard deviation it cannot tell them apart, which limits how precisely it exploits. "
        f"{_near_query_sentence(prior)}",
        "",
        *_noise_table(noise_rows),
        "",
        "## Calibration: NLL on held-out GP-prior draws",
        "",
        "Mean negative log-likelihood per held-out point (nats, standardised scale, each point capped at "
        f"{NLL_CAP:g}) on data sets drawn from the prior the PFN was trained on. The exact GP with the true "
        "hyperparameters is an oracle (it knows each data set's lengthscales, outputscale and noise); the PFN "
        "approximates the posterior predictive averaged over the hyperpriors, so it cannot be expected to match it "
        "where the context is too small to pin the hyperparameters down. The GP with fitted hyperparameters is "
        "BoTorch's SingleTaskGP fitted by marginal likelihood.",
        "",
        format_markdown(nll_rows),
        "",
    ]
    path = output_dir / f"{stem}.md"
    path.write_text("\n".join(lines))
    return path

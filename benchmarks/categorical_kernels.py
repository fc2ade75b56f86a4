"""Which kernel for unordered categoricals? A quick held-out comparison (issue 23, part 2).

For each problem (``mixed-hartmann3``: 4 labels; ``cat20-hartmann3``: 20 labels;
``tabular-mlp``: 2 + 3 labels and 7 ordinals), ``n`` random configurations are the training set
and 300 others the test set; four GPs are fitted on the same (Yeo-Johnson-warped, then
standardised) data and scored on the test set by Spearman's rank correlation of the posterior
mean with the truth (what an acquisition needs: the order of configurations) and by the mean
negative log predictive density (NLPD, in standardised units):

* ``hamming-sum+prod``: hpo's ``mixed_kernel``, Matern-5/2 plus/times BoTorch's categorical
  (exponentiated Hamming) kernel, the composition of ``MixedSingleTaskGP``;
* ``botorch-mixed``: ``botorch.models.MixedSingleTaskGP`` itself (categories as integer codes);
* ``onehot``: one-hot columns, a plain Matern-5/2 ARD (continuous relaxation);
* ``optuna-overlap``: one Matern-5/2 over numerical and Hamming distances
  (``hpo.kernels.overlap.HammingMaternKernel``, Optuna's GPSampler kernel).

Run: ``python benchmarks/categorical_kernels.py`` (a few minutes on one core).
"""

from __future__ import annotations

import os
import statistics
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

PROBLEMS = ("mixed-hartmann3", "cat20-hartmann3", "tabular-mlp")
SIZES = (20, 40)
SEEDS = (0, 1, 2)
N_TEST = 300


def _fit(kind: str, space, train: list[dict], y: np.ndarray, test: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import MixedSingleTaskGP, SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.kernels import ScaleKernel
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from hpo.kernels.categorical import mixed_kernel
    from hpo.kernels.overlap import HammingMaternKernel

    enc = space.encoder(onehot=(kind == "onehot"))
    X, Xt = (torch.as_tensor(enc.encode(c)) for c in (train, test))
    Y = torch.as_tensor(y)[:, None]
    cats = enc.category_counts
    if kind == "botorch-mixed":
        for j, k in cats.items():
            X[:, j], Xt[:, j] = (torch.minimum(torch.floor(Z[:, j] * k), torch.tensor(k - 1.0)) for Z in (X, Xt))
        model = MixedSingleTaskGP(X, Y, cat_dims=sorted(cats), outcome_transform=Standardize(m=1))
    else:
        covar = {"hamming-sum+prod": lambda: mixed_kernel(X.shape[-1], cats),
                 "onehot": lambda: mixed_kernel(X.shape[-1], {}),
                 "optuna-overlap": lambda: ScaleKernel(HammingMaternKernel(X.shape[-1], cats))}[kind]()
        model = SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    model.eval()
    with torch.no_grad():
        post = model.posterior(Xt)
        return post.mean.squeeze(-1).numpy(), post.variance.squeeze(-1).numpy()


def main() -> None:
    from scipy.stats import spearmanr
    from sklearn.preprocessing import PowerTransformer

    from hpo.bench.problems import get_problem
    from hpo.space import SearchSpace

    kinds = ("hamming-sum+prod", "botorch-mixed", "onehot", "optuna-overlap")
    print("| problem | n | " + " | ".join(f"{k} rho / NLPD" for k in kinds) + " |")
    print("|---|---:|" + "---|" * len(kinds))
    for name in PROBLEMS:
        problem = get_problem(name)
        space = SearchSpace(problem.space)
        for n in SIZES:
            scores: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
            for seed in SEEDS:
                rng = np.random.default_rng(1000 * seed + n)
                configs = [space.sample(rng) for _ in range(n + N_TEST)]
                values = np.array([problem.objective(c) for c in configs])
                pt = PowerTransformer().fit(values[:n, None])
                y_all = pt.transform(values[:, None])[:, 0]
                mu, sd = y_all[:n].mean(), y_all[:n].std() + 1e-12
                y_all = (y_all - mu) / sd
                for k in kinds:
                    mean, var = _fit(k, space, configs[:n], y_all[:n], configs[n:])
                    truth = y_all[n:]
                    rho = spearmanr(mean, truth).statistic
                    nlpd = float(np.mean(0.5 * np.log(2 * np.pi * var) + (truth - mean) ** 2 / (2 * var)))
                    scores[k].append((float(rho), nlpd))
            cells = [f"{statistics.median(r for r, _ in scores[k]):.3f} / {statistics.median(v for _, v in scores[k]):.2f}"
                     for k in kinds]
            print(f"| {name} | {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

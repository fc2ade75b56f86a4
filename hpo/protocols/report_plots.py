"""The protocol report's PNG figures (matplotlib, drawn off-screen):

- ``<study>_<objective>_tuning_vs_test.png``: per incumbent, its tuning and its test score side by side,
  with the bootstrap intervals as error bars (the recommended trial marked);
- ``<study>_<objective>_ranks.png``: tuning rank against test rank of every trial with both, with
  Kendall's tau and Spearman's rho in the title (drawn only when some trial has both).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo.protocols.report import Incumbent, ProtocolReport

__all__ = ["plot_report"]

_TUNING, _TEST = "#1f77b4", "#ff7f0e"


def _safe(text: str) -> str:
    """A file-name-safe version of a study or objective name (at most 60 characters)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "study"


def _errors(rows: list[Incumbent], split: str) -> tuple[list[float], list[list[float]]]:
    """Point estimates and the ``(2, n)`` asymmetric error bars of ``split`` for rows that have it."""
    values, low, high = [], [], []
    for r in rows:
        v, lo, hi = getattr(r, split), getattr(r, f"{split}_low"), getattr(r, f"{split}_high")
        values.append(v)
        low.append(v - lo if lo is not None else 0.0)
        high.append(hi - v if hi is not None else 0.0)
    return values, [low, high]


def _scores_figure(report: ProtocolReport, path: Path) -> None:
    import matplotlib.pyplot as plt

    rows = [r for r in report.rows if r.tuning is not None]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4.5))
    xs = list(range(len(rows)))
    tuning_name, test_name = report.splits
    values, err = _errors(rows, "tuning")
    ax.errorbar([x - 0.12 for x in xs], values, yerr=err, fmt="o", color=_TUNING, capsize=4, label=tuning_name)
    tested = [(x, r) for x, r in zip(xs, rows) if r.tested]
    if tested:
        values, err = _errors([r for _, r in tested], "test")
        ax.errorbar([x + 0.12 for x, _ in tested], values, yerr=err, fmt="s", color=_TEST, capsize=4,
                    label=test_name)
    rec = report.recommended
    labels = [f"{r.number}{'*' if rec is not None and r.number == rec.number else ''}"
              + ("" if r.tested else "\n(no test)") for r in rows]
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlabel("trial (best tuning score first; * recommended)")
    ax.set_ylabel(f"{report.objective} ({report.aggregate} over seeds, {report.direction})")
    ax.set_title(f"{report.study}: tuning vs test score, {report.confidence:.0%} bootstrap intervals", fontsize=10)
    if rows:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ranks_figure(report: ProtocolReport, path: Path) -> None:
    import matplotlib.pyplot as plt

    both = [r for r in report.rows if r.tested and r.tuning is not None]
    # The ranks in the rows are among all trials; rank again among the trials that have both.
    tuning_order = {r.number: i + 1 for i, r in enumerate(sorted(both, key=lambda r: (r.tuning_rank or 0, r.number)))}
    test_order = {r.number: i + 1 for i, r in enumerate(sorted(both, key=lambda r: (r.test_rank or 0, r.number)))}
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    xs = [tuning_order[r.number] for r in both]
    ys = [test_order[r.number] for r in both]
    ax.scatter(xs, ys, color=_TUNING, zorder=3)
    for r, x, y in zip(both, xs, ys):
        ax.annotate(str(r.number), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    n = len(both)
    ax.plot([1, max(n, 1)], [1, max(n, 1)], "--", color="#7f7f7f", label="same rank")
    c = report.correlation
    stats = (f"Kendall tau {c.kendall_tau:.3g}, Spearman rho {c.spearman_rho:.3g} (n={c.n})"
             if c.kendall_tau is not None and c.spearman_rho is not None else f"no correlation: {c.reason}")
    ax.set_title(f"{report.study}: tuning rank vs test rank\n{stats}", fontsize=9)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank on tuning (1 = best)")
    ax.set_ylabel("rank on test (1 = best)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_report(report: ProtocolReport, directory: Path) -> list[Path]:
    """Write the figures into ``directory`` (created if missing) and return their paths; the rank
    figure only when a trial has both scores (the rows shown are the incumbents, so it ranks those)."""
    import matplotlib

    matplotlib.use("Agg")
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{_safe(report.study)}_{_safe(report.objective)}"
    paths = [directory / f"{stem}_tuning_vs_test.png"]
    _scores_figure(report, paths[0])
    if any(r.tested and r.tuning is not None for r in report.rows):
        paths.append(directory / f"{stem}_ranks.png")
        _ranks_figure(report, paths[1])
    return paths

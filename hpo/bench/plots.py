"""Plots shared by the benchmark reports."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_bands"]


def plot_bands(panels: Sequence[tuple[str, Mapping[str, np.ndarray]]], order: Sequence[str],
               colors: Mapping[str, str], ylabel: str, title: str, path: Path) -> None:
    """One panel per problem: per method, the median over seeds as a line and the quartiles as a band.

    Args:
        panels: (title, method -> ``(seeds, budget)`` array of log10 values) per panel.
        order: the methods, in legend order.
        colors: method -> colour (others get matplotlib's cycle).
        ylabel: the y axis label (the axis is logarithmic: ``10 ** value`` is drawn).
        title: the figure title.
        path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax, (panel_title, curves) in zip(axes.flat, panels):
        for i, method in enumerate(order):
            curve = curves.get(method)
            if curve is None:
                continue
            x = np.arange(1, curve.shape[1] + 1)
            q25, med, q75 = (10.0 ** np.nanpercentile(curve, q, axis=0) for q in (25, 50, 75))
            color = colors.get(method, f"C{i % 10}")
            ax.plot(x, med, color=color, label=method, lw=1.6)
            ax.fill_between(x, q25, q75, color=color, alpha=0.18, lw=0)
        ax.set_yscale("log")
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("evaluations", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="both", lw=0.4)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)

"""Plotly figures of the dashboard, built from sampled frames (see ``analysis``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hpo.dashboard.analysis import best_so_far, encode_params, sample
from hpo.records import Objective, StudyRecord

__all__ = [
    "history_figure",
    "parallel_figure",
    "slice_figure",
    "importance_figure",
    "curves_figure",
    "schedules_figure",
    "pareto_figure",
    "hypervolume_figure",
    "seeds_figure",
    "seeds_box_figure",
    "contour_figure",
    "timeline_figure",
    "INACTIVE",
    "STATE_COLORS",
    "display_name",
]

STATE_COLORS = {
    "COMPLETE": "#1f77b4",
    "PRUNED": "#ff7f0e",
    "RUNNING": "#2ca02c",
    "FAILED": "#d62728",
    "WAITING": "#7f7f7f",
}
#: C0 control characters and DEL -> their Unicode control pictures (NUL -> U+2400): visible and safe to render.
_CONTROL_PICTURES = {**{i: 0x2400 + i for i in range(32)}, 0x7F: 0x2421}


def display_name(name: Any) -> str:
    """A name (objective, parameter, metric) as text to display: control characters such as NUL become their
    Unicode control pictures (``"lo\\x00ss"`` -> ``"lo\u2400ss"``), so any stored name shows instead of breaking."""
    return str(name).translate(_CONTROL_PICTURES)


#: The tick label of an inactive conditional parameter on a parallel-coordinates axis.
INACTIVE = "inactive"


def integer_ticks(fig: go.Figure, values: Any, axis: str = "xaxis") -> None:
    """Whole-number ticks on ``axis`` when every value is a whole number (no 0.5 between steps 0 and 1)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    if not len(v) or not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
        return
    span = float(v.max() - v.min())
    settings: dict[str, Any] = {"tickformat": "d"}
    if span <= 10:
        settings.update(tick0=float(v.min()), dtick=1)
    fig.update_layout({axis: settings})


# No template: Streamlit's theme styles the charts (and copying a Plotly template costs ~20 ms per figure).
_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 50, "b": 50}}


def history_figure(done: pd.DataFrame, objective: Objective, max_points: int = 5000,
                   pruned: pd.DataFrame | None = None) -> go.Figure:
    """Every completed trial's value (sampled) and the best value so far (computed on all).

    ``pruned``: trials stopped early (columns ``number``, ``value``, ``budget``), drawn with their last
    reported value of the objective and the budget they reached (not part of the best-so-far line).
    """
    col = f"values_{objective.name}"
    best = best_so_far(done, objective)
    shown = sample(done, max_points, keep=done["number"].isin(best["number"]))
    fig = go.Figure()
    budget = shown["budget"] if "budget" in shown.columns else None
    fig.add_trace(go.Scattergl(
        x=shown["number"], y=shown[col], mode="markers", name="trial",
        marker={"size": 5, "color": STATE_COLORS["COMPLETE"], "opacity": 0.6}, customdata=budget,
        hovertemplate="trial %{x}<br>" + display_name(objective.name) + " %{y:.6g}"
                      + ("<br>budget %{customdata}" if budget is not None else "") + "<extra></extra>",
    ))
    n_pruned = 0
    if pruned is not None and len(pruned):
        part = sample(pruned, max_points)
        n_pruned = len(pruned)
        fig.add_trace(go.Scattergl(
            x=part["number"], y=part["value"], mode="markers", name="pruned (last report)",
            marker={"size": 5, "color": STATE_COLORS["PRUNED"], "opacity": 0.6, "symbol": "x"},
            customdata=part["budget"],
            hovertemplate="trial %{x} (pruned)<br>" + display_name(objective.name)
                          + " %{y:.6g} (last report)<br>budget %{customdata}<extra></extra>",
        ))
    fig.add_trace(go.Scatter(
        x=best["number"], y=best["best"], mode="lines", name="best so far", line={"shape": "hv", "color": "#d62728"},
    ))
    title = f"Optimisation history: {display_name(objective.name)} ({objective.direction.value})"
    if len(shown) < len(done):
        title += f" - {len(shown):,} of {len(done):,} trials shown"
    if n_pruned:
        title += f" - {len(done):,} completed, {n_pruned:,} pruned at their last report"
    fig.update_layout(title=title, xaxis_title="trial", yaxis_title=display_name(objective.name), **_LAYOUT)
    integer_ticks(fig, pd.concat([done["number"], pruned["number"]]) if n_pruned else done["number"])
    return fig


def _ticks(lo: float, hi: float, integer: bool) -> list[float]:
    if integer and hi - lo <= 10:
        return [float(v) for v in range(int(np.ceil(lo)), int(np.floor(hi)) + 1)]
    ticks = np.linspace(lo, hi, 5)
    return [float(np.round(t)) for t in ticks] if integer else [float(t) for t in ticks]


def _dimension(name: str, spec: dict[str, Any], encoded: pd.Series) -> dict[str, Any]:
    """One axis. An inactive conditional parameter (NaN) gets its own level, ``inactive``, below the range:
    Plotly draws no line with a NaN, so without it such trials would vanish from the chart."""
    inactive = bool(encoded.isna().any())
    label = display_name(name)
    if spec.get("type") == "categorical":
        choices = [str(c) for c in spec.get("choices", [])]
        tickvals: list[float] = [float(i) for i in range(len(choices))]
        ticktext = choices
        lo, hi, step = -0.5, max(len(choices) - 0.5, 0.5), 1.0
    elif spec.get("log"):
        lo, hi = float(np.log10(spec["low"])), float(np.log10(spec["high"]))
        tickvals = [float(t) for t in np.arange(np.floor(lo), np.ceil(hi) + 1)]
        ticktext = [f"1e{int(t)}" for t in tickvals]
        step = max(hi - lo, 1e-12) / 8
        label = f"{label} (log)"
    else:
        lo, hi = float(spec.get("low", encoded.min())), float(spec.get("high", encoded.max()))
        tickvals = _ticks(lo, hi, spec.get("type") == "int")
        ticktext = [f"{t:.4g}" for t in tickvals]
        step = max(hi - lo, 1e-12) / 8
    values = encoded
    if inactive:
        missing = lo - step
        values = encoded.fillna(missing)
        tickvals, ticktext, lo = [missing, *tickvals], [INACTIVE, *ticktext], missing - step / 2
    return {"label": label, "values": values, "tickvals": tickvals, "ticktext": ticktext, "range": [lo, hi]}


def parallel_figure(done: pd.DataFrame, record: StudyRecord, objective: Objective, max_lines: int = 1000,
                    params: Sequence[str] | None = None) -> go.Figure:
    """Parallel coordinates of the parameters, coloured by the objective (the best half of the lines kept).

    Every trial is drawn: a conditional parameter that is inactive sits on its axis's ``inactive`` level.
    The colour bar names the objective.
    """
    col = f"values_{objective.name}"
    signed = objective.sign * done[col]
    keep = signed <= signed.nsmallest(max_lines // 2).max() if len(done) else None
    shown = sample(done, max_lines, keep=keep)
    encoded = encode_params(shown, record)
    names = [n for n in encoded.columns if params is None or n in params]
    dims = [_dimension(n, record.space[n], encoded[n]) for n in names]
    dims.append({"label": display_name(objective.name), "values": shown[col]})
    fig = go.Figure(go.Parcoords(
        line={"color": shown[col], "colorscale": "Viridis", "reversescale": objective.sign > 0, "showscale": True,
              "colorbar": {"title": {"text": display_name(objective.name)}}},
        dimensions=dims,
    ))
    title = "Parallel coordinates"
    if len(shown) < len(done):
        title += f" - {len(shown):,} of {len(done):,} trials (the best half kept)"
    fig.update_layout(title=title, **{**_LAYOUT, "margin": {"l": 70, "r": 70, "t": 90, "b": 30}})
    return fig


def _prior_curves(record: StudyRecord, names: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The study prior's density curves of the shown parameters ({} without a prior, or with a user density
    the store records by name only)."""
    stored = (record.settings or {}).get("prior")
    if not stored:
        return {}
    from hpo.errors import PriorError
    from hpo.priors.curves import prior_curves

    try:
        curves = prior_curves(stored, record.space)
    except PriorError:
        return {}
    return {n: curves[n] for n in names if n in curves}


def _prior_trace(fig: go.Figure, curve: tuple[np.ndarray, np.ndarray], y: pd.Series, first: bool, row: int,
                 col: int) -> None:
    """The prior density ``curve`` drawn in a slice panel, scaled to the span of the objective values ``y``."""
    x, density = curve
    finite = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    top = float(density.max()) or 1.0
    fig.add_trace(go.Scatter(
        x=x, y=lo + (hi - lo) * density / top, mode="lines", name="prior density", legendgroup="prior",
        showlegend=first, line={"color": "#ff7f0e", "dash": "dash", "width": 1.5}, customdata=density,
        hovertemplate="prior density %{customdata:.3g} at %{x}<extra></extra>",
    ), row=row, col=col)


def slice_figure(done: pd.DataFrame, record: StudyRecord, objective: Objective, max_points: int = 2000,
                 params: Sequence[str] | None = None) -> go.Figure:
    """One panel per parameter: the objective against the parameter's value, coloured by trial number; with a
    study prior, its density (dashed, scaled to the panel) beside the trials."""
    col = f"values_{objective.name}"
    names = [n for n, spec in record.space.items()
             if spec.get("type") != "fixed" and (params is None or n in params)][:12]
    shown = sample(done, max_points)
    curves = _prior_curves(record, names)
    n_cols = min(3, max(len(names), 1))
    n_rows = max(1, -(-len(names) // n_cols))
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=[display_name(n) for n in names], shared_yaxes=True,
                        horizontal_spacing=0.04, vertical_spacing=0.12 if n_rows > 1 else 0.1)
    for i, name in enumerate(names):
        spec = record.space[name]
        x = shown[f"params_{name}"]
        if spec.get("type") == "categorical":
            x = x.map(str)
        fig.add_trace(go.Scattergl(
            x=x, y=shown[col], mode="markers", showlegend=False, name=display_name(name),
            marker={"size": 4, "color": shown["number"], "colorscale": "Blues", "opacity": 0.7,
                    "showscale": i == 0, "colorbar": {"title": {"text": "trial"}}},
            hovertemplate=display_name(name) + " %{x}<br>" + display_name(objective.name) + " %{y:.6g}<extra></extra>",
        ), row=i // n_cols + 1, col=i % n_cols + 1)
        if name in curves:
            _prior_trace(fig, curves[name], shown[col], first=name == next(iter(curves)), row=i // n_cols + 1,
                         col=i % n_cols + 1)
        if spec.get("log"):
            fig.update_xaxes(type="log", row=i // n_cols + 1, col=i % n_cols + 1)
    title = f"Slice plots: {display_name(objective.name)} against each parameter"
    if curves:
        title += " (dashed: the study prior's density, scaled to each panel)"
    if len(shown) < len(done):
        title += f" - {len(shown):,} of {len(done):,} trials shown"
    fig.update_layout(title=title, height=260 * n_rows + 60, **_LAYOUT)
    return fig


def importance_figure(importance: pd.Series, objective: Objective) -> go.Figure:
    ordered = importance.sort_values()
    fig = go.Figure(go.Bar(x=ordered.to_numpy(), y=list(ordered.index), orientation="h",
                           marker_color="#1f77b4", text=[f"{v:.2f}" for v in ordered], textposition="auto"))
    fig.update_layout(title="Parameter importance (fANOVA)",
                      xaxis_title=f"share of the importance for {display_name(objective.name)}",
                      height=120 + 30 * len(ordered), **_LAYOUT)
    return fig


def curves_figure(curves: pd.DataFrame, metric: str, colour_by: str, step_label: str) -> go.Figure:
    """Learning curves, one line per trial, coloured by ``colour_by`` (a column of ``curves``)."""
    metric, step_label = display_name(metric), display_name(step_label)
    fig = go.Figure()
    palette = {**STATE_COLORS, "promote": "#2ca02c", "stop": "#d62728", "continue": "#1f77b4", "(none)": "#9467bd"}
    extra = iter(["#8c564b", "#e377c2", "#17becf", "#bcbd22"])
    seen: set[str] = set()
    for number, g in curves.groupby("number", sort=True):
        key = str(g[colour_by].iloc[0])
        colour = palette.get(key) or palette.setdefault(key, next(extra, "#333333"))
        fig.add_trace(go.Scattergl(
            x=g["step"], y=g["value"], mode="lines+markers" if len(g) < 30 else "lines",
            name=key, legendgroup=key, showlegend=key not in seen,
            line={"color": colour, "width": 1.5}, marker={"size": 4}, opacity=0.8,
            hovertemplate=f"trial {number}<br>{step_label} %{{x}}<br>{metric} %{{y:.6g}}<extra>{key}</extra>",
        ))
        seen.add(key)
    fig.update_layout(title=f"Learning curves: {metric} by {step_label}, coloured by {colour_by}",
                      xaxis_title=step_label, yaxis_title=metric, legend_title_text=colour_by, height=480, **_LAYOUT)
    integer_ticks(fig, curves["step"])
    return fig


def schedules_figure(schedules: pd.DataFrame, step_label: str, max_panels: int = 12) -> go.Figure:
    """Hyperparameter schedules: one panel per hyperparameter (the first ``max_panels`` by name), one line
    per trial in it; ``schedules`` as :func:`hpo.dashboard.analysis.schedule_frame` returns it."""
    step_label = display_name(step_label)
    names = sorted(schedules["hyperparameter"].unique())[:max_panels]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=min(0.08, 0.3 / len(names)),
                        subplot_titles=[display_name(n) for n in names])
    trials = sorted(schedules["number"].unique())
    colours = {n: f"hsl({(47 * i) % 360}, 65%, 45%)" for i, n in enumerate(trials)}
    for row, name in enumerate(names, 1):
        shown = schedules[schedules["hyperparameter"] == name]
        for number, g in shown.groupby("number", sort=True):
            label = display_name(name)
            fig.add_trace(go.Scattergl(
                x=g["step"], y=g["value"], mode="lines+markers" if len(g) < 30 else "lines",
                name=f"trial {number}", legendgroup=f"trial {number}", showlegend=row == 1,
                line={"color": colours[number], "width": 1.5}, marker={"size": 4}, opacity=0.85,
                hovertemplate=f"trial {number}<br>{step_label} %{{x}}<br>{label} %{{y:.6g}}<extra></extra>",
            ), row=row, col=1)
        fig.update_yaxes(title_text=display_name(name), row=row, col=1)
    fig.update_xaxes(title_text=step_label, row=len(names), col=1)
    more = schedules["hyperparameter"].nunique() - len(names)
    fig.update_layout(title="Hyperparameter schedules: value by " + step_label + ", one line per trial"
                      + (f" (first {len(names)} hyperparameters; {more} more)" if more > 0 else ""),
                      legend_title_text="trial", height=140 + 170 * len(names), **_LAYOUT)
    integer_ticks(fig, schedules["step"])
    return fig


def pareto_figure(done: pd.DataFrame, front: pd.Series, objectives: Sequence[Objective],
                  max_points: int = 5000) -> go.Figure:
    """The trials in objective space (sampled) with every Pareto-optimal one highlighted; 2-D or 3-D."""
    cols = [f"values_{o.name}" for o in objectives]
    others = sample(done[~front], max_points)
    best = done[front]
    if len(objectives) == 3:
        fig = go.Figure()
        for frame, name, colour, size in ((others, "dominated", "#aec7e8", 3), (best, "Pareto front", "#d62728", 5)):
            fig.add_trace(go.Scatter3d(
                x=frame[cols[0]], y=frame[cols[1]], z=frame[cols[2]], mode="markers", name=name,
                marker={"size": size, "color": colour}, text=frame["number"],
                hovertemplate="trial %{text}<extra></extra>",
            ))
        fig.update_layout(scene={f"{axis}axis_title": display_name(o.name) for axis, o in zip("xyz", objectives)},
                          height=600)
    else:
        fig = go.Figure()
        fig.add_trace(go.Scattergl(x=others[cols[0]], y=others[cols[1]], mode="markers", name="dominated",
                                   marker={"size": 5, "color": "#aec7e8"}, text=others["number"],
                                   hovertemplate="trial %{text}<extra></extra>"))
        ordered = best.sort_values(cols[0], ascending=objectives[0].sign > 0)
        shape = "hv" if objectives[1].sign * objectives[0].sign > 0 else "vh"
        fig.add_trace(go.Scatter(x=ordered[cols[0]], y=ordered[cols[1]], mode="lines+markers", name="Pareto front",
                                 line={"shape": shape, "color": "#d62728"}, marker={"size": 7},
                                 text=ordered["number"], hovertemplate="trial %{text}<extra></extra>"))
        fig.update_layout(xaxis_title=f"{display_name(objectives[0].name)} ({objectives[0].direction.value})",
                          yaxis_title=f"{display_name(objectives[1].name)} ({objectives[1].direction.value})",
                          height=520)
    title = f"Pareto front: {int(front.sum())} of {len(done):,} feasible completed trials"
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def hypervolume_figure(history: pd.DataFrame, names: Sequence[str]) -> go.Figure:
    names = [display_name(n) for n in names]
    fig = go.Figure(go.Scatter(x=history["trials"], y=history["hypervolume"], mode="lines+markers",
                               line={"shape": "hv", "color": "#2ca02c"}, marker={"size": 4},
                               customdata=history["number"],
                               hovertemplate="%{x} trials (last: %{customdata})<br>HV %{y:.6g}<extra></extra>"))
    fig.update_layout(title=f"Hypervolume over time ({', '.join(names)})", xaxis_title="completed trials",
                      yaxis_title="hypervolume", height=380, **_LAYOUT)
    integer_ticks(fig, history["trials"])
    return fig


def seeds_figure(frame: pd.DataFrame, objective: Objective, aggregate: str = "mean",
                 confidence: float = 0.95) -> go.Figure:
    """Tuning score against test score, one point per trial with both, the bootstrap intervals as error
    bars (the recommended trial drawn as a star), with the y = x line.

    ``frame``: :meth:`hpo.protocols.report.ProtocolReport.to_frame` (columns ``number``, ``recommended``,
    ``tuning``, ``tuning_low``, ``tuning_high``, ``test``, ``test_low``, ``test_high``, ``gap``).
    """
    both = frame.dropna(subset=["tuning", "test"]) if len(frame) else frame
    fig = go.Figure()
    for picked, label, symbol, colour in ((False, "trial", "circle", "#1f77b4"),
                                          (True, "recommended (best on tuning)", "star", "#d62728")):
        part = both[both["recommended"].astype(bool) == picked] if len(both) else both
        if not len(part) and picked:
            continue
        x, y = part["tuning"].astype(float), part["test"].astype(float)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="markers", name=label,
            error_x={"type": "data", "symmetric": False, "array": (part["tuning_high"].astype(float) - x).fillna(0),
                     "arrayminus": (x - part["tuning_low"].astype(float)).fillna(0)},
            error_y={"type": "data", "symmetric": False, "array": (part["test_high"].astype(float) - y).fillna(0),
                     "arrayminus": (y - part["test_low"].astype(float)).fillna(0)},
            marker={"size": 13 if picked else 9, "color": colour, "symbol": symbol},
            customdata=part[["number", "gap"]].to_numpy() if len(part) else None,
            hovertemplate="trial %{customdata[0]}<br>tuning %{x:.6g}<br>test %{y:.6g}<br>gap %{customdata[1]:.4g}"
                          "<extra></extra>",
        ))
    if len(both):
        cols = ["tuning_low", "tuning_high", "test_low", "test_high", "tuning", "test"]
        lo = float(np.nanmin(both[cols].to_numpy(dtype=float)))
        hi = float(np.nanmax(both[cols].to_numpy(dtype=float)))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="test = tuning",
                                 line={"dash": "dash", "color": "#7f7f7f"}))
    name = display_name(objective.name)
    fig.update_layout(title=f"{name}: {aggregate} on tuning seeds vs {aggregate} on test seeds "
                            f"(bars: {confidence:.0%} bootstrap intervals)",
                      xaxis_title=f"tuning seeds ({name})", yaxis_title=f"test seeds ({name})",
                      height=480, **_LAYOUT)
    return fig


def seeds_box_figure(evaluations: pd.DataFrame, objective: Objective) -> go.Figure:
    """Each trial's evaluations on tuning seeds and on test seeds, side by side (every seed a point).

    ``evaluations`` has columns ``number``, ``seed``, ``split`` and ``value`` (COMPLETE evaluations only).
    """
    fig = go.Figure()
    for split, colour in (("tuning", "#1f77b4"), ("test", "#ff7f0e")):
        part = evaluations[evaluations["split"] == split]
        fig.add_trace(go.Box(
            x=part["number"].map(lambda n: f"trial {n}"), y=part["value"], name=f"{split} seeds",
            boxpoints="all", jitter=0.3, pointpos=0, marker={"color": colour, "size": 6}, line={"color": colour},
            customdata=part["seed"], hovertemplate="seed %{customdata}<br>%{y:.6g}<extra>" + split + "</extra>",
        ))
    fig.update_layout(boxmode="group",
                      title=f"{display_name(objective.name)} per seed: tuning seeds and test seeds side by side",
                      yaxis_title=display_name(objective.name), height=420, **_LAYOUT)
    return fig


def contour_figure(done: pd.DataFrame, record: StudyRecord, objective: Objective,
                   params: Sequence[str] | None = None, grid: int = 40) -> go.Figure:
    """The objective over pairs of parameters: a contour interpolated from the trials (linear, SciPy's
    ``griddata``) with the trials on top. ``params``: the parameters (default: the first two); with more
    than two, one panel per pair (at most 6 panels). Log-scaled and categorical parameters are drawn on
    their encoded axes (log10, choice index)."""
    from scipy.interpolate import griddata

    names = [n for n, spec in record.space.items() if spec.get("type") != "fixed"]
    names = [n for n in names if n in params] if params is not None else names[:2]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]][:6]
    col = f"values_{objective.name}"
    encoded = encode_params(done, record)
    n_cols = min(3, max(len(pairs), 1))
    n_rows = max(1, -(-len(pairs) // n_cols))
    titles = [f"{display_name(b)} vs {display_name(a)}" for a, b in pairs]
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=titles or None)
    for k, (a, b) in enumerate(pairs):
        row, c = k // n_cols + 1, k % n_cols + 1
        part = pd.DataFrame({"x": encoded[a], "y": encoded[b], "z": done[col]}).dropna()
        if len(part) >= 4 and part["x"].nunique() > 1 and part["y"].nunique() > 1:
            gx = np.linspace(part["x"].min(), part["x"].max(), grid)
            gy = np.linspace(part["y"].min(), part["y"].max(), grid)
            mx, my = np.meshgrid(gx, gy)
            try:
                z = griddata(part[["x", "y"]].to_numpy(), part["z"].to_numpy(), (mx, my), method="linear")
            except ValueError:  # collinear points (Qhull): nearest neighbour instead
                z = griddata(part[["x", "y"]].to_numpy(), part["z"].to_numpy(), (mx, my), method="nearest")
            fig.add_trace(go.Contour(x=gx, y=gy, z=z, colorscale="Viridis", reversescale=objective.sign > 0,
                                     showscale=k == 0, connectgaps=False, name=display_name(objective.name),
                                     colorbar={"title": {"text": display_name(objective.name)}}), row=row, col=c)
        fig.add_trace(go.Scatter(x=part["x"], y=part["y"], mode="markers", showlegend=False, name="trial",
                                 marker={"size": 5, "color": "#333333"}, text=part["z"],
                                 hovertemplate="%{text:.6g}<extra></extra>"), row=row, col=c)
        for axis, name in (("x", a), ("y", b)):
            label = display_name(name) + (" (log)" if record.space[name].get("log") else "")
            getattr(fig, f"update_{axis}axes")(title_text=label, row=row, col=c)
    fig.update_layout(title=f"Contour: {display_name(objective.name)} over pairs of parameters",
                      height=380 * n_rows + 60, **_LAYOUT)
    return fig


def timeline_figure(frame: pd.DataFrame) -> go.Figure:
    """One horizontal bar per trial from its start to its end (now for a running one), coloured by state."""
    fig = go.Figure()
    started = frame.dropna(subset=["datetime_start"])
    now = pd.Timestamp.now(tz="UTC")
    for state, colour in STATE_COLORS.items():
        part = started[started["state"] == state]
        if not len(part):
            continue
        end = part["datetime_complete"].fillna(now)
        fig.add_trace(go.Bar(
            y=part["number"], x=(end - part["datetime_start"]).dt.total_seconds() * 1000,
            base=part["datetime_start"].dt.tz_convert(None).astype(str), orientation="h", name=state,
            marker_color=colour, customdata=part["duration_s"],
            hovertemplate="trial %{y}<br>%{customdata:.3g} s<extra>" + state + "</extra>",
        ))
    fig.update_layout(title=f"Timeline: {len(started):,} trials", xaxis={"type": "date", "title": "time (UTC)"},
                      yaxis_title="trial", barmode="overlay", height=max(300, min(900, 12 * len(started) + 120)),
                      legend_title_text="state", **_LAYOUT)
    integer_ticks(fig, started["number"], axis="yaxis")
    return fig

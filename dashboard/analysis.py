"""What the dashboard's charts show, computed from a study's trial frame (no plotting here).

Large studies are aggregated and sampled before anything reaches a chart:
:func:`sample` keeps the rows that matter (best trials, Pareto points) and a
seeded random share of the rest, so a chart never gets more than a few
thousand points and does not jump between refreshes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hpo.records import Objective, StudyRecord, TrialState
from hpo.results import non_dominated

__all__ = [
    "sample",
    "completed",
    "best_so_far",
    "param_importance",
    "pareto_mask",
    "hypervolume_history",
    "pick_curve_trials",
    "seed_summary",
    "seeds_report",
    "last_reports",
    "connect_lineage",
    "HP_PREFIX",
    "is_schedule_metric",
    "schedule_frame",
]

COMPLETE = TrialState.COMPLETE.value


def sample(frame: pd.DataFrame, n: int, keep: pd.Series | None = None, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows: every row where ``keep`` is true (up to ``n``) plus a seeded random share of the rest."""
    if len(frame) <= n:
        return frame
    keep = pd.Series(False, index=frame.index) if keep is None else keep.reindex(frame.index, fill_value=False)
    kept = frame[keep].iloc[:n]
    rest = frame[~keep]
    room = n - len(kept)
    if room > 0 and len(rest):
        rest = rest.sample(n=min(room, len(rest)), random_state=seed)
        kept = pd.concat([kept, rest])
    return kept.sort_values("number")


def completed(frame: pd.DataFrame, record: StudyRecord, feasible_only: bool = True) -> pd.DataFrame:
    """COMPLETE trials with every objective value (and satisfying the constraints if asked)."""
    done = frame[frame["state"] == COMPLETE]
    cols = [f"values_{o.name}" for o in record.objectives]
    done = done.dropna(subset=cols)
    if feasible_only and record.constraints:  # the trials table's ``feasible`` column (hpo.results.trials_frame)
        done = done[done["feasible"].eq(True)]
    return done


def best_so_far(done: pd.DataFrame, objective: Objective) -> pd.DataFrame:
    """The best value after each trial, reduced to the trials where it improved (a step line).

    Returns columns ``number`` and ``best``, ordered by number; the last row
    repeats the final best at the last trial so the line reaches the end.
    """
    if done.empty:
        return pd.DataFrame({"number": [], "best": []})
    ordered = done.sort_values("number")
    signed = objective.sign * ordered[f"values_{objective.name}"].to_numpy(dtype=float)
    running = np.minimum.accumulate(signed)
    improved = np.r_[True, running[1:] < running[:-1]]
    numbers = ordered["number"].to_numpy()
    out = pd.DataFrame({"number": numbers[improved], "best": objective.sign * running[improved]})
    if not improved[-1]:
        out = pd.concat([out, pd.DataFrame({"number": [numbers[-1]], "best": [objective.sign * running[-1]]})])
    return out.reset_index(drop=True)


def encode_params(done: pd.DataFrame, record: StudyRecord) -> pd.DataFrame:
    """Numeric encoding of the parameters: log10 for log-scaled ranges, codes for categoricals.

    Fixed parameters are left out; an inactive conditional parameter is NaN.
    """
    out: dict[str, pd.Series] = {}
    for name, spec in record.space.items():
        col = done.get(f"params_{name}")
        if col is None or spec.get("type") == "fixed":
            continue
        if spec.get("type") == "categorical":
            choices = [repr(c) for c in spec.get("choices", [])]
            codes = col.map(lambda v: choices.index(repr(v)) if v is not None and repr(v) in choices else np.nan)
            out[name] = codes.astype(float)
        else:
            values = pd.to_numeric(col, errors="coerce").astype(float)
            if spec.get("log"):
                values = np.log10(values.where(values > 0))
            out[name] = values
    return pd.DataFrame(out, index=done.index)


def param_importance(done: pd.DataFrame, record: StudyRecord, objective: Objective, max_trials: int = 1000,
                     seed: int = 0) -> pd.Series:
    """Importance of each parameter for ``objective`` (normalised to sum to 1), highest first.

    :func:`hpo.importance.frame_importances` (Optuna's fANOVA, as ``hpo.importance.get_param_importances``)
    on up to ``max_trials`` completed trials, with a smaller forest than Optuna's default (32 trees of
    depth 8 instead of 64 of depth 64: about 1 s instead of 40 s on 1,000 trials). Empty when there are
    fewer than 4 trials or no varying parameter.
    """
    if len(done) < 4:
        return pd.Series(dtype=float)
    from optuna.importance import FanovaImportanceEvaluator

    from hpo.importance import frame_importances

    done = sample(done, max_trials, seed=seed)
    x = encode_params(done, record)
    if not (x.nunique(dropna=False) > 1).any():
        return pd.Series(dtype=float)
    evaluator = FanovaImportanceEvaluator(n_trees=32, max_depth=8, seed=seed)
    imp = pd.Series(frame_importances(done, record, objective, evaluator=evaluator, seed=seed), dtype=float)
    return imp.sort_values(ascending=False)


def _losses(done: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Signed values to minimise, shape ``(n_trials, n_objectives)``."""
    return np.column_stack([o.sign * done[f"values_{o.name}"].to_numpy(dtype=float) for o in objectives])


def pareto_mask(done: pd.DataFrame, objectives: Sequence[Objective]) -> pd.Series:
    """True for the trials no other one dominates (over the given objectives); :func:`hpo.results.non_dominated`."""
    if done.empty:
        return pd.Series(dtype=bool)
    return pd.Series(non_dominated(_losses(done, objectives)), index=done.index)


def hypervolume_history(done: pd.DataFrame, objectives: Sequence[Objective], n_points: int = 100,
                        cache_key: Any = None, ref_point: dict[str, float] | None = None) -> pd.DataFrame:
    """Hypervolume of the feasible Pareto front after each of up to ``n_points`` checkpoints.

    Trials are taken in the order they finished. ``ref_point``: objective name -> value in the
    objectives' units (``Study.hypervolume_history(ref_point)``'s); for an objective it leaves out, the
    worst value of each objective over all completed trials plus 10% of its
    range (:func:`hpo.hypervolume.infer_reference_point`; fixed for one call, but
    moves as worse trials arrive). The history comes from
    :func:`hpo.hypervolume.losses_hypervolume_history`: with ``cache_key`` (the
    store and the study), a later call reuses the tracker of the earlier one and
    only adds the trials that finished since (while the reference point stays).

    Returns columns ``trials`` (completed trials so far), ``number`` (the last
    one's number) and ``hypervolume``; ``attrs["ref_point"]`` holds the reference
    point in the objectives' units.
    """
    if len(done) < 2:
        return pd.DataFrame({"trials": [], "number": [], "hypervolume": []})
    from hpo.hypervolume import infer_reference_point, losses_hypervolume_history

    order = done.sort_values(["datetime_complete", "number"], na_position="last")
    losses = _losses(order, objectives)
    ref = infer_reference_point(losses)
    for i, o in enumerate(objectives):  # a given value, in the objective's units, as Study.hypervolume_history
        if ref_point and o.name in ref_point:
            ref[i] = o.sign * float(ref_point[o.name])
    numbers = [int(n) for n in order["number"]]
    key = None if cache_key is None else (cache_key, tuple(o.name for o in objectives))
    _, values, _ = losses_hypervolume_history(numbers, losses, np.ones(len(numbers), dtype=bool), ref, key)
    cuts = np.unique(np.linspace(1, len(order), num=min(n_points, len(order))).astype(int))
    out = pd.DataFrame({"trials": cuts, "number": [numbers[c - 1] for c in cuts],
                        "hypervolume": [values[c - 1] for c in cuts]})
    out.attrs["ref_point"] = {o.name: float(o.sign * r) for o, r in zip(objectives, ref)}
    return out


def pick_curve_trials(frame: pd.DataFrame, counts: pd.Series, record: StudyRecord, objective: Objective,
                      limit: int, seed: int = 0) -> list[int]:
    """Up to ``limit`` trials whose learning curves to draw (only trials with reports).

    Every one when there are few; otherwise the running ones, the best completed
    quarter of the limit, the most recent quarter, and a seeded random sample
    of the rest (so stopped and promoted trials both appear).
    """
    with_reports = frame[frame["number"].isin(counts.index)]
    if len(with_reports) <= limit:
        return sorted(with_reports["number"].tolist())
    running = with_reports[with_reports["state"] == TrialState.RUNNING.value]["number"].iloc[: limit // 4]
    done = completed(with_reports, record, feasible_only=False)
    best = done.assign(_s=objective.sign * done[f"values_{objective.name}"]).nsmallest(limit // 4, "_s")["number"]
    recent = with_reports.nlargest(limit // 4, "number")["number"]
    picked = set(running) | set(best) | set(recent)
    rest = with_reports[~with_reports["number"].isin(picked)]["number"]
    room = limit - len(picked)
    if room > 0 and len(rest):
        picked |= set(rest.sample(n=min(room, len(rest)), random_state=seed))
    return sorted(picked)


def seed_summary(evaluations: list[Any], objective: Objective) -> pd.DataFrame:
    """Per trial: mean, standard deviation and count of ``objective`` on tuning and test seeds.

    Returns one row per trial number with columns ``tuning_mean``, ``tuning_std``,
    ``tuning_n``, ``test_mean``, ``test_std``, ``test_n`` and ``failed`` (failed evaluations).
    """
    rows = [
        {
            "number": e.trial_number,
            "seed": e.seed,
            "split": e.split,
            "state": e.state.value,
            "value": (e.values or {}).get(objective.name),
        }
        for e in evaluations
    ]
    if not rows:
        return pd.DataFrame()
    ev = pd.DataFrame(rows)
    ev["value"] = pd.to_numeric(ev["value"], errors="coerce")
    ok = ev[ev["state"] == COMPLETE]
    agg = ok.groupby(["number", "split"])["value"].agg(["mean", "std", "count"]).unstack("split")
    out = pd.DataFrame(index=sorted(ev["number"].unique()))
    for split in ("tuning", "test"):
        for stat, label in (("mean", "mean"), ("std", "std"), ("count", "n")):
            col = (stat, split)
            out[f"{split}_{label}"] = agg[col] if col in agg.columns else np.nan
    out["failed"] = ev[ev["state"] != COMPLETE].groupby("number").size().reindex(out.index, fill_value=0)
    out[["tuning_n", "test_n"]] = out[["tuning_n", "test_n"]].fillna(0).astype(int)
    out.index.name = "number"
    return out.reset_index()


def seeds_report(store: Any, record: StudyRecord, objective: Objective, n_boot: int = 1000) -> Any:
    """The study's :class:`hpo.protocols.report.ProtocolReport` for ``objective`` (what ``hpo status``
    and ``study.protocol_report()`` show): per incumbent tuning vs test score with bootstrap intervals,
    the gap, Kendall's tau and Spearman's rho, and the trial to report."""
    from hpo.protocols.report import protocol_report

    return protocol_report(store, record.study_id, objective=objective.name, n_boot=n_boot, record=record)


def last_reports(reports: Sequence[Any], metric: str) -> pd.DataFrame:
    """Per trial: its last reported value of ``metric`` and its budget (the highest step it reported).

    ``reports``: ``hpo.store.base.Report`` rows. Returns columns ``number``, ``value``, ``budget``.
    """
    rows = [(r.trial_number, float(r.step), r.values.get(metric)) for r in reports]
    frame = pd.DataFrame(rows, columns=["number", "budget", "value"])
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame.dropna(subset=["value"]).sort_values(["number", "budget"], kind="stable")
    out = frame.groupby("number", as_index=False).last()
    return out[["number", "value", "budget"]]


def connect_lineage(curves: pd.DataFrame, parents: dict[int, int], reports: Sequence[Any], metric: str) -> pd.DataFrame:
    """Learning curves where a trial that resumed another's checkpoint (``attrs["resume_from"]``: PBT
    segments, promoted ASHA trials) starts at its parent's last point at or before its own first step, so
    a member's curve is one line through its lineage instead of disconnected segments.

    ``curves``: columns ``number``, ``step``, ``value`` (and more, copied from the child's rows);
    ``parents``: child number -> parent number; ``reports``: the parents' reports.
    """
    if not parents or curves.empty:
        return curves
    by_parent: dict[int, list[tuple[float, float]]] = {}
    for r in reports:
        v = r.values.get(metric)
        if v is not None:
            by_parent.setdefault(r.trial_number, []).append((float(r.step), float(v)))
    extra = []
    for number, g in curves.groupby("number", sort=False):
        parent = parents.get(int(number))
        points = by_parent.get(parent, []) if parent is not None else []
        first = float(g["step"].min())
        before = [p for p in points if p[0] <= first]
        if before:
            step, value = max(before)
            row = g.iloc[0].copy()
            row["step"], row["value"] = step, value
            extra.append(row)
    if not extra:
        return curves
    out = pd.concat([pd.DataFrame(extra), curves], ignore_index=True).astype({"number": "int64"})
    return out.sort_values(["number", "step"], kind="stable", ignore_index=True)


#: Report metrics named ``hp/<name>`` are hyperparameter schedules (a self-tuning network's current values).
HP_PREFIX = "hp/"


def is_schedule_metric(name: Any) -> bool:
    """Whether a report metric is a hyperparameter schedule (``hp/<name>``), not a learning curve."""
    return isinstance(name, str) and name.startswith(HP_PREFIX) and len(name) > len(HP_PREFIX)


def schedule_frame(reports: Sequence[Any], max_points: int = 300) -> pd.DataFrame:
    """The hyperparameter schedules in ``reports`` (``hpo.store.base.Report`` rows), long format.

    Returns columns ``number``, ``hyperparameter`` (the name after ``hp/``), ``step``, ``value``,
    sorted by trial, hyperparameter and step, with at most ``max_points`` points per (trial,
    hyperparameter) (every k-th). Empty (those columns) when no report has an ``hp/`` metric.
    """
    rows = [(r.trial_number, k[len(HP_PREFIX):], float(r.step), v)
            for r in reports for k, v in r.values.items() if is_schedule_metric(k)]
    frame = pd.DataFrame(rows, columns=["number", "hyperparameter", "step", "value"])
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame.dropna(subset=["value"]).sort_values(["number", "hyperparameter", "step"], kind="stable")
    if frame.empty:
        return frame.reset_index(drop=True)
    groups = frame.groupby(["number", "hyperparameter"])
    stride = -(-groups["step"].transform("size") // max(1, max_points))  # ceil(size / max_points)
    return frame[groups.cumcount() % stride == 0].reset_index(drop=True)

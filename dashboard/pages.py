"""The dashboard's pages: each one a function of the reader and the selected study.

Computations that cost more than a read (importance, hypervolume) are cached on
the trial frame's version, so a live refresh with nothing new costs two small
queries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from hpo.dashboard import analysis, figures
from hpo.dashboard.figures import display_name
from hpo.dashboard.reader import DECISION_KEY, PARENT_KEY, DashboardReader
from hpo.records import Objective, StudyRecord, TrialState

__all__ = ["PAGES", "render"]

#: Page keys (also the ``?page=`` query parameter) and their titles.
PAGES = {
    "studies": "Studies",
    "study": "Study",
    "curves": "Learning curves",
    "pareto": "Pareto front",
    "seeds": "Seeds",
}
TABLE_ROWS = 1000  # rows of the trial table sent to the browser at most
REPORTED_TRIALS = 5000  # trials (the most recent) whose last report the study page reads at most
_PLOTLY = {"displaylogo": False}


def _chart(fig: Any, key: str, toolbar: bool = True) -> None:
    st.plotly_chart(fig, width="stretch", config={**_PLOTLY, "displayModeBar": toolbar}, key=key)


def _objective(record: StudyRecord, key: str, label: str = "Objective") -> Objective:
    if len(record.objectives) == 1:
        return record.objectives[0]
    names = [o.name for o in record.objectives]
    name = st.selectbox(label, names, key=key, format_func=display_name)
    return record.objectives[names.index(name)]


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame to send to the browser: its column names shown with :func:`display_name` (a NUL shows as ␀)."""
    return frame.rename(columns={c: display_name(c) for c in frame.columns if display_name(c) != c})


@st.cache_data(max_entries=32, show_spinner=False)
def _importance(_done: pd.DataFrame, _record: StudyRecord, _objective: Objective, key: tuple[Any, ...]) -> pd.Series:
    """Cached per (study, objective, trial-count bucket): refitted when the completed trials grow by 5%."""
    return analysis.param_importance(_done, _record, _objective)


@st.cache_data(max_entries=32, show_spinner=False)
def _hypervolume(_done: pd.DataFrame, _objectives: tuple[Objective, ...], key: tuple[Any, ...],
                 ref_point: tuple[tuple[str, float], ...] = ()) -> pd.DataFrame:
    return analysis.hypervolume_history(_done, _objectives, cache_key=key[:2],  # incremental across refreshes
                                        ref_point=dict(ref_point) or None)


def _last_reports(reader: DashboardReader, record: StudyRecord, frame: pd.DataFrame, metric: str,
                  version: tuple[Any, ...]) -> pd.DataFrame:
    """Each trial's last reported ``metric`` and budget (the most recent ``REPORTED_TRIALS`` trials with reports)."""
    return _cached_figure("last_reports", (*version, metric), lambda: _read_last(reader, record, metric))


def _read_last(reader: DashboardReader, record: StudyRecord, metric: str) -> pd.DataFrame:
    counts = reader.report_counts(record)
    if counts.empty:
        return pd.DataFrame({"number": [], "value": [], "budget": []})
    numbers = sorted(int(n) for n in counts.index)[-REPORTED_TRIALS:]
    return analysis.last_reports(reader.reports(record, numbers), metric)


@st.cache_data(max_entries=32, show_spinner=False)
def _pareto(_done: pd.DataFrame, _objectives: tuple[Objective, ...], key: tuple[Any, ...]) -> pd.Series:
    return analysis.pareto_mask(_done, _objectives)


@st.cache_resource(max_entries=64, show_spinner=False)
def _cached_figure(kind: str, version: tuple[Any, ...], _build: Callable[[], Any]) -> Any:
    return _build()


def _figure(kind: str, version: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """A figure built once per version of the trials it shows (a live refresh with nothing new reuses it)."""
    return _cached_figure(kind, version, build)


def _bucket(n: int) -> int:
    """``n`` rounded down to a 5% step (at least 1): a cache key that changes when the data grew."""
    step = max(1, n // 20)
    return n - n % step


# -- studies -------------------------------------------------------------------------
_STATE_COLUMNS = ("COMPLETE", "RUNNING", "PRUNED", "FAILED", "WAITING")  # the reader's count columns


def studies_page(reader: DashboardReader) -> None:
    st.header("Studies")
    st.caption(f"store: `{reader.url}` (read-only)")
    frame = reader.studies_frame()
    if frame.empty:
        st.info("No studies in this store yet. Create one with `hpo.create_study(...)` or `hpo run study.yaml`.")
        return
    frame.insert(1, "open", [f"?page=study&study={name}" for name in frame["study"]])
    frame["objectives"] = frame["objectives"].map(display_name)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={  # widths chosen so that the 12 columns fit a 1400 px window beside the sidebar
            "open": st.column_config.LinkColumn("open", display_text="open", width=50),
            "objectives": st.column_config.TextColumn(width="medium"),
            "state": st.column_config.TextColumn(width=65),
            "trials": st.column_config.NumberColumn(width=55),
            "best value": st.column_config.NumberColumn(format="%.6g", width=85),
            "last activity": st.column_config.DatetimeColumn(format="MM-DD HH:mm:ss", width=110),
            **{state: st.column_config.NumberColumn(state.lower(), width=68 if state == "COMPLETE" else 56)
               for state in _STATE_COLUMNS},
        },
        column_order=[c for c in frame.columns if c != "created"],  # the creation time is left out to fit the width
        key="studies_table",
    )
    st.caption("Best value: single-objective studies, over feasible COMPLETE trials.")


# -- study ---------------------------------------------------------------------------
def _summary(frame: pd.DataFrame, record: StudyRecord) -> None:
    counts = frame["state"].value_counts()
    cols = st.columns(6)
    cols[0].metric("trials", f"{len(frame):,}")
    for col, state in zip(cols[1:], TrialState):
        col.metric(state.value.lower(), f"{int(counts.get(state.value, 0)):,}")


def _trial_table(frame: pd.DataFrame, record: StudyRecord) -> None:
    st.subheader("Trials")
    states = [s.value for s in TrialState]
    c1, c2, c3 = st.columns([2, 2, 1])
    chosen = c1.multiselect("State", states, default=[s for s in states if s in set(frame["state"])],
                            key="table_states")
    sort_options = ["number (newest first)"] + [f"{display_name(o.name)} (best first)" for o in record.objectives]
    sort = c2.selectbox("Sort by", sort_options, key="table_sort")
    query = c3.text_input("Trial numbers", placeholder="e.g. 10-20", key="table_numbers")
    shown = frame[frame["state"].isin(chosen)]
    if query.strip():
        lo, _, hi = query.partition("-")
        try:
            lo_n, hi_n = int(lo), int(hi or lo)
            shown = shown[(shown["number"] >= lo_n) & (shown["number"] <= hi_n)]
        except ValueError:
            st.warning(f"Trial numbers: expected N or N-M, but got {query!r}")
    if sort == sort_options[0]:
        shown = shown.sort_values("number", ascending=False)
    else:
        obj = record.objectives[sort_options.index(sort) - 1]
        shown = shown.assign(_s=obj.sign * shown[f"values_{obj.name}"]).sort_values("_s", na_position="last")
        shown = shown.drop(columns="_s")
    view = shown.head(TABLE_ROWS).copy()
    view["error"] = view["error"].map(
        lambda e: e.strip().splitlines()[-1][:120] if isinstance(e, str) and e.strip() else None)
    st.dataframe(_table(view), hide_index=True, width="stretch", height=360, key="trial_table",
                 column_config={"duration_s": st.column_config.NumberColumn("duration (s)", format="%.2f")})
    st.caption(f"{len(shown):,} trial(s) match; showing {len(view):,}. Failed trials' last traceback line is in "
               "`error`; the whole traceback is below.")
    failed = frame[frame["state"] == TrialState.FAILED.value]
    if len(failed):
        numbers = failed["number"].iloc[::-1].head(500).tolist()
        pick = st.selectbox("Traceback of failed trial", numbers, key="failed_trial")
        error = failed.loc[failed["number"] == pick, "error"].iloc[0]
        st.code(error or "(no traceback recorded)", language="text")


def study_page(reader: DashboardReader, name: str) -> None:
    tf = reader.trial_frame(name)
    record = tf.record
    frame = tf.refresh()
    st.header(f"Study {name}")
    objs = ", ".join(f"{display_name(o.name)} ({o.direction.value})" for o in record.objectives)
    cons = ", ".join(f"{display_name(c.name)} {c.op} {c.bound:g}" for c in record.constraints)
    st.caption(f"objectives: {objs}" + (f" · constraints: {cons}" if cons else "")
               + f" · sampler: {record.settings.get('sampler', {}).get('name')}")
    _summary(frame, record)
    done = analysis.completed(frame, record)
    if done.empty:
        st.info("No completed feasible trial yet: the charts appear with the first one.")
    else:
        objective = _objective(record, "study_objective")
        version = (reader.url, name, objective.name, tf.version)
        last = _last_reports(reader, record, frame, objective.name, version)
        pruned = None
        if len(last):
            # Trials stopped early (ASHA, Hyperband, ...): their last reported value and the budget reached.
            budget = last.set_index("number")["budget"]
            done = done.assign(budget=done["number"].map(budget))
            stopped = frame[frame["state"] == TrialState.PRUNED.value]["number"]
            pruned = last[last["number"].isin(stopped)]
        _chart(_figure("history", version, lambda: figures.history_figure(done, objective, pruned=pruned)),
               "history")
        left, right = st.columns([3, 2])
        with left:
            _chart(_figure("parallel", version, lambda: figures.parallel_figure(done, record, objective)), "parallel")
        with right:
            key = (reader.url, name, objective.name, _bucket(len(done)))
            importance = _importance(done, record, objective, key)
            if importance.empty:
                st.info("Parameter importance needs at least 4 completed trials with varying parameters.")
            else:
                _chart(figures.importance_figure(importance, objective), "importance", toolbar=False)
        _chart(_figure("slices", version, lambda: figures.slice_figure(done, record, objective)), "slices")
        if len(last):
            last = last.rename(columns={"value": f"last report ({display_name(objective.name)})"})
            frame = frame.merge(last, on="number", how="left")
    _trial_table(frame, record)


# -- learning curves -----------------------------------------------------------------
def curves_page(reader: DashboardReader, name: str) -> None:
    tf = reader.trial_frame(name)
    record = tf.record
    frame = tf.refresh()
    st.header(f"Learning curves: {name}")
    counts = reader.report_counts(record)
    if counts.empty:
        st.info("No intermediate results in this study. Trials report them with `trial.report(step, values)`.")
        return
    objective = _objective(record, "curves_objective", "Rank trials by")
    c1, c2 = st.columns(2)
    limit = c1.slider("Curves at most", 10, 300, 100, step=10, key="curves_limit")
    colour_by = c2.radio("Colour by", ["state", DECISION_KEY], horizontal=True, key="curves_colour",
                         help=f"state: COMPLETE, PRUNED (stopped), RUNNING, FAILED; {DECISION_KEY}: the trial "
                              f"attribute `{DECISION_KEY}` a scheduler sets (e.g. stop / promote)")
    numbers = analysis.pick_curve_trials(frame, counts, record, objective, limit)
    rows = reader.reports(record, numbers)
    if not rows:
        st.info("None of the selected trials has reported yet.")
        return
    # ``hp/<name>`` metrics are hyperparameter schedules (self-tuning networks): drawn in their own chart,
    # never offered as the learning curve's metric.
    metrics = sorted({k for r in rows for k in r.values if not analysis.is_schedule_metric(k)})
    step_label = (record.fidelity or {}).get("name", "step")
    if metrics:
        _learning_curves(reader, record, frame, counts, rows, metrics, objective, colour_by, step_label)
    schedules = analysis.schedule_frame(rows)
    if len(schedules):
        _chart(figures.schedules_figure(schedules, step_label), "schedules")
        st.caption(f"Hyperparameter schedules (`hp/<name>` reports) of {schedules['number'].nunique()} trial(s), "
                   "e.g. a self-tuning network's dropout and augmentation values as they were adapted.")


def _learning_curves(reader: DashboardReader, record: StudyRecord, frame: pd.DataFrame, counts: pd.Series,
                     rows: list[Any], metrics: list[str], objective: Objective, colour_by: str,
                     step_label: str) -> None:
    default = metrics.index(objective.name) if objective.name in metrics else 0
    metric = st.selectbox("Metric", metrics, index=default, key="curves_metric", format_func=display_name)
    curves = pd.DataFrame({"number": [r.trial_number for r in rows], "step": [r.step for r in rows],
                           "value": [r.values.get(metric) for r in rows]}).dropna(subset=["value"])
    # At most 300 points per curve reach the browser.
    position = curves.groupby("number").cumcount()
    stride = (curves.groupby("number")["step"].transform("size") // 300).clip(lower=1)
    curves = curves[position % stride == 0]
    if PARENT_KEY in frame.columns:  # a resumed trial's curve continues its parent's (PBT lineage, promotions)
        children = frame[frame["number"].isin(curves["number"].unique())].dropna(subset=[PARENT_KEY])
        parents = {int(c): int(p) for c, p in zip(children["number"], children[PARENT_KEY])}
        if parents:
            curves = analysis.connect_lineage(curves, parents, reader.reports(record, sorted(set(parents.values()))),
                                              metric)
    info = frame.set_index("number").loc[curves["number"].unique(), ["state", DECISION_KEY]]
    info[DECISION_KEY] = info[DECISION_KEY].fillna("(none)").astype(str)
    curves = curves.join(info, on="number")
    _chart(figures.curves_figure(curves, metric, colour_by, step_label), "curves")
    shown = curves["number"].nunique()
    how = "all of them" if shown >= len(counts) else (
        "the running ones, the best and the most recent, and a random sample of the rest")
    st.caption(f"{shown} of {len(counts):,} trials with reports ({how}); {int(counts.sum()):,} reports in the store, "
               f"at most 300 points per curve drawn.")


# -- Pareto front --------------------------------------------------------------------
def pareto_page(reader: DashboardReader, name: str) -> None:
    tf = reader.trial_frame(name)
    record = tf.record
    frame = tf.refresh()
    st.header(f"Pareto front: {name}")
    if len(record.objectives) < 2:
        st.info("This study has one objective: the Pareto front is for multi-objective studies.")
        return
    done = analysis.completed(frame, record)
    if done.empty:
        st.info("No completed feasible trial yet.")
        return
    names = [o.name for o in record.objectives]
    dims = 3 if len(names) >= 3 else 2
    if len(names) >= 3:
        dims = 3 if st.radio("View", ["3-D", "2-D"], horizontal=True, key="pareto_view") == "3-D" else 2
    cols = st.columns(dims)
    chosen = [cols[i].selectbox(f"Axis {'xyz'[i]}", names, index=i, key=f"pareto_axis_{i}", format_func=display_name)
              for i in range(dims)]
    if len(set(chosen)) < dims:
        st.warning("Choose a different objective for each axis.")
        return
    objectives = tuple(record.objectives[names.index(n)] for n in chosen)
    key = (reader.url, name, tf.version[0], tuple(chosen))
    front = _pareto(done, objectives, key)
    _chart(figures.pareto_figure(done, front, objectives), "pareto")
    everything = tuple(record.objectives)
    given = _ref_point_input(record)
    hv = _hypervolume(done, everything, (reader.url, name, tf.version[0]), tuple(sorted(given.items())))
    if len(hv):
        _chart(figures.hypervolume_figure(hv, names), "hypervolume")
        ref = ", ".join(f"{display_name(n)} = {v:.4g}" for n, v in hv.attrs.get("ref_point", {}).items())
        how = ("given" if len(given) == len(everything) else "given where set, else the worst value of the "
               "objective plus 10% of its range") if given else "the worst value of each objective plus 10% of its range"
        st.caption("Hypervolume of the feasible Pareto front over all objectives, after each checkpoint (trials in "
                   "the order they finished), computed incrementally (`hpo.hypervolume`), as "
                   f"`study.hypervolume_history(ref_point)`. Reference point ({how}): {ref}.")
    table = done[analysis.pareto_mask(done, everything)] if len(names) != dims else done[front]
    st.subheader(f"Pareto-optimal trials ({len(table)})")
    st.dataframe(_table(table.drop(columns=["error", "worker_id"]).head(TABLE_ROWS)), hide_index=True,
                 width="stretch", key="pareto_table")


def _ref_point_input(record: StudyRecord) -> dict[str, float]:
    """The hypervolume's reference point: the study's (its sampler's ``ref_point`` option) unless the
    "Reference point" input overrides it (``name=value, ...``); objectives left out are inferred."""
    options = (record.settings.get("sampler") or {}).get("options") or {}
    study_ref = {k: float(v) for k, v in (options.get("ref_point") or {}).items() if v is not None}
    default = ", ".join(f"{k}={v:g}" for k, v in study_ref.items())
    text = st.text_input("Reference point", value=default, key="pareto_ref_point",
                         placeholder=", ".join(f"{o.name}=VALUE" for o in record.objectives),
                         help="In the objectives' units, as `study.hypervolume_history(ref_point={...})`; "
                              "an objective left out gets the inferred point.")
    names = {o.name for o in record.objectives}
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        try:
            if not sep or key.strip() not in names:
                raise ValueError(part)
            out[key.strip()] = float(value)
        except ValueError:
            st.warning(f"Reference point: expected NAME=VALUE with NAME one of {sorted(names)}, but got {part!r}")
            return study_ref
    return out


# -- seeds ---------------------------------------------------------------------------
def seeds_page(reader: DashboardReader, name: str) -> None:
    record = reader.trial_frame(name).record
    st.header(f"Seeds: {name}")
    evaluations = reader.evaluations(record)
    if not evaluations:
        st.info("No seeded evaluations in this study. A study that uses a seed split stores each trial's results "
                "per seed, marked `tuning` or `test`.")
        return
    objective = _objective(record, "seeds_objective")
    report = analysis.seeds_report(reader.store, record, objective)
    frame = report.to_frame()
    splits = pd.Series([e.split for e in evaluations]).value_counts()
    corr = report.correlation
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("trials evaluated", f"{len({e.trial_number for e in evaluations}):,}")
    c2.metric("tuning evaluations", f"{int(splits.get('tuning', 0)):,}")
    c3.metric("test evaluations", f"{int(splits.get('test', 0)):,}")
    c4.metric("Kendall τ (tuning vs test)", "n/a" if corr.kendall_tau is None else f"{corr.kendall_tau:.3f}")
    c5.metric("Spearman ρ (tuning vs test)", "n/a" if corr.spearman_rho is None else f"{corr.spearman_rho:.3f}")
    lines = report.summary_lines()
    rec = report.recommended
    if rec is not None:
        st.success(next(line for line in lines if line.startswith("recommended")))
    st.caption("  \n".join(line for line in lines if not line.startswith("recommended")))
    _chart(figures.seeds_figure(frame, objective, report.aggregate, report.confidence), "seeds")
    tested = [r.number for r in report.rows if r.tested][:30]
    if tested:
        shown = set(tested)
        per_seed = pd.DataFrame(
            [{"number": e.trial_number, "seed": e.seed, "split": e.split, "value": (e.values or {}).get(objective.name)}
             for e in evaluations if e.trial_number in shown and e.state is TrialState.COMPLETE]
        ).dropna(subset=["value"])
        _chart(figures.seeds_box_figure(per_seed, objective), "seeds_box")
    st.subheader("Tuning vs test per incumbent (best tuning score first; intervals: "
                 f"{report.confidence:.0%} bootstrap over seeds)")
    st.dataframe(_table(frame.head(TABLE_ROWS)), hide_index=True, width="stretch", key="seeds_table")


def render(page: str, reader: DashboardReader, study: str | None) -> None:
    """Draw one page; every page except ``studies`` needs a study."""
    if page == "studies":
        studies_page(reader)
        return
    if study is None:
        st.info("No study selected: choose one in the sidebar.")
        return
    {"study": study_page, "curves": curves_page, "pareto": pareto_page, "seeds": seeds_page}[page](reader, study)

"""``hpo bench dashboard``: render time of the dashboard's study page for 1k, 10k and 100k trials.

Each store is a SQLite file written in bulk through the store's tables (one
``INSERT`` of many rows, not one ask/tell per trial): a study with four
parameters (log-float, log-int, float, categorical), one objective, 90%
COMPLETE, 5% PRUNED and 5% FAILED trials with a traceback, and five
intermediate reports on every tenth trial.

What is timed: one run of the dashboard's Streamlit script for the study page
under ``streamlit.testing.v1.AppTest`` (read the trials read-only, compute the
best-so-far line, parameter importance, Pareto-free charts, build the Plotly
figures and the trial table, serialise everything to Streamlit's protobuf
messages). The browser's own drawing is not included. Three figures per size:

- *cold*: caches cleared (a new server process opening the study);
- *refresh*: the same session re-run with nothing new (what live refresh costs
  per tick when the study is idle);
- *refresh after 100 new trials*: 100 trials finished since the last run.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DashboardRun", "build_bench_store", "run_dashboard_benchmark", "write_dashboard_report", "run"]

SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (300,)
TARGET_S = 3.0
STUDY = "bench"


@dataclass
class DashboardRun:
    trials: int
    build_s: float
    cold_s: list[float]
    refresh_s: list[float]
    grow_s: list[float]
    baseline_s: float = float("nan")  # an AppTest run of the studies page of an empty store

    @staticmethod
    def med(xs: list[float]) -> float:
        return statistics.median(xs) if xs else float("nan")


def _rows(start: int, n: int, rng: np.random.Generator, study_id: int, t0: dt.datetime) -> list[dict]:
    error = "".join(traceback.format_exception_only(RuntimeError, RuntimeError("CUDA out of memory (simulated)")))
    rows = []
    for i in range(start, start + n):
        lr = float(10 ** rng.uniform(-5, -1))
        width = int(2 ** rng.uniform(4, 10))
        dropout = float(rng.uniform(0, 0.5))
        opt = "adam" if rng.random() < 0.5 else "sgd"
        loss = (np.log10(lr) + 3) ** 2 + 0.3 * dropout + (0.2 if opt == "sgd" else 0) + rng.normal(0, 0.05)
        u = rng.random()
        state = "COMPLETE" if u < 0.9 else ("PRUNED" if u < 0.95 else "FAILED")
        started = t0 + dt.timedelta(seconds=i)
        rows.append({
            "study_id": study_id, "number": i, "state": state,
            "params": {"lr": lr, "width": width, "dropout": dropout, "optimizer": opt},
            "values": {"value": float(loss)} if state == "COMPLETE" else None,
            "constraint_values": None, "attrs": {}, "error": error if state == "FAILED" else None,
            "worker_id": "bench", "seq": i + 1, "created_at": started, "started_at": started,
            "finished_at": started + dt.timedelta(seconds=float(rng.uniform(0.5, 5))), "heartbeat_at": None,
        })
    return rows


def add_trials(url: str, study_id: int, start: int, n: int, seed: int = 0) -> None:
    """Insert ``n`` finished trials numbered from ``start`` (and reports on every tenth) in bulk."""
    import sqlalchemy as sa

    from hpo.store.engine import get_engine, write_connection
    from hpo.store.schema import ReportRow, StudyRow, TrialRow

    trials, reports, studies = TrialRow.__table__, ReportRow.__table__, StudyRow.__table__
    rng = np.random.default_rng(seed + start)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    engine = get_engine(url)
    with write_connection(engine) as conn, conn.begin():
        for chunk in range(start, start + n, 20_000):
            size = min(20_000, start + n - chunk)
            conn.execute(sa.insert(trials), _rows(chunk, size, rng, study_id, t0))
        ids = conn.execute(
            sa.select(trials.c.id, trials.c.number).where(
                (trials.c.study_id == study_id) & (trials.c.number >= start) & (trials.c.number % 10 == 0))
        ).all()
        report_rows = [
            {"trial_id": tid, "step": float(s), "values": {"value": 3.0 / (s + 1) + (num % 7) * 0.1},
             "created_at": t0}
            for tid, num in ids for s in range(5)
        ]
        if report_rows:
            conn.execute(sa.insert(reports), report_rows)
        conn.execute(sa.update(studies).where(studies.c.id == study_id)
                     .values(next_number=start + n, seq=start + n))


def build_bench_store(url: str, n: int) -> int:
    """A store at ``url`` with the study ``bench`` of ``n`` trials; returns its study id."""
    import hpo

    study = hpo.create_study(
        name=STUDY, storage=url, sampler="random", seed=0,
        space={"lr": hpo.Float(1e-5, 1e-1, log=True), "width": hpo.Int(16, 1024, log=True),
               "dropout": hpo.Float(0.0, 0.5), "optimizer": hpo.Categorical(["sgd", "adam"])},
    )
    add_trials(url, study.study_id, 0, n)
    return study.study_id


def _app(url: str) -> object:
    from streamlit.testing.v1 import AppTest

    from hpo.dashboard import APP_PATH

    at = AppTest.from_file(str(APP_PATH), default_timeout=300)
    at.query_params.update({"page": "study", "study": STUDY, "live": "0"})
    return at


def _timed_run(at: object) -> float:
    t0 = time.perf_counter()
    at.run()  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - t0
    if at.exception:  # type: ignore[attr-defined]
        raise RuntimeError(f"the study page failed: {[e.message for e in at.exception]}")  # type: ignore[attr-defined]
    return elapsed


def _baseline(url: str, repeats: int = 3) -> float:
    """AppTest's own cost: the studies page of an empty store (no trials, no charts)."""
    import streamlit as st

    from hpo.dashboard import STORAGE_ENV
    from hpo.store import open_store

    open_store(url)
    os.environ[STORAGE_ENV] = url
    times = []
    for _ in range(repeats):
        st.cache_resource.clear()
        at = _app(url)
        at.query_params["page"] = "studies"  # type: ignore[attr-defined]
        times.append(_timed_run(at))
    return statistics.median(times)


def measure(url: str, study_id: int, n: int, repeats: int = 3) -> tuple[list[float], list[float], list[float]]:
    import streamlit as st

    from hpo.dashboard import STORAGE_ENV

    os.environ[STORAGE_ENV] = url
    cold, refresh, grow = [], [], []
    next_number = n
    for _ in range(repeats):
        st.cache_resource.clear()
        st.cache_data.clear()
        at = _app(url)
        cold.append(_timed_run(at))
        refresh.append(_timed_run(at))
        add_trials(url, study_id, next_number, 100)
        next_number += 100
        grow.append(_timed_run(at))
    return cold, refresh, grow


def run_dashboard_benchmark(quick: bool = False, progress: bool = True) -> list[DashboardRun]:
    """Build each store, time the study page; the dashboard's storage variable is restored afterwards."""
    from hpo.dashboard import STORAGE_ENV

    saved = os.environ.get(STORAGE_ENV)
    try:
        return _run_all(quick, progress)
    finally:
        if saved is None:
            os.environ.pop(STORAGE_ENV, None)
        else:
            os.environ[STORAGE_ENV] = saved


def _run_all(quick: bool, progress: bool) -> list[DashboardRun]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="hpo-dash-bench-") as folder:
        # Warm-up on a small store: imports (Streamlit, Plotly, scikit-learn) happen once per server, not per page.
        warm = f"sqlite:///{folder}/warm-up.db"
        measure(warm, build_bench_store(warm, 50), 50, repeats=1)
        baseline = _baseline(f"sqlite:///{folder}/empty.db")
        if progress:
            print(f"dashboard bench: AppTest run of an empty page: {baseline:.2f} s", flush=True)
        for n in QUICK_SIZES if quick else SIZES:
            url = f"sqlite:///{folder}/dash-{n}.db"
            t0 = time.perf_counter()
            sid = build_bench_store(url, n)
            build = time.perf_counter() - t0
            cold, refresh, grow = measure(url, sid, n, repeats=1 if quick else 3)
            runs.append(DashboardRun(n, build, cold, refresh, grow, baseline))
            if progress:
                print(f"dashboard bench: {n:>7,} trials: cold {DashboardRun.med(cold):.2f} s, "
                      f"refresh {DashboardRun.med(refresh):.2f} s, +100 trials {DashboardRun.med(grow):.2f} s",
                      flush=True)
    return runs


def _plot(runs: list[DashboardRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(runs))
    for offset, label, attr, colour in ((-0.27, "cold", "cold_s", "#1f77b4"),
                                        (0.0, "refresh, nothing new", "refresh_s", "#2ca02c"),
                                        (0.27, "refresh, +100 trials", "grow_s", "#ff7f0e")):
        ax.bar(x + offset, [DashboardRun.med(getattr(r, attr)) for r in runs], 0.27, label=label, color=colour)
    ax.axhline(TARGET_S, color="#d62728", linestyle="--", label=f"target {TARGET_S:g} s")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r.trials:,} trials" for r in runs])
    ax.set_ylabel("seconds (median)")
    ax.set_title("Dashboard study page: time to render (AppTest run)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_dashboard_report(runs: list[DashboardRun], output_dir: Path, quick: bool = False) -> Path:
    md = output_dir / "dashboard.md"
    png = output_dir / "dashboard_render.png"
    _plot(runs, png)
    biggest = max(runs, key=lambda r: r.trials)
    worst = max(DashboardRun.med(biggest.cold_s), DashboardRun.med(biggest.grow_s))
    lines = [
        "# Dashboard benchmark (`hpo bench dashboard" + (" --quick" if quick else "") + "`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, SQLite store; load average {os.getloadavg()[0]:.1f} at the end "
        "(other work shared the cores).",
        "",
        "What is timed: one run of the study page's Streamlit script under `streamlit.testing.v1.AppTest` "
        "(read the trials read-only, best-so-far line, random-forest importance, Plotly figures for history, "
        "parallel coordinates and slices on sampled trials, the filtered trial table, serialised to Streamlit's "
        "messages). The browser's drawing is not included, nor are the imports (a warm-up run first). Median of "
        f"{len(biggest.cold_s)} repetition(s).",
        "",
        "- **cold**: caches cleared, as when a new server opens the study (reads every trial once);",
        "- **refresh**: the same session re-run with nothing new (one live-refresh tick of an idle study);",
        "- **+100 trials**: re-run after 100 more trials finished (reads only those 100).",
        "",
        f"For scale, a new AppTest session showing the studies page of an empty store took {runs[0].baseline_s:.2f} s "
        "(AppTest's start-up, included in the cold figures).",
        "",
        "| trials | cold (s) | refresh (s) | +100 trials (s) | store build (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(f"| {r.trials:,} | {r.med(r.cold_s):.2f} | {r.med(r.refresh_s):.2f} | "
                     f"{r.med(r.grow_s):.2f} | {r.build_s:.1f} |")
    lines += [
        "",
        "## Target",
        "",
        f"- study page for {biggest.trials:,} trials under {TARGET_S:g} s (cold and after new trials): "
        f"{worst:.2f} s -> **{'met' if worst < TARGET_S else 'not met'}**.",
        "",
        f"![render time]({png.name})",
        "",
    ]
    md.write_text("\n".join(lines))
    return md


def run(quick: bool, output_dir: Path) -> Path:
    """``hpo bench dashboard``: build the stores, time the study page, write ``dashboard.md`` and its plot."""
    return write_dashboard_report(run_dashboard_benchmark(quick=quick), output_dir, quick=quick)

"""The learning-curves page draws the hyperparameter schedules (``hp/<name>`` reports) of self-tuning
trials in their own chart, and never takes an ``hp/`` metric for the learning curve's metric."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from streamlit.testing.v1 import AppTest  # noqa: E402

import hpo  # noqa: E402
from hpo.dashboard import APP_PATH, STORAGE_ENV  # noqa: E402
from hpo.dashboard.analysis import schedule_frame  # noqa: E402
from hpo.dashboard.reader import DashboardReader  # noqa: E402
from hpo.dashboard.sample_stores import build_stn_store  # noqa: E402


@pytest.fixture(scope="module")
def stn_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The ``stn`` sample study (3 trials with schedules, 2 without), plus a study whose objective is never
    reported and whose reports' first metric by name is a schedule."""
    url = build_stn_store(f"sqlite:///{tmp_path_factory.mktemp('dash-stn')}/hpo.db")
    study = hpo.create_study(name="unreported", space={"x": hpo.Float(0.0, 1.0)}, storage=url, sampler="random",
                             seed=0)  # objective "value", never reported: the default metric is not hp/alpha
    trial = study.ask()
    for step in range(5):
        trial.report(step, {"hp/alpha": 0.1 * step, "loss": 1.0 / (step + 1)})
    study.tell(trial, 0.2)
    return url


def _run(url: str, monkeypatch: pytest.MonkeyPatch, study: str) -> AppTest:
    monkeypatch.setenv(STORAGE_ENV, url)
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.query_params["page"] = "curves"
    at.query_params["live"] = "0"
    at.query_params["study"] = study
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _decode(node: object) -> object:
    """Plotly's base64 arrays (``{"dtype", "bdata"}``) decoded to lists."""
    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            return np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"]).tolist()
        return {k: _decode(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_decode(v) for v in node]
    return node


def _charts(at: AppTest) -> dict[str, dict]:
    """Chart title -> its Plotly JSON (arrays decoded)."""
    out = {}
    for chart in at.get("plotly_chart"):
        spec: dict = _decode(json.loads(chart.proto.spec))  # type: ignore[assignment]
        title = spec.get("layout", {}).get("title", {})
        out[title.get("text", "") if isinstance(title, dict) else str(title)] = spec
    return out


def test_schedules_chart_has_one_line_per_trial_and_hyperparameter(stn_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(stn_url, monkeypatch, "stn")
    charts = _charts(at)
    assert set(charts) == {"Learning curves: val_loss by step, coloured by state",
                           "Hyperparameter schedules: value by step, one line per trial"}
    metric = at.selectbox(key="curves_metric")
    assert metric.options == ["val_loss"] and metric.value == "val_loss"  # hp/* is not a learning-curve metric
    curves = charts["Learning curves: val_loss by step, coloured by state"]["data"]
    assert len(curves) == 5  # every trial's val_loss, the self-tuning and the fixed ones
    lines = charts["Hyperparameter schedules: value by step, one line per trial"]["data"]
    assert sorted((t["name"], t["yaxis"]) for t in lines) == sorted(
        (f"trial {n}", axis) for n in (0, 1, 2) for axis in ("y", "y2"))  # 3 STN trials x 2 hyperparameters
    by_trial = {(t["name"], t["yaxis"]): t for t in lines}
    dropout = by_trial[("trial 1", "y")]  # panels sorted by name: dropout, then noise
    assert dropout["x"][:3] == [0.0, 5.0, 10.0] and len(dropout["y"]) == 40
    assert dropout["y"][0] == pytest.approx(0.05) and dropout["y"][-1] == pytest.approx(
        0.05 + 0.35 * (1 - math.exp(-3.9)))
    assert "3 trial(s)" in "\n".join(c.value for c in at.caption)


def test_hp_metrics_are_never_the_default_metric(stn_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(stn_url, monkeypatch, "unreported")
    metric = at.selectbox(key="curves_metric")
    assert metric.options == ["loss"] and metric.value == "loss"
    assert sorted(_charts(at)) == ["Hyperparameter schedules: value by step, one line per trial",
                                   "Learning curves: loss by step, coloured by state"]


def test_schedule_frame_thins_long_schedules(stn_url: str) -> None:
    reader = DashboardReader(stn_url)
    record = reader.trial_frame("stn").record
    rows = reader.reports(record, [0, 1, 2, 3, 4])
    full = schedule_frame(rows)
    assert set(full["hyperparameter"]) == {"dropout", "noise"} and set(full["number"]) == {0, 1, 2}
    thin = schedule_frame(rows, max_points=7)
    sizes = thin.groupby(["number", "hyperparameter"]).size()
    assert sizes.max() <= 7 and sizes.min() >= 6
    assert thin.groupby(["number", "hyperparameter"])["step"].first().eq(0.0).all()  # each starts at its first
    assert schedule_frame(reader.reports(record, [3, 4])).empty  # fixed trials: no schedule

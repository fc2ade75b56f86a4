"""The dashboard: every page under Streamlit's AppTest, read-only access, incremental reads.

The real-browser test is in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

import sqlalchemy as sa  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import hpo  # noqa: E402
from hpo.dashboard import APP_PATH, STORAGE_ENV  # noqa: E402
from hpo.dashboard.reader import DashboardReader  # noqa: E402
from hpo.dashboard.sample_stores import SPACE, build_empty_store, build_store  # noqa: E402
from hpo.errors import StorageError  # noqa: E402


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One store with the five example studies (single, multi, fidelity, seeds, fresh)."""
    return build_store(f"sqlite:///{tmp_path_factory.mktemp('dash')}/hpo.db", n_trials=24)


def _run(url: str, monkeypatch: pytest.MonkeyPatch, page: str, study: str | None = None) -> AppTest:
    monkeypatch.setenv(STORAGE_ENV, url)
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.query_params["page"] = page
    at.query_params["live"] = "0"
    if study is not None:
        at.query_params["study"] = study
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _chart_titles(at: AppTest) -> list[str]:
    import json

    titles = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("layout", {}).get("title", {})
        titles.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return titles


def _texts(at: AppTest) -> str:
    parts = [h.value for h in at.header] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [m.label for m in at.metric]
    return "\n".join(parts)


def test_studies_page_lists_every_study(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(store_url, monkeypatch, "studies")
    table = at.dataframe[0].value
    assert list(table["study"]) == ["single", "multi", "fidelity", "seeds", "fresh"]
    row = table.set_index("study").loc["single"]
    assert row["FAILED"] > 0 and row["PRUNED"] > 0 and row["RUNNING"] == 1 and row["state"] == "running"
    assert row["best value"] == pytest.approx(hpo.load_study("single", store_url).best_value)
    assert table.set_index("study").loc["fresh", "trials"] == 0


def test_study_page_single_objective(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(store_url, monkeypatch, "study", "single")
    titles = _chart_titles(at)
    assert any(t.startswith("Optimisation history: value") for t in titles)
    assert any(t.startswith("Parallel coordinates") for t in titles)
    assert any(t.startswith("Parameter importance") for t in titles)
    assert any(t.startswith("Slice plots") for t in titles)
    table = at.dataframe[0].value
    assert {"number", "state", "values_value", "params_lr", "duration_s", "error"} <= set(table.columns)
    assert set(table["state"]) == {"COMPLETE", "PRUNED", "FAILED", "RUNNING"}
    # The full traceback of a failed trial is shown.
    assert any("CUDA out of memory" in c.value for c in at.code)


def test_study_page_filters_the_table(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(store_url, monkeypatch, "study", "single")
    at.multiselect(key="table_states").set_value(["FAILED"]).run()
    assert not at.exception
    assert set(at.dataframe[0].value["state"]) == {"FAILED"}
    at.text_input(key="table_numbers").set_value("0-3").run()
    assert set(at.dataframe[0].value["number"]) <= {0, 1, 2, 3}


def test_study_page_multi_objective_and_empty_study(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(store_url, monkeypatch, "study", "multi")
    assert any(t.startswith("Optimisation history: error") for t in _chart_titles(at))
    at.selectbox(key="study_objective").set_value("accuracy").run()
    assert any(t.startswith("Optimisation history: accuracy (maximize)") for t in _chart_titles(at))
    at = _run(store_url, monkeypatch, "study", "fresh")
    assert "No completed feasible trial yet" in _texts(at)
    assert not at.get("plotly_chart")


def test_learning_curves_page(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(store_url, monkeypatch, "curves", "single")
    titles = _chart_titles(at)
    assert titles == ["Learning curves: value by step, coloured by state"]
    at.radio(key="curves_colour").set_value("decision").run()
    import json

    names = {t.get("name") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert {"promote", "stop", "(none)"} <= names
    at = _run(store_url, monkeypatch, "curves", "fidelity")
    assert _chart_titles(at) == ["Learning curves: val_loss by epochs, coloured by state"]
    at = _run(store_url, monkeypatch, "curves", "fresh")
    assert "No intermediate results" in _texts(at)


def test_pareto_page(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(store_url, monkeypatch, "pareto", "multi")
    titles = _chart_titles(at)
    assert titles[0].startswith("Pareto front:") and titles[1].startswith("Hypervolume over time")
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["type"] == "scatter3d"
    study = hpo.load_study("multi", store_url)
    assert len(at.dataframe[0].value) == len(study.pareto_front())
    at.radio(key="pareto_view").set_value("2-D").run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["type"] == "scattergl"
    at = _run(store_url, monkeypatch, "pareto", "single")
    assert "one objective" in _texts(at)


def test_seeds_page(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Seeds page shows the protocol report: intervals, gap, Kendall tau and Spearman rho, and the
    trial to report (the same numbers as ``protocol_report``)."""
    from hpo.protocols.report import protocol_report

    at = _run(store_url, monkeypatch, "seeds", "seeds")
    titles = _chart_titles(at)
    assert titles[0] == "return: mean on tuning seeds vs mean on test seeds (bars: 95% bootstrap intervals)"
    assert titles[1] == "return per seed: tuning seeds and test seeds side by side"
    table = at.dataframe[0].value
    tested = table[table["tested"]]
    assert len(tested) == 4 and (tested["test_n"] >= 2).all() and (table["tuning_n"] == 3).all()
    assert len(table) == 5 and table["failed"].sum() == 1  # the 5 best on tuning, one not tested
    assert (table["tuning_low"] <= table["tuning"]).all() and (tested["test"] <= tested["test_high"]).all()
    assert list(tested["gap"]) == pytest.approx(list(tested["test"] - tested["tuning"]))
    store = hpo.load_study("seeds", store_url).store
    report = protocol_report(store, store.get_study("seeds").study_id, n_boot=1000)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Kendall τ (tuning vs test)"] == f"{report.correlation.kendall_tau:.3f}"
    assert metrics["Spearman ρ (tuning vs test)"] == f"{report.correlation.spearman_rho:.3f}"
    assert report.recommended is not None and table.loc[table["recommended"], "number"].tolist() == [
        report.recommended.number]
    assert f"recommended (best on tuning data only): trial {report.recommended.number}" in at.success[0].value
    assert "Kendall tau" in _texts(at)
    at = _run(store_url, monkeypatch, "seeds", "single")
    assert "No seeded evaluations" in _texts(at)


@pytest.mark.postgres
def test_every_page_on_postgresql(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same pages over a PostgreSQL store (JSON fields and timestamps come back parsed by psycopg)."""
    url = build_store(postgres_url, n_trials=10)
    at = _run(url, monkeypatch, "studies")
    assert list(at.dataframe[0].value["study"]) == ["single", "multi", "fidelity", "seeds", "fresh"]
    at = _run(url, monkeypatch, "study", "single")
    assert len(_chart_titles(at)) == 4
    table = at.dataframe[0].value
    assert table["duration_s"].notna().any() and table["params_lr"].notna().all()
    assert _chart_titles(_run(url, monkeypatch, "curves", "fidelity"))[0].startswith("Learning curves")
    assert _chart_titles(_run(url, monkeypatch, "pareto", "multi"))[1].startswith("Hypervolume")
    assert len(_chart_titles(_run(url, monkeypatch, "seeds", "seeds"))) == 2


def test_empty_store_and_missing_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = build_empty_store(f"sqlite:///{tmp_path}/empty.db")
    for page in ("studies", "study", "curves", "pareto", "seeds"):
        at = _run(url, monkeypatch, page)
        assert "No studies in this store yet" in _texts(at) or "No study selected" in _texts(at)
    missing = tmp_path / "missing.db"
    at = _run(f"sqlite:///{missing}", monkeypatch, "studies")
    assert "no SQLite store at" in at.error[0].value
    assert not missing.exists()


def test_reader_never_creates_a_schema(tmp_path: Path) -> None:
    path = tmp_path / "bare.db"
    sqlite3.connect(path).close()  # an empty SQLite file, no tables
    with pytest.raises(StorageError, match="holds no hpo store"):
        DashboardReader(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def _writes() -> list[str]:
    return [
        "INSERT INTO studies (name, space, objectives, constraints, settings, next_number, seq, created_at) "
        "VALUES ('x', '{}', '[]', '[]', '{}', 0, 0, '2020-01-01')",
        "UPDATE trials SET state = 'FAILED'",
        "DELETE FROM trials",
        "CREATE TABLE intruder (id INTEGER)",
    ]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_dashboard_connection_cannot_write(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    study = hpo.create_study(name="ro", space=SPACE, storage=url, sampler="random", seed=0)
    study.optimize(lambda t: t["dropout"], n_trials=3, show_progress_bar=False)
    reader = DashboardReader(url)
    for statement in _writes():
        with reader.store.engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError, match="(?i)read-?only"):
                conn.exec_driver_sql(statement)
                conn.commit()
    assert [t.state.value for t in hpo.load_study("ro", url).trials] == ["COMPLETE"] * 3
    assert reader.study_names() == ["ro"]


def test_trial_frame_reads_only_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/live.db"
    study = hpo.create_study(name="live", space=SPACE, storage=url, sampler="random", seed=0)
    study.optimize(lambda t: t["dropout"], n_trials=20, show_progress_bar=False)
    reader = DashboardReader(url)
    tf = reader.trial_frame("live")
    assert len(tf.refresh()) == 20 and tf.last_read == 20
    version = tf.version
    assert len(tf.refresh()) == 20 and tf.last_read == 0 and tf.version == version
    running = study.ask()
    study.optimize(lambda t: t["dropout"], n_trials=3, show_progress_bar=False)
    frame = tf.refresh()
    assert tf.last_read == 4  # three finished trials and the running one
    assert len(frame) == 24 and frame["state"].iloc[20] == "RUNNING" and tf.version != version
    study.tell(running, 0.5)
    frame = tf.refresh()
    assert tf.last_read == 1 and (frame["state"] == "COMPLETE").all() and list(frame["number"]) == list(range(24))
    # The app shows the new trials on its next run (a live refresh reruns the page).
    at = _run(url, monkeypatch, "study", "live")
    assert at.metric[0].value == "24"
    study.optimize(lambda t: t["dropout"], n_trials=2, show_progress_bar=False)
    at.run()
    assert at.metric[0].value == "26"


def test_a_study_deleted_and_created_again_is_read_afresh(tmp_path: Path) -> None:
    from hpo.errors import StudyNotFoundError

    url = f"sqlite:///{tmp_path}/again.db"
    hpo.create_study(name="s", space=SPACE, storage=url, sampler="random").optimize(
        lambda t: t["dropout"], n_trials=5, show_progress_bar=False)
    reader = DashboardReader(url)
    assert len(reader.trial_frame("s").refresh()) == 5
    hpo.delete_study("s", url)
    with pytest.raises(StudyNotFoundError):
        reader.trial_frame("s")
    hpo.create_study(name="s", space=SPACE, storage=url, sampler="random").optimize(
        lambda t: t["dropout"], n_trials=2, show_progress_bar=False)
    assert len(reader.trial_frame("s").refresh()) == 2


def test_launch_refuses_a_bad_store_before_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hpo.cli import main

    assert main(["dashboard", "--storage", f"sqlite:///{tmp_path}/nope.db", "--port", "8599"]) == 2
    assert "no SQLite store at" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
    url = build_empty_store(f"sqlite:///{tmp_path}/empty.db")
    assert main(["dashboard", "--storage", url, "--port", "0"]) == 2
    assert "port: must be an integer in 1-65535, but got 0" in capsys.readouterr().err


def test_hpo_does_not_import_the_dashboard() -> None:
    import subprocess
    import sys

    code = ("import hpo, hpo.cli, sys; print(any(m.split('.')[0] in ('streamlit', 'plotly') "
            "or m.startswith('hpo.dashboard') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(autouse=True)
def _no_engine_leak() -> Iterator[None]:
    yield
    from hpo.store.engine import dispose_engines

    dispose_engines()


def test_dashboard_benchmark_quick(tmp_path: Path) -> None:
    """`hpo bench dashboard --quick` writes its report (the timings themselves are not asserted)."""
    from hpo.bench import run_benchmark

    report = run_benchmark("dashboard", quick=True, output_dir=tmp_path)
    text = report.read_text()
    assert "| 300 |" in text and "## Target" in text
    assert (tmp_path / "dashboard_render.png").stat().st_size > 0


# -- names and values the store accepted, however odd ------------------------------------------------
NUL = "lo\x00ss"


@pytest.fixture(scope="module")
def odd_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Studies with a NUL in an objective's name, ``"`` and ``\\`` in names, and NaN / Infinity tokens in trials'
    JSON (written by Python's json; SQLite's JSON functions refuse them). The NaN rows are written to the store
    directly, as a store written by an older version holds them."""
    path = tmp_path_factory.mktemp("odd") / "odd.db"
    url = f"sqlite:///{path}"
    nul = hpo.create_study(name="nul", space={"x": hpo.Float(0.0, 1.0)}, objectives={NUL: "minimize"},
                           storage=url, sampler="random", seed=0)
    nul.optimize(lambda t: t["x"], n_trials=4, show_progress_bar=False)
    quote = hpo.create_study(
        name="quote", space={'p"q': hpo.Float(0.0, 1.0), "y": hpo.Categorical(['=HYPERLINK("x")', "b"])},
        objectives={'a"b': "minimize", "c\\d": "maximize"}, storage=url, sampler="random", seed=0)
    quote.enqueue({'p"q': 0.25, "y": '=HYPERLINK("x")'})
    quote.optimize(lambda t: (t['p"q'], t['p"q'] ** 2), n_trials=5, show_progress_bar=False)
    nan = hpo.create_study(name="nan", space={"x": hpo.Float(0.0, 1.0)}, storage=url, sampler="random", seed=0)

    def objective(trial: hpo.Trial) -> float:
        for step in range(3):
            trial.report(step, {"value": trial["x"] + step})
        return trial["x"]

    nan.optimize(objective, n_trials=4, show_progress_bar=False)
    with sqlite3.connect(path) as conn:
        sid = conn.execute("SELECT id FROM studies WHERE name = 'nan'").fetchone()[0]
        conn.execute("UPDATE trials SET attrs = ?, \"values\" = ? WHERE study_id = ? AND number = 0",
                     ('{"note": NaN, "decision": "stop", "big": Infinity}', '{"value": -1.0, "extra": NaN}', sid))
        conn.execute("UPDATE trials SET attrs = ? WHERE study_id = ? AND number = 1", ('{"decision": -Infinity}', sid))
    return url


def test_every_page_renders_odd_names_and_values(odd_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shown_nul = "lo\u2400ss"
    at = _run(odd_url, monkeypatch, "studies")
    table = at.dataframe[0].value.set_index("study")
    assert list(table.index) == ["nul", "quote", "nan"]
    assert table.loc["nul", "objectives"] == f"{shown_nul} (min)"
    assert table.loc["nul", "best value"] == pytest.approx(hpo.load_study("nul", odd_url).best_value)
    assert table.loc["nan", "best value"] == -1.0  # read from the document SQLite cannot parse

    at = _run(odd_url, monkeypatch, "study", "nul")
    assert any(shown_nul in c.value for c in at.caption)
    trials = at.dataframe[0].value
    assert trials[f"values_{shown_nul}"].notna().all() and len(trials) == 4
    assert any(t.startswith(f"Optimisation history: {shown_nul}") for t in _chart_titles(at))

    at = _run(odd_url, monkeypatch, "study", "quote")
    trials = at.dataframe[0].value.set_index("number").sort_index()
    study = hpo.load_study("quote", odd_url)
    assert list(trials['values_a"b']) == pytest.approx([t.values['a"b'] for t in study.trials])
    assert list(trials["values_c\\d"]) == pytest.approx([t.values["c\\d"] for t in study.trials])
    assert list(trials['params_p"q']) == pytest.approx([t.params['p"q'] for t in study.trials])
    assert trials.loc[0, "params_y"] == '=HYPERLINK("x")'
    at = _run(odd_url, monkeypatch, "pareto", "quote")
    assert len(at.dataframe[0].value) == len(study.pareto_front())

    at = _run(odd_url, monkeypatch, "study", "nan")
    trials = at.dataframe[0].value.set_index("number").sort_index()
    assert trials.loc[0, "values_value"] == -1.0 and trials.loc[0, "decision"] == "stop"
    assert trials["values_value"].notna().all()
    at = _run(odd_url, monkeypatch, "curves", "nan")
    assert _chart_titles(at) == ["Learning curves: value by step, coloured by state"]
    _run(odd_url, monkeypatch, "seeds", "nan")


def test_reader_reads_nan_and_infinity_tokens(odd_url: str) -> None:
    """NaN / Infinity in a document SQLite cannot parse are read as Python's json reads them (float NaN / inf)."""
    reader = DashboardReader(odd_url)
    frame = reader.trial_frame("nan").refresh().set_index("number")
    assert frame.loc[0, "values_value"] == -1.0 and frame.loc[0, "decision"] == "stop"
    assert frame.loc[1, "decision"] == float("-inf")
    assert frame.loc[2:, "decision"].isna().all() and frame["values_value"].notna().all()
    record = reader.study("nan")
    assert reader.best_value(record, record.objectives[0]) == -1.0


# -- the dashboard through the store's read API --------------------------------------------------------
def test_reader_goes_through_the_store_read_api() -> None:
    """The reader imports neither SQLAlchemy, the ORM rows nor the SQL store: only the store's seam."""
    import ast

    from hpo.dashboard import reader

    tree = ast.parse(Path(reader.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    banned = {"sqlalchemy", "hpo.store.schema", "hpo.store.sql", "hpo.store.rows", "hpo.store.engine",
              "hpo.store.migrate"}
    assert not {m for m in imported if m and m.split(".")[0] == "sqlalchemy" or m in banned}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_reader_table_is_the_trials_dataframe(backend: str, request: pytest.FixtureRequest) -> None:
    """One trials-table definition: the reader's frame is ``Study.trials_dataframe()`` plus the decision column."""
    import pandas as pd

    url = request.getfixturevalue(f"{backend}_url")
    study = hpo.create_study(name="table", space=SPACE, storage=url, sampler="random", seed=0,
                             constraints={"mem": ("<=", 0.3)})

    def objective(trial: hpo.Trial) -> dict[str, float]:
        if trial.number == 2:
            raise RuntimeError("boom")
        return {"value": trial["dropout"], "mem": trial["dropout"]}

    study.optimize(objective, n_trials=6, catch=(RuntimeError,), show_progress_bar=False)
    study.ask()  # one RUNNING trial
    frame = DashboardReader(url).trial_frame("table").refresh()
    expected = study.trials_dataframe()
    assert list(frame.columns) == [c for c in expected.columns if c != "error"] + ["decision", "resume_from", "error"]
    assert frame["feasible"].tolist() == expected["feasible"].tolist()
    assert {True, False, None} >= set(frame["feasible"]) and frame["feasible"].isna().sum() == 2
    pd.testing.assert_frame_equal(frame.drop(columns=["decision", "resume_from"]), expected, check_dtype=False)
    from hpo.dashboard import analysis

    feasible = [t.number for t in study.trials if t.state.value == "COMPLETE" and t.is_feasible(study.constraints)]
    assert analysis.completed(frame, study.record).number.tolist() == feasible


# -- issue 24 point 5: the dashboard's traps ------------------------------------------------------------
def _train(trial: hpo.Trial) -> float:
    """The README's scheduler objective: resumes its parent's checkpoint, reports every epoch."""
    import json
    import math

    state = {"loss": 2.0}
    if (folder := trial.load_checkpoint()) is not None:
        state = json.loads((folder / "state.json").read_text())
    rate = 0.05 + 0.3 * (1 - abs(math.log10(trial["lr"]) + 2) / 3)
    for epoch in range(int(trial.start_step) + 1, int(trial.budget) + 1):
        state["loss"] *= 1 - rate
        trial.report(epoch, state["loss"])
        if trial.should_stop():
            raise hpo.TrialPruned()
    (trial.checkpoint_dir / "state.json").write_text(json.dumps(state))
    return state["loss"]


@pytest.fixture(scope="module")
def traps_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An ASHA study, a PBT study, a study with a conditional parameter and a 2-objective study."""
    url = f"sqlite:///{tmp_path_factory.mktemp('traps')}/traps.db"
    asha = hpo.create_study(name="asha", space={"lr": hpo.Float(1e-5, 1e-1, log=True)},
                            fidelity=hpo.Fidelity("epochs", min=1, max=27), storage=url, sampler="random", seed=0,
                            scheduler={"name": "asha", "options": {"reduction_factor": 3}})
    asha.optimize(_train, n_trials=20, show_progress_bar=False)
    pbt = hpo.create_study(name="pbt", space={"lr": hpo.Float(1e-5, 1e-1, log=True)},
                           fidelity=hpo.Fidelity("epochs", min=1, max=9), storage=url, seed=0,
                           scheduler={"name": "pbt", "options": {"population_size": 3, "interval": 3}})
    pbt.optimize(_train, show_progress_bar=False)
    cond = hpo.create_study(name="cond", storage=url, sampler="random", seed=0, space={
        "optimizer": hpo.Categorical(["sgd", "adam"]),
        "momentum": hpo.Float(0.0, 0.99, active_if={"optimizer": ["sgd"]}),
        "layers": hpo.Int(1, 8)})
    cond.optimize(lambda t: t["layers"] + (t["momentum"] if t["optimizer"] == "sgd" else 0.5), n_trials=16,
                  show_progress_bar=False)
    mo = hpo.create_study(name="mo", space={"x": hpo.Float(0.0, 1.0)}, objectives={"a": "minimize", "b": "minimize"},
                          storage=url, sampler="random", seed=0)
    mo.optimize(lambda t: {"a": t["x"], "b": (1 - t["x"]) ** 2}, n_trials=12, show_progress_bar=False)
    return url


def _spec(at: AppTest, index: int) -> dict:
    """A chart's Plotly JSON, with Plotly's base64 arrays (``{"dtype", "bdata"}``) decoded to lists."""
    import base64
    import json

    import numpy as np

    def decode(node: object) -> object:
        if isinstance(node, dict):
            if "bdata" in node and "dtype" in node:
                return np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"]).tolist()
            return {k: decode(v) for k, v in node.items()}
        if isinstance(node, list):
            return [decode(v) for v in node]
        return node

    return decode(json.loads(at.get("plotly_chart")[index].proto.spec))  # type: ignore[return-value]


def test_unknown_study_or_page_in_the_url_is_an_error_not_a_switch(traps_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(traps_url, monkeypatch, "study", "nosuch")
    message = at.error[0].value
    assert "nosuch" in message and all(f"`{n}`" in message for n in ("asha", "pbt", "cond", "mo"))
    assert at.query_params["study"] == "nosuch" and at.query_params["page"] == "study"  # not rewritten
    assert not any(h.value.startswith("Study ") for h in at.header)  # no other study shown instead
    at = _run(traps_url, monkeypatch, "nosuchpage", "asha")
    assert "nosuchpage" in at.error[0].value and "`curves`" in at.error[0].value
    assert at.query_params["page"] == "nosuchpage"


def test_parallel_coordinates_draw_inactive_conditional_trials(traps_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(traps_url, monkeypatch, "study", "cond")
    spec = next(_spec(at, i) for i in range(len(at.get("plotly_chart")))
                if _spec(at, i)["data"][0]["type"] == "parcoords")
    trace = spec["data"][0]
    momentum = next(d for d in trace["dimensions"] if d["label"] == "momentum")
    study = hpo.load_study("cond", traps_url)
    n_adam = sum(t.params["optimizer"] == "adam" for t in study.trials)
    assert n_adam > 0 and momentum["ticktext"][0] == "inactive"
    assert sum(v == momentum["tickvals"][0] for v in momentum["values"]) == n_adam
    assert all(v is not None for d in trace["dimensions"] for v in d["values"])  # NaN would be null: no line
    assert trace["line"]["showscale"] and trace["line"]["colorbar"]["title"]["text"] == "value"


def test_asha_study_page_plots_every_trial_with_its_last_report(traps_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(traps_url, monkeypatch, "study", "asha")
    study = hpo.load_study("asha", traps_url)
    n_pruned = sum(t.state.value == "PRUNED" for t in study.trials)
    n_done = sum(t.state.value == "COMPLETE" for t in study.trials)
    assert n_pruned > 0 and n_done + n_pruned == 20
    history = _spec(at, 0)
    traces = {t["name"]: t for t in history["data"]}
    assert len(traces["trial"]["x"]) + len(traces["pruned (last report)"]["x"]) == 20
    assert all(v is not None for v in traces["pruned (last report)"]["y"])
    assert set(traces["pruned (last report)"]["customdata"]) <= {1.0, 3.0, 9.0, 27.0}  # the budget reached
    table = at.dataframe[0].value
    assert table["last report (value)"].notna().all() and table["budget"].notna().all()
    assert history["layout"]["xaxis"]["tickformat"] == "d"


def test_pbt_curves_continue_through_their_parents(traps_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(traps_url, monkeypatch, "curves", "pbt")
    study = hpo.load_study("pbt", traps_url)
    resumed = [t for t in study.trials if t.attrs.get("resume_from") is not None]
    assert resumed
    spec = _spec(at, 0)
    curves = {int(t["hovertemplate"].split("<br>")[0].split()[1]): t for t in spec["data"]}
    reports = study.store.get_reports(study.study_id)
    last_step = {}
    for r in reports:
        last_step[r.trial_number] = max(last_step.get(r.trial_number, r.step), r.step)
    for t in resumed:
        # The curve starts at its parent's last report, so the member's line is continuous.
        assert curves[t.number]["x"][0] == last_step[t.attrs["resume_from"]]
        assert len(curves[t.number]["x"]) == 1 + sum(r.trial_number == t.number for r in reports)
    assert spec["layout"]["xaxis"]["dtick"] == 1 and spec["layout"]["xaxis"]["tickformat"] == "d"


def test_pareto_hypervolume_takes_the_studys_reference_point(traps_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    study = hpo.load_study("mo", traps_url)
    expected = study.hypervolume_history({"a": 2.0, "b": 2.0}).values[-1]
    at = _run(traps_url, monkeypatch, "pareto", "mo")
    at.text_input(key="pareto_ref_point").set_value("a=2, b=2").run()
    assert not at.exception
    hv = next(_spec(at, i) for i in range(len(at.get("plotly_chart")))
              if _spec(at, i)["layout"]["title"]["text"].startswith("Hypervolume"))
    assert hv["data"][0]["y"][-1] == pytest.approx(expected)
    assert any("a = 2, b = 2" in c.value for c in at.caption)

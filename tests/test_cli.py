"""The ``hpo`` command: in-process through ``hpo.cli.main`` and as the installed console script."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.cli import main
from hpo.records import TrialState

OBJECTIVE_SOURCE = '''
def objective(trial):
    bonus = {"a": 0.0, "b": 0.5}[trial["kind"]]
    return (trial["x"] - 0.3) ** 2 + trial["n"] + bonus + trial["fixed"]
'''


@pytest.fixture
def module(tmp_path: Path) -> Iterator[str]:
    """A unique objective module next to the configs (so no test sees another test's module)."""
    name = f"hpo_cli_obj_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(OBJECTIVE_SOURCE, encoding="utf-8")
    yield name
    sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def _no_env_storage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    monkeypatch.chdir(tmp_path)  # a stray default store would land in tmp_path, not in the repo


def _config(
    tmp_path: Path,
    module: str,
    storage: str | None,
    n_trials: int | None = 4,
    name: str = "cli-study",
    extra: str = "",
    filename: str = "cfg.yaml",
) -> Path:
    lines = [f"name: {name}", f"objective: {module}:objective"]
    if storage is not None:
        lines.append(f"storage: {storage}")
    lines += [
        "objectives: {loss: minimize}",
        "space:",
        "  x: {type: float, low: 0.0, high: 1.0}",
        "  n: {type: int, low: 1, high: 3}",
        "  kind: {type: categorical, choices: [a, b]}",
        "  fixed: 5",
        "sampler: random",
        "seed: 0",
    ]
    if n_trials is not None:
        lines.append(f"n_trials: {n_trials}")
    path = tmp_path / filename
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- run / resume ---------------------------------------------------------------------------
def test_run_then_resume_runs_nothing_more(tmp_path: Path, module: str, sqlite_url: str, capsys: Any) -> None:
    cfg = _config(tmp_path, module, sqlite_url, n_trials=4)
    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    assert code == 0, err
    assert "0 trial(s) done, running 4" in out
    assert "best" in out and "loss" in out
    study = hpo.load_study("cli-study", sqlite_url)
    trials = study.trials
    assert len(trials) == 4 and all(t.state is TrialState.COMPLETE for t in trials)
    for t in trials:
        expected = (t.params["x"] - 0.3) ** 2 + t.params["n"] + {"a": 0.0, "b": 0.5}[t.params["kind"]] + 5
        assert t.values["loss"] == pytest.approx(expected)
        assert t.params["fixed"] == 5

    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    assert code == 0, err
    assert "already has 4 of 4 trials: nothing to run" in out
    assert len(hpo.load_study("cli-study", sqlite_url).trials) == 4

    code, out, err = _run(capsys, "run", str(cfg), "--no-progress", "--n-trials", "6")
    assert code == 0, err
    assert "running 2" in out
    assert len(hpo.load_study("cli-study", sqlite_url).trials) == 6


def test_n_trials_override_and_storage_flag(tmp_path: Path, module: str, sqlite_url: str, capsys: Any) -> None:
    other = f"sqlite:///{tmp_path}/other.db"
    cfg = _config(tmp_path, module, other, n_trials=10, extra="execution: {backend: local, n_workers: 2}\n")
    code, out, err = _run(capsys, "run", str(cfg), "--n-trials", "5", "--storage", sqlite_url, "--no-progress")
    assert code == 0, err
    trials = hpo.load_study("cli-study", sqlite_url).trials
    assert sorted(t.number for t in trials) == list(range(5))
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert not (tmp_path / "other.db").exists()  # --storage wins over the config's storage


def test_failing_objective_in_config_is_recorded(tmp_path: Path, sqlite_url: str, capsys: Any) -> None:
    name = f"hpo_cli_fail_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(
        "def objective(trial):\n    if trial.number == 1:\n        raise ValueError('bad trial')\n    return 1.0\n",
        encoding="utf-8",
    )
    try:
        cfg = _config(tmp_path, name, sqlite_url, n_trials=3)
        code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    finally:
        sys.modules.pop(name, None)
    assert code == 0, err
    states = [t.state for t in hpo.load_study("cli-study", sqlite_url).trials]
    assert states == [TrialState.COMPLETE, TrialState.FAILED, TrialState.COMPLETE]


def test_hpo_storage_environment_variable(
    tmp_path: Path, module: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    monkeypatch.setenv("HPO_STORAGE", url)
    cfg = _config(tmp_path, module, storage=None, n_trials=2)
    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    assert code == 0, err
    assert [s.name for s in hpo.list_studies(url)] == ["cli-study"]
    assert not (tmp_path / "hpo.db").exists()  # not the default store

    code, out, err = _run(capsys, "studies")
    assert code == 0 and "cli-study" in out
    code, out, err = _run(capsys, "status", "cli-study")
    assert code == 0 and "COMPLETE=2" in out
    code, out, err = _run(capsys, "db", "current")
    assert code == 0 and "schema revision" in out and "empty" not in out


# -- studies / status / export / delete -------------------------------------------------------
@pytest.fixture
def ran(tmp_path: Path, module: str, sqlite_url: str, capsys: Any) -> str:
    cfg = _config(tmp_path, module, sqlite_url, n_trials=5)
    assert main(["run", str(cfg), "--no-progress"]) == 0
    capsys.readouterr()
    return sqlite_url


def test_studies_and_status(ran: str, capsys: Any) -> None:
    code, out, err = _run(capsys, "studies", "--storage", ran)
    assert code == 0, err
    assert "cli-study" in out and "COMPLETE=5" in out
    code, out, err = _run(capsys, "status", "cli-study", "--storage", ran)
    assert code == 0, err
    assert "cli-study" in out
    assert "loss (minimize)" in out
    assert "sampler: random" in out and "seed: 0" in out
    assert "COMPLETE=5" in out
    study = hpo.load_study("cli-study", ran)
    assert f"\n{study.best_trial.number} " in out  # the best trial is listed first
    code, out, err = _run(capsys, "status", "cli-study", "--storage", ran, "--top", "2")
    assert code == 0 and "best 2 of 5" in out


def test_status_of_missing_study_and_empty_store(sqlite_url: str, capsys: Any) -> None:
    hpo.list_studies(sqlite_url)  # an empty store (read commands never create one)
    code, out, err = _run(capsys, "status", "nope", "--storage", sqlite_url)
    assert code == 2
    assert "nope" in err
    code, out, err = _run(capsys, "studies", "--storage", sqlite_url)
    assert code == 0 and "no studies" in out


def test_status_and_export_of_a_custom_sampler_study(sqlite_url: str, capsys: Any) -> None:
    from hpo.samplers import SobolSampler

    study = hpo.create_study(
        name="custom", space={"x": hpo.Float(0, 1)}, storage=sqlite_url, sampler=SobolSampler(), seed=1
    )
    study.optimize(lambda t: t["x"], n_trials=2, show_progress_bar=False)
    code, out, err = _run(capsys, "status", "custom", "--storage", sqlite_url)
    assert code == 0, err
    assert "COMPLETE=2" in out
    code, out, err = _run(capsys, "export", "custom", "--storage", sqlite_url, "--format", "json")
    assert code == 0, err
    assert len(json.loads(out)["trials"]) == 2
    code, out, err = _run(capsys, "delete", "custom", "--storage", sqlite_url, "--yes")
    assert code == 0, err
    assert hpo.list_studies(sqlite_url) == []


def test_export_csv(ran: str, capsys: Any, tmp_path: Path) -> None:
    code, out, err = _run(capsys, "export", "cli-study", "--storage", ran, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    trials = hpo.load_study("cli-study", ran).trials
    assert [int(r["number"]) for r in rows] == [t.number for t in trials]
    assert {"state", "values_loss", "params_x", "params_n", "params_kind", "params_fixed"} <= set(rows[0])
    for row, t in zip(rows, trials):
        assert row["state"] == "COMPLETE"
        assert float(row["values_loss"]) == pytest.approx(t.values["loss"])
        assert float(row["params_x"]) == pytest.approx(t.params["x"])
        assert row["params_kind"] == t.params["kind"]

    target = tmp_path / "out.csv"
    code, out, err = _run(capsys, "export", "cli-study", "--storage", ran, "--format", "csv", "-o", str(target))
    assert code == 0 and "wrote 5 trial(s)" in out
    assert len(list(csv.DictReader(target.open(encoding="utf-8")))) == 5


def test_export_json(ran: str, capsys: Any) -> None:
    code, out, err = _run(capsys, "export", "cli-study", "--storage", ran, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["study"] == "cli-study"
    assert doc["objectives"] == [{"name": "loss", "direction": "minimize"}]
    assert set(doc["space"]) == {"x", "n", "kind", "fixed"}
    trials = hpo.load_study("cli-study", ran).trials
    assert [r["number"] for r in doc["trials"]] == [t.number for t in trials]
    for record, t in zip(doc["trials"], trials):
        assert record["state"] == "COMPLETE"
        assert record["values_loss"] == pytest.approx(t.values["loss"])
        assert record["params_n"] == t.params["n"]


def test_export_missing_study_and_bad_format(sqlite_url: str, capsys: Any) -> None:
    hpo.list_studies(sqlite_url)  # an empty store (read commands never create one)
    code, out, err = _run(capsys, "export", "nope", "--storage", sqlite_url)
    assert code == 2 and "nope" in err
    with pytest.raises(SystemExit) as info:
        main(["export", "nope", "--storage", sqlite_url, "--format", "xml"])
    assert info.value.code == 2


def test_delete(ran: str, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal
    code, out, err = _run(capsys, "delete", "cli-study", "--storage", ran)
    assert code == 2
    assert "--yes" in err
    assert [s.name for s in hpo.list_studies(ran)] == ["cli-study"]

    code, out, err = _run(capsys, "delete", "cli-study", "--storage", ran, "--yes")
    assert code == 0, err
    assert "deleted" in out
    assert hpo.list_studies(ran) == []
    code, out, err = _run(capsys, "delete", "cli-study", "--storage", ran, "--yes")
    assert code == 2 and "cli-study" in err


def test_delete_asks_on_a_terminal(ran: str, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    code, out, err = _run(capsys, "delete", "cli-study", "--storage", ran)
    assert code == 1 and "not deleted" in out
    assert len(hpo.list_studies(ran)) == 1
    monkeypatch.setattr(sys, "stdin", Tty("yes\n"))
    code, out, err = _run(capsys, "delete", "cli-study", "--storage", ran)
    assert code == 0
    assert hpo.list_studies(ran) == []


# -- db ------------------------------------------------------------------------------------------
def test_db_current_and_upgrade(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    code, out, err = _run(capsys, "db", "current", "--storage", url)
    assert code == 2 and "no SQLite store at" in err and not (tmp_path / "fresh.db").exists()
    (tmp_path / "fresh.db").touch()  # an empty SQLite database
    code, out, err = _run(capsys, "db", "current", "--storage", url)
    assert code == 0, err
    assert "(empty database)" in out
    code, out, err = _run(capsys, "db", "upgrade", "--storage", url)
    assert code == 0, err
    revision = out.strip().split("schema revision:")[1].strip()
    assert revision and "empty" not in revision
    code, out, err = _run(capsys, "db", "current", "--storage", url)
    assert code == 0 and revision in out
    code, out, err = _run(capsys, "db", "upgrade", "--storage", url)  # idempotent
    assert code == 0 and revision in out
    # a store opened by the API is at the same revision
    other = f"sqlite:///{tmp_path}/api.db"
    hpo.list_studies(other)
    code, out, err = _run(capsys, "db", "current", "--storage", other)
    assert code == 0 and revision in out


# -- bad input -----------------------------------------------------------------------------------
BAD_CONFIGS = {
    "unknown_key": ("name: s\nobjective: m:f\nspace: {x: 1}\nbogus_key: 1\n", "bogus_key"),
    "missing_space": ("name: s\nobjective: m:f\n", "space"),
    "bad_objective_spec": ("name: s\nobjective: nocolon\nspace: {x: 1}\n", "objective"),
    "low_gt_high": ("name: s\nobjective: m:f\nspace:\n  lr: {type: float, low: 1.0, high: 0.1}\n", "lr"),
    "log_low_zero": ("name: s\nobjective: m:f\nspace:\n  lr: {type: float, low: 0, high: 1, log: true}\n", "lr"),
    "empty_choices": ("name: s\nobjective: m:f\nspace:\n  opt: {type: categorical, choices: []}\n", "opt"),
    "unknown_param_type": ("name: s\nobjective: m:f\nspace:\n  opt: {type: complex}\n", "opt"),
    "n_workers_zero": ("name: s\nobjective: m:f\nspace: {x: 1}\nexecution: {n_workers: 0}\n", "n_workers"),
    "negative_n_trials": ("name: s\nobjective: m:f\nspace: {x: 1}\nn_trials: -1\n", "n_trials"),
    "zero_timeout": ("name: s\nobjective: m:f\nspace: {x: 1}\ntimeout: 0\n", "timeout"),
    "yaml_syntax": ("name: s\nobjective: m:f\nspace: {x: [1, 2\n", "YAML"),
    "yaml_tag": ('name: s\nobjective: m:f\nspace: {x: 1}\nseed: !!python/object/apply:os.system ["echo hi"]\n', "YAML"),
    "not_a_mapping": ("- just\n- a list\n", "config"),
    "empty_file": ("", "config"),
    "settings_key": ("name: s\nobjective: m:f\nspace: {x: 1}\nsettings: {heartbeat: 1}\n", "settings"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_2_naming_the_field(tmp_path: Path, sqlite_url: str, capfd: Any, case: str) -> None:
    text, field = BAD_CONFIGS[case]
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text, encoding="utf-8")
    code = main(["run", str(cfg), "--storage", sqlite_url, "--no-progress"])
    out, err = capfd.readouterr()
    assert code == 2
    assert err.startswith("error: ")
    assert field in err
    assert "Traceback" not in err
    assert "hi" not in out  # the YAML tag never ran a command
    assert not (tmp_path / "hpo.db").exists() or hpo.list_studies(sqlite_url) == []


@pytest.mark.parametrize(
    "extra, field",
    [
        ("objectives: sideways\n", "objectives"),
        ("constraints: {mem: ['<', 3]}\n", "constraints"),
        ("settings: {stale_policy: never}\n", "stale_policy"),
        ("execution: {backend: dask}\n", "backend"),
    ],
)
def test_bad_definition_in_valid_yaml_writes_nothing(
    tmp_path: Path, module: str, sqlite_url: str, capsys: Any, extra: str, field: str
) -> None:
    cfg = _config(tmp_path, module, sqlite_url, n_trials=2)
    text = cfg.read_text(encoding="utf-8").replace("objectives: {loss: minimize}\n", "")
    cfg.write_text(text + extra, encoding="utf-8")
    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    assert code == 2
    assert field in err
    assert hpo.list_studies(sqlite_url) == []


def test_objective_module_missing_or_broken(tmp_path: Path, sqlite_url: str, capsys: Any) -> None:
    cfg = _config(tmp_path, "hpo_no_such_module_xyz", sqlite_url)
    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    assert code == 2
    assert "objective" in err and "hpo_no_such_module_xyz" in err

    broken = f"hpo_cli_broken_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{broken}.py").write_text("def objective(trial)\n    return 1\n", encoding="utf-8")
    cfg = _config(tmp_path, broken, sqlite_url)
    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    sys.modules.pop(broken, None)
    assert code == 2
    assert "objective" in err and broken in err

    cfg = _config(tmp_path, "..relative", sqlite_url)
    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    assert code == 2 and "objective" in err

    nofunc = f"hpo_cli_nofunc_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{nofunc}.py").write_text("x = 1\n", encoding="utf-8")
    cfg = _config(tmp_path, nofunc, sqlite_url)
    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    sys.modules.pop(nofunc, None)
    assert code == 2 and "objective" in err
    assert hpo.list_studies(sqlite_url) == []


def test_missing_config_file(tmp_path: Path, capsys: Any) -> None:
    code, out, err = _run(capsys, "run", str(tmp_path / "absent.yaml"))
    assert code == 2
    assert "absent.yaml" in err


@pytest.mark.parametrize("url", ["mysql://user@localhost/db", "sqlite://", "nonsense", "postgresql://localhost"])
def test_bad_storage_url_exits_2(tmp_path: Path, module: str, capsys: Any, url: str) -> None:
    code, out, err = _run(capsys, "studies", "--storage", url)
    assert code == 2
    assert "storage" in err
    cfg = _config(tmp_path, module, url)
    code, out, err = _run(capsys, "run", str(cfg), "--no-progress")
    assert code == 2
    assert "storage" in err
    code, out, err = _run(capsys, "db", "current", "--storage", url)
    assert code == 2


def test_usage_errors_exit_2(capsys: Any) -> None:
    for argv in ([], ["frobnicate"], ["run"], ["db", "downgrade"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    capsys.readouterr()


# -- demo ----------------------------------------------------------------------------------------
def test_demo(tmp_path: Path, capsys: Any) -> None:
    from threadpoolctl import threadpool_limits

    url = f"sqlite:///{tmp_path}/demo.db"
    # One OpenMP thread: on a busy 2-core machine spinning OpenMP threads make sklearn 10-100x slower.
    with threadpool_limits(limits=1):
        code, out, err = _run(capsys, "demo", "--n-trials", "2", "--storage", url, "--no-progress")
    assert code == 0, err
    (summary,) = hpo.list_studies(url)
    assert summary.n_trials == 2
    assert "accuracy" in out and "maximize" in out
    assert "best " in out and "trial" in out
    assert f"hpo status {summary.name} --storage {url}" in out
    study = hpo.load_study(summary.name, url)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert 0.5 < study.best_value <= 1.0


# -- the installed console script ----------------------------------------------------------------
def test_console_script(tmp_path: Path, module: str) -> None:
    script = Path(sys.executable).parent / "hpo"
    assert script.exists(), f"console script not installed next to {sys.executable}"
    url = f"sqlite:///{tmp_path}/script.db"
    cfg = _config(tmp_path, module, url, n_trials=3)
    env = {k: v for k, v in os.environ.items() if k != "HPO_STORAGE"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=120,
        )

    done = run("run", str(cfg), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "running 3" in done.stdout
    assert len(hpo.load_study("cli-study", url).trials) == 3

    refused = run("delete", "cli-study", "--storage", url)  # stdin is not a terminal
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert len(hpo.list_studies(url)) == 1

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: s\nobjective: m:f\nspace: {x: 1}\nwat: 1\n", encoding="utf-8")
    failed = run("run", str(bad))
    assert failed.returncode == 2
    assert "wat" in failed.stderr and "Traceback" not in failed.stderr

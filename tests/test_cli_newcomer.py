"""The CLI as a new user meets it (issue 24): config-relative stores, the demo's threads and closing
commands, clear errors instead of tracebacks, honest counts, help on every option.

Everything runs the installed console script in a subprocess, as a user would.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import hpo
from hpo.cli import build_parser

HPO = Path(sys.executable).parent / "hpo"

OBJECTIVE = "def objective(trial):\n    return (trial['x'] - 0.3) ** 2\n"


def _hpo(*argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("HPO_STORAGE", "HPO_THREADS")}
    environment.update(env or {})
    return subprocess.run([str(HPO), *argv], cwd=cwd, capture_output=True, text=True, env=environment,
                          timeout=timeout)


def _config_folder(tmp_path: Path, n_trials: int = 3) -> Path:
    folder = tmp_path / "cli"
    folder.mkdir()
    (folder / "q2_newcomer_objective.py").write_text(OBJECTIVE, encoding="utf-8")
    (folder / "study.yaml").write_text(
        "name: rel\nstorage: sqlite:///hpo.db\nobjective: q2_newcomer_objective:objective\n"
        f"space:\n  x: {{type: float, low: 0.0, high: 1.0}}\nsampler: random\nseed: 0\nn_trials: {n_trials}\n",
        encoding="utf-8")
    return folder


# -- point 4: a config's relative SQLite path is next to the config file -----------------------------------
def test_a_configs_relative_sqlite_store_is_next_to_the_file(tmp_path: Path) -> None:
    folder = _config_folder(tmp_path)
    proc = _hpo("run", "cli/study.yaml", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    store = (folder / "hpo.db").resolve()
    assert f"in {store}:" in proc.stdout  # the absolute store path, printed when the run starts
    assert store.exists() and not (tmp_path / "hpo.db").exists()
    again = _hpo("run", "study.yaml", "--no-progress", cwd=folder)  # from the config's own folder: resumes
    assert again.returncode == 0, again.stderr
    assert "already has 3 of 3 trials: nothing to run" in again.stdout
    assert len(hpo.load_study("rel", f"sqlite:///{store}").trials) == 3


def test_resolve_sqlite_path_leaves_other_urls_alone(tmp_path: Path) -> None:
    from hpo.config import resolve_sqlite_path

    base = tmp_path.resolve()
    assert resolve_sqlite_path("sqlite:///sub/x.db?timeout=5", base) == f"sqlite:///{base}/sub/x.db?timeout=5"
    for url in (f"sqlite:///{base}/abs.db", "sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@h/db",
                "sqlite:///~/x.db", "not a url"):
        assert resolve_sqlite_path(url, base) == url


# -- points 3 and 6: the demo's threads, duration and closing commands ----------------------------------
@pytest.mark.slow
def test_demo_prints_threads_duration_and_commands_that_work(tmp_path: Path) -> None:
    proc = _hpo("demo", "--n-trials", "1", "--no-progress", "--storage", "sqlite:///demo.db", cwd=tmp_path,
                env={"HPO_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "1 thread(s) per trial ($HPO_THREADS" in proc.stdout and "expected duration: about" in proc.stdout
    status_line = next(line for line in proc.stdout.splitlines() if line.startswith("look at it:"))
    command = status_line.split(":", 1)[1].split()
    assert command[0] != "hpo" or HPO.parent in [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep)]
    fresh = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # a fresh shell: no venv on PATH
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=fresh)
    assert rerun.returncode == 0, rerun.stderr  # the printed command works as printed
    assert "COMPLETE=1" in rerun.stdout


def test_bad_hpo_threads_is_refused(tmp_path: Path) -> None:
    proc = _hpo("demo", "--n-trials", "1", "--storage", "sqlite:///demo.db", cwd=tmp_path, env={"HPO_THREADS": "0"})
    assert proc.returncode == 2
    assert "$HPO_THREADS: must be an integer >= 1" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "demo.db").exists()


# -- point 12: CLI polish --------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/s.db"
    study = hpo.create_study(name="mo", storage=url, sampler="random", seed=0, space={"x": hpo.Float(0, 1)},
                             objectives={"a": "minimize", "b": "minimize"}, constraints={"c": ("<=", 0.5)})
    study.optimize(lambda t: {"a": t["x"], "b": 1 - t["x"], "c": 0.0 if t.number >= 2 else 1.0}, n_trials=10,
                   show_progress_bar=False)
    return url


def test_export_to_a_missing_folder_is_a_clear_error(tmp_path: Path, store: str) -> None:
    target = tmp_path / "no-such-dir" / "x.csv"
    proc = _hpo("export", "mo", "--storage", store, "-o", str(target), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--output: cannot write" in proc.stderr and "No such file or directory" in proc.stderr


def test_status_counts_every_completed_trial_on_a_multi_objective_study(tmp_path: Path, store: str) -> None:
    proc = _hpo("status", "mo", "--storage", store, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "of 10 completed trials, 8 feasible" in proc.stdout


@pytest.mark.parametrize("argv", [["status", "mo", "--top", "-1"], ["demo", "--n-trials", "0"],
                                  ["run", "study.yaml", "--n-trials", "-1"]])
def test_negative_counts_are_refused(tmp_path: Path, store: str, argv: list[str]) -> None:
    proc = _hpo(*argv, "--storage", store, cwd=tmp_path)
    assert proc.returncode == 2
    assert "must be an integer >=" in proc.stderr and "Traceback" not in proc.stderr


def test_a_busy_dashboard_port_suggests_another(tmp_path: Path, store: str) -> None:
    pytest.importorskip("streamlit")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _hpo("dashboard", "--storage", store, "--port", str(port), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert f"127.0.0.1:{port} is in use" in proc.stderr and "--port" in proc.stderr


def test_yaml_errors_cite_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: x\nspace: [a\n", encoding="utf-8")
    proc = _hpo("run", "broken.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "<unicode string>" not in proc.stderr
    assert 'in "broken.yaml", line 2' in proc.stderr


def test_config_validation_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    (tmp_path / "typo.yaml").write_text("name: x\nobjective: a:b\nspace:\n  lr: {type: floot}\n", encoding="utf-8")
    proc = _hpo("run", "typo.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "error: typo.yaml: space.lr: unknown type 'floot'" in proc.stderr


def _actions(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _actions(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((path, action))
    return found


def test_every_cli_option_has_help_text() -> None:
    actions = _actions(build_parser(), "hpo")
    assert len(actions) > 30
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in actions if not a.help]
    assert missing == []

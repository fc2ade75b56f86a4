"""Everything README.md shows runs: its Python blocks, its config file and its commands.

Blocks are marked in the README with HTML comments (invisible when rendered):
``<!-- readme-test: run -->`` before a Python block to execute (all such blocks share
one namespace, in order), ``<!-- readme-test: file NAME -->`` before a block to
write to NAME, and ``<!-- readme-test: shell -->`` before a bash block whose
``hpo ...`` lines are run with the installed console script.
``<!-- readme-test: run standalone -->`` marks a Python block the README says stands on its own
(it imports what it uses): besides the shared run, such blocks also run each in a new Python
process, in order, in one fresh folder (so "another process can load the study" is tested as written).
The whole README also runs twice in the same folder: its examples can be re-run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- readme-test: (?P<kind>run|file|shell)\s*(?P<arg>\S*) -->\s*```\w*\n(?P<body>.*?)```", re.S)


def _blocks() -> list[tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(m["kind"], m["arg"], m["body"]) for m in BLOCK.finditer(text)]


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_readme_first_screen_says_how_to_run_hpo() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = text.split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in first_screen and ".venv/bin/hpo" in first_screen
    assert "HPO_THREADS" in first_screen


def test_readme_names_its_files_in_visible_text() -> None:
    visible = re.sub(r"<!--.*?-->", "", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)
    assert "`study.yaml`" in visible and "`digits_objective.py`" in visible
    tune_block = visible.split("### Ray Tune users", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert "def train_fn(" in tune_block and "import hpo" in tune_block


def test_readme_marks_its_examples() -> None:
    kinds = [k for k, _, _ in _blocks()]
    assert kinds.count("run") >= 3 and "file" in kinds and "shell" in kinds


@pytest.mark.slow
def test_readme_standalone_blocks_run_alone(tmp_path: Path) -> None:
    standalone = [body for kind, arg, body in _blocks() if kind == "run" and arg == "standalone"]
    assert len(standalone) >= 3
    env = {k: v for k, v in os.environ.items() if k != "HPO_STORAGE"}
    for body in standalone:  # each in a new process, as a user pasting it into a new session
        proc = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, f"standalone block failed:\n{body}\n{proc.stderr[-3000:]}"


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as for a script run in this folder: its modules import
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    for _ in range(2):  # a second pass in the same folder: every example can be re-run
        _run_readme(tmp_path)


def _run_readme(tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": "readme"}
    hpo_cli = Path(sys.executable).parent / "hpo"
    for kind, arg, body in _blocks():
        if kind == "run":
            exec(compile(body, "README.md", "exec"), namespace)
        elif kind == "file":
            (tmp_path / arg).write_text(body)
        else:
            for line in body.splitlines():
                command = line.split("#")[0].strip()
                if not command:
                    continue
                argv = shlex.split(command)
                assert argv[0] == "hpo", f"README shell blocks run hpo commands only, got {command!r}"
                proc = subprocess.run([str(hpo_cli), *argv[1:]], cwd=tmp_path, capture_output=True, text=True,
                                      env={**os.environ, "PYTHONPATH": ""})
                assert proc.returncode == 0, f"{command!r} failed:\n{proc.stdout}\n{proc.stderr}"
    assert (tmp_path / "hpo.db").exists()
    assert (tmp_path / "trials.csv").read_text().count("\n") == 7  # header + the 6 trials of study.yaml
    # The plug-in's conformance run the README shows (`python -m pytest test_local_search.py`).
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "test_local_search.py"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed", summary) and not re.search(r"\b\d+ (failed|error)", summary), summary


@pytest.mark.slow
def test_make_demo_with_few_trials(tmp_path: Path) -> None:
    """`make demo` as a new user runs it (fewer trials, a store in tmp_path)."""
    proc = subprocess.run(
        ["make", "-C", str(ROOT), "demo", "N_TRIALS=3", f"DEMO_STORAGE=sqlite:///{tmp_path}/demo.db"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "best 3 of 3 completed trials" in proc.stdout
    assert "hpo status digits-hgb-" in proc.stdout
    assert (tmp_path / "demo.db").exists()

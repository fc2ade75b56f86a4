"""Every script in examples/ runs as a user runs it: a fresh process in an empty folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == ["asha.py", "multi_objective.py", "quickstart.py",
                                                              "resume.py"]


def test_quickstart_runs_and_a_second_run_continues(tmp_path: Path) -> None:
    assert _run("quickstart.py", tmp_path).startswith("20 trials; best value")
    assert _run("quickstart.py", tmp_path).startswith("40 trials; best value")
    assert (tmp_path / "quickstart.db").is_file()


def test_resume_continues_after_the_worker_dies(tmp_path: Path) -> None:
    out = _run("resume.py", tmp_path)
    assert "the worker died (exit code 1) after 5 complete trials; 1 left RUNNING" in out
    assert "resumed: 12 complete, 1 reclaimed as FAILED" in out


def test_asha_stops_trials_early(tmp_path: Path) -> None:
    out = _run("asha.py", tmp_path)
    m = re.search(r"(\d+) trials trained to the end, (\d+) stopped early", out)
    assert m and int(m[1]) >= 1 and int(m[2]) >= 1 and int(m[1]) + int(m[2]) == 20, out


@pytest.mark.parametrize("name", ["multi_objective.py"])
def test_multi_objective_prints_a_feasible_front(tmp_path: Path, name: str) -> None:
    out = _run(name, tmp_path)
    m = re.search(r"(\d+) trials on the Pareto front", out)
    assert m and int(m[1]) >= 1, out
    widths = [int(w) for w in re.findall(r"width\s+(\d+)", out)]
    assert len(widths) == int(m[1]) and all(w / 20 <= 20 for w in widths)  # the latency constraint holds

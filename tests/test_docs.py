"""The documentation site builds with warnings as errors (``mkdocs build --strict``), and its generated
parts are there: the config reference lists every key the validator accepts, the API reference comes from
the docstrings, the benchmark reports and the README are pages."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    out = tmp_path_factory.mktemp("site")
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or "mkdocs"
    proc = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out


def test_config_reference_lists_every_accepted_key(site: Path) -> None:
    import hpo.config as cfg
    from hpo.samplers import sampler_names

    page = _text(site / "config" / "index.html")
    for key in sorted(cfg._TOP_LEVEL | cfg._EXECUTION | cfg._SETTINGS):
        assert re.search(rf"\b{key}\b", page), f"the config reference does not list {key!r}"
    for name in sampler_names():
        assert name in page


def test_api_reference_is_built_from_docstrings(site: Path) -> None:
    page = _text(site / "api" / "index.html")
    assert "create_study" in page and "Create a study in" in page  # create_study's docstring
    assert "wrap_optuna_sampler" in page


def test_benchmark_reports_and_readme_are_pages(site: Path) -> None:
    for report in sorted((ROOT / "benchmarks" / "results").glob("*.md")):
        assert (site / "benchmarks" / "results" / report.stem / "index.html").is_file(), report.name
    for png in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        assert (site / "benchmarks" / "results" / png.name).is_file(), png.name
    assert "Extending hpo" in _text(site / "readme" / "index.html")


def test_readme_says_how_to_build_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make docs" in readme and "mkdocs serve" in readme

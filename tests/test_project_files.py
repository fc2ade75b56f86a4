"""What a mature tool ships: a LICENSE matching pyproject, a CHANGELOG, ``hpo --version``, a PEP 561
``py.typed`` marker in the package data, and a lint configuration the code passes (``make lint``)."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_license_is_the_apache_text_pyproject_declares() -> None:
    assert _pyproject()["project"]["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 10_000  # the full text, not a notice


def test_changelog_has_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "keepachangelog.com" in text
    assert "## [Unreleased]" in text and "### Added" in text and "### Changed" in text


def test_hpo_version_prints_the_installed_version() -> None:
    hpo_cli = shutil.which("hpo", path=str(BIN)) or "hpo"
    proc = subprocess.run([hpo_cli, "--version"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"hpo {importlib.metadata.version('hpo-platform')}"


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "hpo" / "py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["hpo"]


def test_ruff_passes() -> None:
    ruff = shutil.which("ruff", path=str(BIN))
    if ruff is None:
        pytest.skip("ruff is not installed (the dev extra)")
    proc = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_mypy_passes(tmp_path: Path) -> None:
    mypy = shutil.which("mypy", path=str(BIN))
    if mypy is None:
        pytest.skip("mypy is not installed (the dev extra)")
    proc = subprocess.run([mypy, "--cache-dir", str(tmp_path / "cache")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

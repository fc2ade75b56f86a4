"""The distribution ``hpo-platform`` installs exactly one import package: ``hpo``.

``surrogates/``, ``kernels/``, ``schedulers/`` and ``dashboard/`` live at the
repository root but are mapped to ``hpo.<name>`` by ``[tool.setuptools.package-dir]``;
they must never leak out as top-level modules (``import kernels``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DIST = "hpo-platform"
MAPPED = ("surrogates", "kernels", "schedulers", "dashboard")


def _setuptools_config() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def test_installed_distribution_exposes_only_hpo() -> None:
    # Prefer the installed metadata over a stray in-tree ``*.egg-info`` (found via cwd on sys.path).
    dist = next((d for d in importlib.metadata.distributions(name=DIST)
                 if Path(str(d.locate_file(""))).resolve() != REPO),
                importlib.metadata.distribution(DIST))
    names: set[str] = set()
    top_level = dist.read_text("top_level.txt")
    if top_level is not None:
        names.update(line.strip() for line in top_level.splitlines() if line.strip())
    for file in dist.files or ():
        first = file.parts[0]
        if first.startswith("..") or first.endswith(".dist-info") or first == "__pycache__":
            continue
        if first.startswith("__editable__"):
            if first.endswith("_finder.py"):  # setuptools' editable finder: {module: folder}
                finder = importlib.import_module(Path(first).stem)
                names.update(name.split(".")[0] for name in getattr(finder, "MAPPING", {}))
            continue
        names.add(first.removesuffix(".py"))
    assert names == {"hpo"}, f"{DIST} installs top-level names {sorted(names)}"


def test_wheel_contains_only_hpo(tmp_path: Path) -> None:
    # setuptools>=70.1 builds wheels without the `wheel` package; torch pulls it into the venv.
    pytest.importorskip("setuptools", minversion="70.1")
    # Build from a copy so the repository gets no build/ or *.egg-info churn
    # and parallel workers cannot race on it.
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in", "README.md", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, src / name)
    for folder in set(_setuptools_config().get("package-dir", {}).values()) | {"hpo"}:
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)

    wheels = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--no-cache-dir", "-q", "-w", str(wheels), str(src)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = wheels.glob("*.whl")

    entries = zipfile.ZipFile(wheel).namelist()
    top = {e.split("/")[0] for e in entries if not e.split("/")[0].endswith(".dist-info")}
    assert top == {"hpo"}, f"wheel has top-level entries {sorted(top)}"
    for name in MAPPED:
        assert f"hpo/{name}/__init__.py" in entries
        assert not any(e.startswith(f"{name}/") for e in entries)
    assert "hpo/py.typed" in entries, "the PEP 561 marker is not shipped"
    licenses = [e for e in entries if e.split("/")[0].endswith(".dist-info") and "LICENSE" in e.split("/")[-1]]
    assert licenses, f"the wheel ships no LICENSE: {sorted(e for e in entries if '.dist-info' in e)}"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = _setuptools_config()
    listed = set(config["packages"])
    package_dir: dict[str, str] = config.get("package-dir", {})
    for name in MAPPED:
        assert package_dir.get(f"hpo.{name}") == name, f"hpo.{name} must map to {name}/"

    roots = {"hpo": "hpo", **package_dir}  # package name -> folder
    found: set[str] = set()
    for package, folder in roots.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            if "__pycache__" in rel.parts:
                continue
            found.add(".".join((package, *rel.parts)))
    missing = found - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"

    def folder_of(package: str) -> Path:
        prefix = max((p for p in roots if package == p or package.startswith(p + ".")), key=len)
        return REPO / roots[prefix] / Path(*package[len(prefix):].split(".")[1:])

    stale = [p for p in listed if not (folder_of(p) / "__init__.py").is_file()]
    assert not stale, f"listed in pyproject.toml but no __init__.py: {sorted(stale)}"


def test_mapped_subpackages_import_only_under_hpo(tmp_path: Path) -> None:
    import hpo.dashboard
    import hpo.kernels
    import hpo.schedulers
    import hpo.surrogates

    for module in (hpo.surrogates, hpo.kernels, hpo.schedulers, hpo.dashboard):
        assert module.__name__.startswith("hpo.")

    code = (
        "import importlib.util, json\n"
        "import hpo.surrogates, hpo.kernels, hpo.schedulers, hpo.dashboard\n"
        f"specs = {{n: importlib.util.find_spec(n) for n in {MAPPED!r}}}\n"
        "print(json.dumps({n: s and [s.origin, *(s.submodule_search_locations or [])]\n"
        "                  for n, s in specs.items()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    found: dict[str, list[str | None] | None] = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, locations in found.items():
        inside = [p for p in locations or () if p and Path(p).resolve().is_relative_to(REPO)]
        assert not inside, (
            f"`import {name}` resolves to the repository's {name}/ ({inside}); "
            f"it must only be importable as hpo.{name}"
        )


def test_console_script_installed() -> None:
    bindir = Path(sys.executable).parent  # not resolved: the venv's bin/, not the base python's
    assert (bindir / "hpo").is_file() or (bindir / "hpo.exe").is_file(), f"no `hpo` script in {bindir}"

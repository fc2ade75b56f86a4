"""``hpo bench priors``: the quick report has the Step Law table, the held-out extrapolation and a plot,
and a further section can be appended to the report's list of sections."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hpo.bench import SUITES
from hpo.bench.priors_report import SECTIONS, ReportContext, write_priors_report


def test_quick_priors_report(tmp_path: Path) -> None:
    def extra(ctx: ReportContext) -> list[str]:
        rows = ctx.results["reproduction"]  # earlier sections' measurements are there to reuse
        return ["## 3. Appended", "", f"{len(rows)} cells, {len(ctx.dense)} runs"]

    path = write_priors_report(tmp_path, quick=True, sections=[*SECTIONS, extra])
    assert path.name == "priors_quick.md" and (tmp_path / "priors_quick.png").stat().st_size > 10_000
    text = path.read_text()
    assert text.count("\n| 2.15e+08 | 4e+09 | 119 |") == 1
    assert re.search(r"\*\*Mean gap 0\.09[78]%, median [0-9.]+%, max 0\.310% over 17 cells\*\*", text)
    assert "## 2. Extrapolation" in text and "on the 15 cells with N < 1.07e+09" in text
    assert re.search(r"\*\*Held-out mean gap: [0-9.]+% with the law fitted on the smaller models", text)
    assert text.index("## 2.") < text.index("![") < text.index("## 3. Appended")
    assert text.rstrip().endswith("17 cells, 1911 runs")
    assert str(tmp_path) not in text


def test_priors_suite_runs_from_the_command_line(tmp_path: Path) -> None:
    assert "priors" in SUITES.names()
    hpo_cli = Path(sys.executable).with_name("hpo")
    out = subprocess.run([str(hpo_cli), "bench", "priors", "--quick", "--output-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "priors_quick.md").is_file() and "ExtrapolationWarning" not in out.stderr

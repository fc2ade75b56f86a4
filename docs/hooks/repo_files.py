"""MkDocs hooks: the pages that are generated or live outside ``docs/``.

* ``readme.md`` is the repository's README, with every repository file it links to (the
  benchmark reports, the dashboard screenshots, the PFN model card) added at the same
  relative path, so its links work on the site too.
* ``benchmarks/results/*`` (the reports ``hpo bench`` writes, and their figures).
* ``config.md``: the marker ``<!-- config-reference -->`` is replaced by the keys the
  config validator (:mod:`hpo.config`) accepts, with the line the module docstring's
  example gives each, and the sampler and scheduler names of the registries.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\((?!https?:|#|mailto:)([^)#\s]+)(?:#[^)]*)?\)")
MARKER = "<!-- config-reference -->"


def _add(files: Any, config: Any, src_uri: str, path: Path) -> None:
    from mkdocs.structure.files import File

    if files.get_file_from_path(src_uri) is None and path.is_file():
        files.append(File.generated(config, src_uri, abs_src_path=str(path)))


def on_files(files: Any, config: Any) -> Any:
    readme = ROOT / "README.md"
    _add(files, config, "readme.md", readme)
    for target in LINK.findall(readme.read_text(encoding="utf-8")):
        _add(files, config, target, ROOT / target)
    for path in sorted((ROOT / "benchmarks" / "results").glob("*")):
        if path.suffix in (".md", ".png"):
            _add(files, config, f"benchmarks/results/{path.name}", path)
    return files


def config_reference() -> str:
    """The config-file reference, as markdown, from :mod:`hpo.config` and the registries."""
    import hpo.config as cfg
    from hpo.samplers import sampler_names
    from hpo.schedulers import scheduler_names

    examples: dict[str, str] = {}
    for line in (cfg.__doc__ or "").splitlines():
        m = re.match(r"^    (\w+):\s*(.*?)\s*(?:#\s*(.*))?$", line)
        if m and m[1] not in examples:
            examples[m[1]] = f"`{m[2]}`" + (f" — {m[3]}" if m[3] else "") if m[2] else (m[3] or "")
    rows = ["| key | example and notes |", "|---|---|"]
    for key in sorted(cfg._TOP_LEVEL):
        note = examples.get(key) or "a block of its own (see the sections below and hpo.config's docstring)"
        rows.append(f"| `{key}` | {note.replace('|', '&#124;')} |")
    out = [
        "Generated from `hpo.config` when the site is built: the keys below are the ones the validator accepts; "
        "any other key is an error that lists them.", "", "### Top-level keys", "", *rows, "",
        "### `execution`", "",
        "Keys of the block itself: " + ", ".join(f"`{k}`" for k in sorted(cfg._EXECUTION))
        + "; any other key is an option of the backend's executor (e.g. `address`, `resources`, `max_retries` "
        "on Ray), checked by it.", "",
        "### `settings`", "", ", ".join(f"`{k}`" for k in sorted(cfg._SETTINGS))
        + " (the arguments of `hpo.create_study` of the same names).", "",
        "### Names", "",
        "- `sampler`: " + ", ".join(f"`{n}`" for n in sampler_names()),
        "- `scheduler`: " + ", ".join(f"`{n}`" for n in scheduler_names()),
        "",
    ]
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, config_reference())
    return markdown

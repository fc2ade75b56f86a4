"""Hostile input: YAML alias bombs, deep nesting, duplicate keys, non-UTF-8 configs, CSV formula injection,
and ``hpo status --top`` on a multi-objective study."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.cli import main
from hpo.config import load_config
from hpo.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

HEAD = "name: bomb\nobjective: bomb_objective:objective\nspace: {x: {type: float, low: 0, high: 1}}\nn_trials: 1\n"


def _bomb(levels: int) -> str:
    """A config whose sampler options hold 10**levels leaves in about 50 bytes a level (CMA-ES takes any ``x0``,
    so before the limits the whole expansion reached the study's settings row)."""
    names = "abcdefghijkl"
    lines = [f"{names[0]}: &{names[0]} [x,x,x,x,x,x,x,x,x,x]"]
    lines += [f"{n}: &{n} [" + ",".join([f"*{p}"] * 10) + "]" for p, n in zip(names, names[1:levels])]
    return HEAD + "sampler:\n  name: cmaes\n  options:\n    x0:\n" + "".join(f"      {line}\n" for line in lines)


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: the bombs used 1.5 GB and more


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS bounds the child's memory on Linux")
@pytest.mark.parametrize("levels", [7, 9])
def test_alias_bomb_is_refused_with_a_short_message_and_nothing_written(tmp_path: Path, levels: int) -> None:
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(_bomb(levels), encoding="utf-8")
    assert cfg.stat().st_size < 600
    (tmp_path / "bomb_objective.py").write_text("def objective(trial):\n    return trial['x']\n", encoding="utf-8")
    store = tmp_path / "bomb.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("HPO_STORAGE", None)
    done = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "run", str(cfg), "--storage", f"sqlite:///{store}", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, preexec_fn=_limit_memory,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("error: config: ") and "bomb.yaml" in done.stderr
    assert "MAX_NODES = 100,000" in done.stderr
    assert len(done.stderr) < 400 and "Traceback" not in done.stderr
    assert not store.exists()


def test_the_bomb_is_refused_by_load_config_too(tmp_path: Path) -> None:
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(_bomb(9), encoding="utf-8")
    with pytest.raises(ConfigError, match="more than 100,000 nodes") as info:
        load_config(cfg)
    assert len(str(info.value)) < 400


def test_many_aliases_and_recursive_aliases_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "aliases.yaml"
    cfg.write_text(HEAD + "seed: &s 1\nexecution: {backend: local, n_workers: 1}\nconstraints: {m: [" +
                   ",".join(["*s"] * 101) + "]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="more than 100 alias uses .* MAX_ALIASES = 100"):
        load_config(cfg)
    cfg.write_text(HEAD + "sampler: &a {name: cmaes, options: {x0: *a}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="alias \\*a at line 5 refers to a node that contains it"):
        load_config(cfg)
    # Aliases within the limits still work.
    cfg.write_text("name: ok\nobjective: m:f\nspace:\n  a: &p {type: float, low: 0, high: 1}\n  b: *p\n"
                   "settings: &s {heartbeat_interval: 5}\n", encoding="utf-8")
    config = load_config(cfg)
    assert list(config.space.names) == ["a", "b"] and config.settings == {"heartbeat_interval": 5}


def test_deep_nesting_is_refused_without_recursion_error(tmp_path: Path) -> None:
    cfg = tmp_path / "deep.yaml"
    cfg.write_text(HEAD + "seed: " + "[" * 10_000 + "]" * 10_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nesting deeper than 50 levels .* MAX_DEPTH = 50") as info:
        load_config(cfg)
    assert "deep.yaml" in str(info.value) and len(str(info.value)) < 300


def test_a_file_over_one_mib_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "big.yaml"
    cfg.write_text(HEAD + "# " + "x" * (1 << 20) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="big.yaml.* larger than 1,048,576 bytes"):
        load_config(cfg)


@pytest.mark.parametrize(
    "text, key, lines",
    [
        (HEAD + "seed: 1\nseed: 2\n", "'seed'", (6, 5)),
        ("name: d\nobjective: m:f\nspace:\n  lr: {type: float, low: 0.1, high: 1}\n  n: 3\n"
         "  lr: {type: int, low: 1, high: 2}\n", "'lr'", (6, 4)),
        ("name: d\nobjective: m:f\nspace:\n  lr: {type: float, low: 0.1, high: 1, low: 0.5}\n", "'low'", (4, 4)),
    ],
    ids=["top", "space", "nested"],
)
def test_duplicate_keys_are_refused_naming_the_key_and_both_lines(
    tmp_path: Path, text: str, key: str, lines: tuple[int, int]
) -> None:
    cfg = tmp_path / "dup.yaml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert f"duplicate key {key} at line {lines[0]} (first at line {lines[1]})" in str(info.value)
    assert "dup.yaml" in str(info.value)
    # A merge key (<<) may still be overridden: not a duplicate.
    cfg.write_text("name: m\nobjective: m:f\nspace:\n  a: &base {type: float, low: 0, high: 1}\n"
                   "  b:\n    <<: *base\n    high: 2\n", encoding="utf-8")
    assert load_config(cfg).space.to_dict()["b"]["high"] == 2


def test_a_non_utf8_file_names_the_file_and_the_byte_offset(tmp_path: Path, capsys: Any) -> None:
    cfg = tmp_path / "latin1.yaml"
    cfg.write_bytes(b"name: caf\xe9\nobjective: m:f\nspace: {x: 1}\n")
    with pytest.raises(ConfigError, match="latin1.yaml.* not UTF-8 text: byte 0xe9 at byte offset 9"):
        load_config(cfg)
    assert main(["run", str(cfg), "--no-progress"]) == 2
    assert "byte offset 9" in capsys.readouterr().err


def test_config_errors_quote_at_most_a_short_repr(tmp_path: Path) -> None:
    cfg = tmp_path / "long.yaml"
    cfg.write_text("name: [" + ", ".join(["xxxxxxxxxx"] * 20_000) + "]\nobjective: m:f\nspace: {x: 1}\n",
                   encoding="utf-8")
    with pytest.raises(ConfigError, match="name: expected a non-empty string, but got \\['xxxxxxxxxx'") as info:
        load_config(cfg)
    assert str(info.value).startswith(f"{cfg}: name:")  # the file, then the field
    assert len(str(info.value).removeprefix(f"{cfg}: ")) < 300
    cfg.write_text("name: s\nobjective: m:f\nspace: {x: 1}\n" + "".join(f"k{i}_{'y' * 50}: 1\n" for i in range(2000)),
                   encoding="utf-8")
    with pytest.raises(ConfigError, match="config: unknown key") as info:
        load_config(cfg)
    assert len(str(info.value).removeprefix(f"{cfg}: ")) < 500


def test_short_repr() -> None:
    from hpo.errors import short_repr

    assert short_repr([1, "a", (2,), {"k": None}, set()]) == repr([1, "a", (2,), {"k": None}, set()])
    big = list(range(10**6))
    assert len(short_repr(big)) == 200 and short_repr(big).startswith("[0, 1, 2") and short_repr(big).endswith("...")
    assert len(short_repr("x" * 10**6, limit=50)) == 50
    assert short_repr(10**5000) == "<int: ValueError>"
    deep: list[Any] = []
    for _ in range(1000):
        deep = [deep]
    assert short_repr(deep).startswith("[[[[") and len(short_repr(deep)) <= 200


# -- CSV export ---------------------------------------------------------------------------------------------
FORMULAS = ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_csv_export_escapes_formula_cells(sqlite_url: str, capsys: Any, tmp_path: Path) -> None:
    study = hpo.create_study(
        name="csv", space={"kind": hpo.Categorical([*FORMULAS, "plain"]), "w": hpo.Float(-2.0, -1.0)},
        storage=sqlite_url, sampler="random", seed=0)
    for kind in [*FORMULAS, "plain"]:
        study.enqueue({"kind": kind, "w": -1.5})
    study.optimize(lambda t: t["w"], n_trials=len(FORMULAS) + 1, show_progress_bar=False)
    failed = study.ask()
    study.tell(failed, state="FAILED", error='=HYPERLINK("http://evil")')
    assert main(["export", "csv", "--storage", sqlite_url, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [r["params_kind"] for r in rows[: len(FORMULAS) + 1]] == ["'" + f for f in FORMULAS] + ["plain"]
    assert all(r["params_w"] == "-1.5" and r["values_value"] == "-1.5" for r in rows[: len(FORMULAS) + 1])
    assert rows[-1]["error"] == "'=HYPERLINK(\"http://evil\")"
    # JSON keeps the values as they are.
    assert main(["export", "csv", "--storage", sqlite_url, "--format", "json"]) == 0
    assert '"params_kind": "=HYPERLINK(\\"x\\")"' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "formula" in capsys.readouterr().out


# -- hpo status --top with several objectives ---------------------------------------------------------------
def test_status_top_limits_the_pareto_front(sqlite_url: str, capsys: Any) -> None:
    study = hpo.create_study(name="mo", space={"x": hpo.Float(0.0, 1.0)},
                             objectives={"a": "minimize", "b": "minimize"}, storage=sqlite_url, sampler="random",
                             seed=0)
    study.optimize(lambda t: (t["x"], 1.0 - t["x"]), n_trials=12, show_progress_bar=False)
    front = study.pareto_front()
    assert len(front) == 12  # every trial is Pareto-optimal
    assert main(["status", "mo", "--storage", sqlite_url, "--top", "3"]) == 0
    out = capsys.readouterr().out
    table = out.split("Pareto front:")[1].splitlines()
    assert "12 of 12 completed trials; 3 shown (best a first), 9 left out" in table[0]
    rows = table[3:]
    assert len(rows) == 3
    best_a = sorted(front, key=lambda t: t.values["a"])[:3]
    assert [int(r.split()[0]) for r in rows] == [t.number for t in best_a]
    assert main(["status", "mo", "--storage", sqlite_url, "--top", "20"]) == 0
    out = capsys.readouterr().out
    assert "left out" not in out and len(out.split("Pareto front:")[1].strip().splitlines()) == 3 + 12
    assert main(["status", "mo", "--storage", sqlite_url, "--top", "0"]) == 2
    assert "--top: must be an integer >= 1, but got 0" in capsys.readouterr().err

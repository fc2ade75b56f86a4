"""The executor seam: the conformance suite on the local and simulated executors, the run spec,
executor options validated by their executor, and executors that never touch the store."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.errors import ConfigError
from hpo.execution import Executor, LocalExecutor, RunSpec, SimulatedExecutor, get_executor
from hpo.testing.executor_suite import ExecutorConformance


class TestLocalExecutor(ExecutorConformance):
    registered_name = "local"

    @pytest.fixture
    def executor_factory(self) -> Callable[..., Executor]:
        return lambda problem, **options: LocalExecutor(**options)


class TestLocalExecutorThreads(ExecutorConformance):
    n_workers = 2

    @pytest.fixture
    def executor_factory(self) -> Callable[..., Executor]:
        return lambda problem, **options: LocalExecutor(**options)


class TestSimulatedExecutor(ExecutorConformance):
    not_applicable = {
        "timeout": "a run on the simulated clock takes no wall-clock time; max_time bounds the simulated clock",
        "heartbeat": "the simulated workers live inside one call on a simulated clock: no lease can run out",
    }

    @pytest.fixture
    def executor_factory(self) -> Callable[..., Executor]:
        return lambda problem, **options: SimulatedExecutor(problem, **options)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("n_trials", -1, r"n_trials: must be a non-negative integer, but got -1"),
    ("n_trials", True, r"n_trials: must be a non-negative integer, but got True"),
    ("timeout", 0, r"timeout: must be a positive number of seconds or None, but got 0"),
    ("timeout", "1", r"timeout: must be a positive number of seconds or None, but got '1'"),
    ("n_workers", 0, r"n_workers: must be an integer >= 1, but got 0"),
    ("n_workers", 2.0, r"n_workers: must be an integer >= 1, but got 2.0"),
    ("catch", (ValueError, 3), r"catch: every item must be an exception type, but got 3"),
    ("callbacks", (1,), r"callbacks: every item must be callable"),
])
def test_run_spec_is_validated_in_one_place(field: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RunSpec(**{field: value})


def test_run_spec_normalises_catch_and_callbacks() -> None:
    spec = RunSpec(catch=KeyError, callbacks=[print])
    assert spec.catch == (KeyError,) and spec.callbacks == (print,)


def test_optimize_refuses_a_bad_run_before_any_trial(sqlite_url: str) -> None:
    study = hpo.create_study(name="s", space={"x": hpo.Float(0, 1)}, storage=sqlite_url, sampler="random")
    with pytest.raises(ConfigError, match=r"n_workers: must be an integer >= 1"):
        study.optimize(lambda t: 0.0, n_trials=1, n_workers=0, show_progress_bar=False)
    assert study.trials == []


def test_executor_options_are_validated_by_the_executor() -> None:
    assert LocalExecutor.option_names() == {"max_retries"}
    with pytest.raises(ConfigError, match=r"max_retries: must be a non-negative integer, but got -1"):
        get_executor("local", max_retries=-1)
    with pytest.raises(ConfigError, match=r"backend 'local': unknown option\(s\) \['address'\]; valid options: "
                                          r"\['max_retries'\]; they are for backend='ray'"):
        get_executor("local", address="auto")
    assert get_executor("local", max_retries=2).max_retries == 2


def test_config_asks_the_executor_for_its_options() -> None:
    from hpo.config import parse_config

    base = {"name": "c", "objective": "m:f", "space": {"x": {"type": "float", "low": 0, "high": 1}}}
    cfg = parse_config({**base, "execution": {"backend": "local", "max_retries": 1}})
    assert cfg.executor().max_retries == 1
    with pytest.raises(ConfigError, match=r"execution\.max_retries: must be a non-negative integer, but got 'x'"):
        parse_config({**base, "execution": {"backend": "local", "max_retries": "x"}})
    with pytest.raises(ConfigError, match=r"execution: unknown key\(s\) \['speed'\]; allowed: "
                                          r"\['backend', 'max_retries', 'n_workers'\]"):
        parse_config({**base, "execution": {"speed": 1}})


def test_config_module_does_not_name_ray_options() -> None:
    source = (Path(hpo.__file__).parent / "config.py").read_text()
    code = ast.parse(source)
    strings = {n.value for n in ast.walk(code) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not strings & {"address", "resources", "max_retries", "report_interval", "stop_grace"}


def test_executors_never_touch_the_store() -> None:
    folder = Path(hpo.__file__).parent / "execution"
    offenders = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "store":
                offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                offenders += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.startswith("hpo.store")]
    assert not offenders


def test_the_base_module_imports_no_executor() -> None:
    import hpo.execution.base as base

    source = Path(base.__file__).read_text()
    for module in ("hpo.execution.local", "hpo.execution.ray_driver", "hpo.execution.simulated", "hpo.execution "):
        assert module not in source

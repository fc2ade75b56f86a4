"""Bad definitions never reach the store.

Random (mostly invalid) study definitions, told values and config mappings:
each either works or raises an ``hpo.errors.HpoError`` (never a bare
TypeError, KeyError, ...), and an error leaves the store as it was.
"""

from __future__ import annotations

import decimal
import fractions
import math
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import hpo
from hpo.config import StudyConfig, parse_config
from hpo.errors import ConfigError, HpoError
from hpo.records import TrialState

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- strategies ------------------------------------------------------------------------------------
NUMBERS = st.one_of(
    st.integers(-10, 10),
    st.integers(),
    st.sampled_from([0, -1, 2**53 + 1, 2**70, -(10**400), 10**400]),
    st.floats(),  # NaN, infinities, subnormals, huge
    st.floats(-100, 100),
    st.sampled_from([0.0, -0.0, 1e-320, 5e-324, 1e308, -1e308, math.nan, math.inf, -math.inf]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6))
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(-3, 3), st.none()), inner, max_size=3),
    ),
    max_leaves=6,
)
TYPES = st.one_of(
    st.sampled_from(["float", "int", "categorical", "fixed", "Float", "INT", "bogus", ""]), SCALARS
)
SMALL = st.one_of(st.integers(-10, 10), st.floats(-10, 10), st.sampled_from([0, 1e-9, 1e-3, 100]))


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True about one time in ``n`` (hypothesis favours 0 and the bounds of integer ranges)."""
    return draw(st.sampled_from(range(n))) == 1


def _sometimes(draw: st.DrawFn, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], n: int = 4) -> Any:
    """Mostly a plausible value, about one time in ``n`` a junk one."""
    return draw(bad) if _one_in(draw, n) else draw(good)


@st.composite
def valid_param_specs(draw: st.DrawFn, earlier: dict[str, Any]) -> Any:
    """A valid parameter: the YAML form, a Param object or a bare scalar; maybe conditional."""
    kind = draw(st.sampled_from(["float", "int", "categorical", "fixed", "scalar", "object"]))
    if kind == "scalar":
        return draw(st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3)))
    spec: dict[str, Any] = {"type": kind if kind != "object" else "float"}
    if spec["type"] in ("float", "int"):
        ints = spec["type"] == "int"
        low = draw(st.integers(-20, 20) if ints else st.floats(-20, 20))
        high = low + draw(st.integers(1, 20) if ints else st.floats(0.5, 20))
        if low > 0 and draw(st.booleans()):
            spec["log"] = True
        elif draw(st.booleans()):
            spec["step"] = draw(st.integers(1, 3)) if ints else draw(st.sampled_from([0.5, 1.0, (high - low) / 4]))
            if spec["step"] > high - low:
                spec["step"] = 1 if ints else (high - low) / 2
        spec.update(low=low, high=high)
    elif kind == "categorical":
        spec["choices"] = draw(st.lists(st.text(max_size=3), min_size=1, max_size=4, unique=True))
    elif kind == "fixed":
        spec["value"] = draw(st.one_of(st.integers(-3, 3), st.text(max_size=3)))
    parents = {n: p for n, p in earlier.items() if isinstance(p, dict) and p.get("type") == "categorical"}
    if parents and draw(st.booleans()):
        parent = draw(st.sampled_from(sorted(parents)))
        spec["active_if"] = {parent: draw(st.sampled_from(parents[parent]["choices"]))}
    if kind == "object":
        return hpo.space.param_from_dict(spec)
    return spec


@st.composite
def bad_param_specs(draw: st.DrawFn, names: list[str]) -> Any:
    """A parameter definition that is junk in one or several ways."""
    kind = draw(st.sampled_from(["float", "int", "categorical", "fixed", "scalar", "junk"]))
    if kind == "scalar":
        return draw(SCALARS)
    if kind == "junk":
        return draw(JUNK)
    spec: dict[Any, Any] = {"type": draw(TYPES) if _one_in(draw, 6) else kind}
    if kind in ("float", "int"):
        spec["low"] = draw(st.one_of(SMALL, NUMBERS))
        spec["high"] = draw(st.one_of(SMALL, NUMBERS))
        if draw(st.booleans()):
            spec["log"] = draw(st.one_of(st.booleans(), SCALARS))
        if draw(st.booleans()):
            spec["step"] = draw(st.one_of(st.none(), SMALL, NUMBERS))
    elif kind == "categorical":
        spec["choices"] = draw(st.one_of(st.lists(SCALARS, max_size=4), JUNK))
    else:
        spec["value"] = draw(st.one_of(SCALARS, JUNK))
    if _one_in(draw, 3):
        parents = st.sampled_from(names) if names else st.text(max_size=3)
        spec["active_if"] = draw(st.one_of(
            st.dictionaries(st.one_of(parents, SCALARS), st.one_of(SCALARS, st.lists(SCALARS, max_size=3)), max_size=2),
            JUNK,
        ))
    if _one_in(draw, 6):
        del spec[draw(st.sampled_from(sorted(spec, key=repr)))]
    if _one_in(draw, 6):
        spec[draw(st.one_of(st.sampled_from(["low", "choices", "value", "log", "extra"]), SCALARS))] = draw(JUNK)
    return spec


PARAM_NAMES = st.one_of(st.sampled_from(["x", "y", "opt", "n", "lr", "a.b"]), st.text(min_size=1, max_size=4))


@st.composite
def spaces(draw: st.DrawFn, bad: bool | None = None) -> Any:
    """A valid space, or (``bad``) one with a corrupted parameter, a bad name, or no mapping at all."""
    if bad is None:
        bad = draw(st.booleans())
    names = draw(st.lists(PARAM_NAMES, min_size=1, max_size=4, unique=True))
    space: dict[Any, Any] = {}
    for name in names:
        space[name] = draw(valid_param_specs(space))
    if bad:
        how = draw(st.sampled_from(["param", "param", "param", "name", "empty", "junk"]))
        if how == "param":
            space[draw(st.sampled_from(names))] = draw(bad_param_specs(names))
        elif how == "name":
            space[draw(st.one_of(st.just(""), st.integers(), st.none(), st.tuples(st.integers())))] = 1
        elif how == "empty":
            return {}
        else:
            return draw(JUNK)
    return space


DIRECTIONS = st.one_of(st.sampled_from(["minimize", "maximize", "MAXIMIZE", "min", ""]), SCALARS)
OBJECTIVES = st.one_of(
    DIRECTIONS,
    st.dictionaries(st.one_of(st.text(max_size=5), SCALARS), DIRECTIONS, max_size=3),
    st.lists(st.one_of(st.fixed_dictionaries({"name": SCALARS, "direction": DIRECTIONS}), JUNK), max_size=2),
    JUNK,
)
CONSTRAINT_SPECS = st.one_of(
    st.tuples(st.sampled_from(["<=", ">=", "<", "==", ""]), NUMBERS),
    st.tuples(st.sampled_from(["<=", ">="]), NUMBERS),
    st.tuples(st.sampled_from(["<=", ">="]), st.sampled_from([10**400, -(10**400), 2**70, math.nan, math.inf, True, "1", None])),
    st.lists(st.one_of(st.sampled_from(["<=", ">="]), NUMBERS), max_size=3),
    JUNK,
)
CONSTRAINTS = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(st.sampled_from(["mem", "value", "loss"]), st.text(max_size=4), SCALARS), CONSTRAINT_SPECS, max_size=3),
    st.lists(st.one_of(st.fixed_dictionaries({"name": SCALARS, "op": SCALARS, "bound": NUMBERS}), JUNK), max_size=2),
    JUNK,
)
SEEDS = st.one_of(st.none(), st.integers(-5, 5), st.integers(), st.booleans(), st.floats(), st.text(max_size=3))
SAMPLER_NAMES = st.sampled_from(["random", "sobol", "grid", "tpe", "cmaes", "nsga2", "optuna-gp", "bogus", "", "TPE"])
OPTION_NAMES = st.sampled_from(
    ["n_startup_trials", "resolution", "shuffle", "scramble", "population_size", "sigma0", "seed", "args", "bogus"]
)
GOOD_SAMPLERS = st.sampled_from(["random", "sobol", "grid", "tpe", "cmaes", "nsga2"])
SAMPLERS = st.one_of(
    st.none(),
    SAMPLER_NAMES,
    st.fixed_dictionaries(  # a known sampler with plausible or junk options
        {"name": GOOD_SAMPLERS},
        optional={"options": st.one_of(
            st.dictionaries(st.one_of(OPTION_NAMES, SCALARS), st.one_of(SMALL, NUMBERS, SCALARS), min_size=1, max_size=2),
            JUNK,
        )},
    ),
    st.fixed_dictionaries({"name": st.one_of(SAMPLER_NAMES, SCALARS, st.fixed_dictionaries({"name": GOOD_SAMPLERS}))}),
    st.dictionaries(st.text(max_size=5), JUNK, max_size=2),
    JUNK,
)
NAMES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "a" * 200, "a" * 201, "ok-name", "ok.name:1", "bad name", "x\n", "-x", "é", "a/b"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,20}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,8}", fullmatch=True).map(lambda n: n + "\n"),  # `$` trap
    SCALARS,
)
SETTINGS_VALUES = st.one_of(st.none(), NUMBERS, SCALARS)


# -- helpers ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture
def url(fuzz_dir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """One SQLite file per test function (shared by its examples)."""
    yield f"sqlite:///{fuzz_dir}/{request.node.name}.db"


def _snapshot(url: str) -> dict[str, int]:
    return {s.name: s.n_trials for s in hpo.list_studies(url)}


def _unique(name: Any) -> Any:
    """Keep a valid name valid but make it fresh, so that a duplicate is not the only outcome."""
    if isinstance(name, str) and 0 < len(name) <= 180 and name.isascii() and name[:1].isalnum():
        return f"{name}-{uuid.uuid4().hex[:8]}"
    return name


# -- create_study ------------------------------------------------------------------------------------
VALID_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,20}", fullmatch=True)


FIELDS = ("name", "space", "objectives", "constraints", "seed", "sampler")


@st.composite
def definitions(draw: st.DrawFn, focus: str | None = None) -> dict[str, Any]:
    """A study definition with junk in the ``focus`` field, or (no focus) in none, one or several fields."""
    target = focus or draw(st.sampled_from(["none", *FIELDS, "several"]))
    junk = {f: target == f or (target == "several" and draw(st.booleans())) for f in FIELDS}
    if focus and focus != "several" and _one_in(draw, 4):
        target = "none"  # now and then a plausible value of the focus field too
        junk[focus] = False
    return {
        "name": draw(NAMES if junk["name"] else VALID_NAMES),
        "space": draw(spaces(bad=junk["space"])),
        "objectives": draw(
            OBJECTIVES if junk["objectives"] else st.one_of(
                st.sampled_from(["minimize", "maximize", "Maximize"]),
                st.dictionaries(st.sampled_from(["loss", "acc", "t"]), st.sampled_from(["minimize", "maximize"]),
                                min_size=1),
            )
        ),
        "constraints": draw(
            CONSTRAINTS if junk["constraints"] else st.one_of(
                st.none(),
                st.dictionaries(st.sampled_from(["mem", "time"]), st.tuples(st.sampled_from(["<=", ">="]), SMALL),
                                max_size=2),
            )
        ),
        "seed": draw(SEEDS if junk["seed"] else st.one_of(st.none(), st.integers(0, 2**64))),
        "sampler": draw(SAMPLERS if junk["sampler"] else st.one_of(st.none(), SAMPLER_NAMES.filter(
            lambda n: n in ("random", "sobol", "grid", "tpe", "cmaes", "nsga2")))),
    }


@pytest.mark.parametrize("focus", [*FIELDS, "several"])
@FUZZ
@given(data=st.data(), fresh=st.booleans())
def test_create_study_is_valid_or_raises_hpo_error(url: str, focus: str, data: st.DataObject, fresh: bool) -> None:
    definition = data.draw(definitions(focus), label="definition")
    if fresh:
        definition["name"] = _unique(definition["name"])
    before = _snapshot(url)
    try:
        study = hpo.create_study(storage=url, **definition)
    except HpoError as exc:
        event(f"create_study: {type(exc).__name__} {str(exc)[:40]}")
        assert _snapshot(url) == before
        return
    event("create_study: created")
    after = _snapshot(url)
    assert after == {**before, study.name: 0}
    assert study.trials == []
    # what was accepted keeps the documented rules
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}", study.name)
    assert study.objectives and all(o.direction.value in ("minimize", "maximize") for o in study.objectives)
    assert all(c.op in ("<=", ">=") and math.isfinite(c.bound) for c in study.constraints)
    assert study.seed is None or (type(study.seed) is int and study.seed >= 0)
    # what was stored loads back as the same definition
    loaded = hpo.load_study(study.name, url, sampler="random")
    assert loaded.space == study.space
    assert loaded.objectives == study.objectives
    assert loaded.constraints == study.constraints
    assert loaded.seed == study.seed


@st.composite
def study_settings(draw: st.DrawFn) -> dict[str, Any]:
    """Name, fidelity and heartbeat settings: plausible, with none, one or several junk fields."""
    fields = ("name", "heartbeat_interval", "stale_after", "stale_policy", "fidelity")
    target = draw(st.sampled_from(["none", *fields, "several"]))
    junk = {f: target == f or (target == "several" and draw(st.booleans())) for f in fields}
    seconds = st.one_of(st.integers(1, 100), st.floats(0.01, 1000))
    return {
        "name": draw(NAMES if junk["name"] else VALID_NAMES),
        "heartbeat_interval": draw(SETTINGS_VALUES if junk["heartbeat_interval"] else seconds),
        "stale_after": draw(SETTINGS_VALUES if junk["stale_after"] else st.one_of(st.none(), seconds)),
        "stale_policy": draw(
            st.one_of(st.sampled_from(["retry", "REQUEUE", ""]), SCALARS) if junk["stale_policy"]
            else st.sampled_from(["requeue", "fail"])
        ),
        "fidelity": draw(
            JUNK if junk["fidelity"] else st.one_of(st.none(), st.dictionaries(st.text(max_size=4), SMALL, max_size=2))
        ),
    }


@FUZZ
@given(definition=study_settings(), load_if_exists=st.booleans(), fresh=st.booleans())
def test_create_study_settings_are_valid_or_raise_hpo_error(
    url: str, definition: dict[str, Any], load_if_exists: bool, fresh: bool
) -> None:
    if fresh:
        definition["name"] = _unique(definition["name"])
    before = _snapshot(url)
    try:
        study = hpo.create_study(
            space={"x": hpo.Float(0, 1)}, storage=url, sampler="random", load_if_exists=load_if_exists, **definition
        )
    except HpoError as exc:
        event(f"settings: {type(exc).__name__}")
        assert _snapshot(url) == before
        return
    event("settings: created")
    assert study.name in _snapshot(url)
    assert set(_snapshot(url)) - set(before) <= {study.name}
    settings_ = study.settings
    assert 0 < settings_["heartbeat_interval"] < math.inf
    assert 0 < settings_["stale_after"] < math.inf
    assert settings_["stale_policy"] in ("requeue", "fail")


# -- tell ------------------------------------------------------------------------------------------
TELL_NUMBERS = st.one_of(
    NUMBERS,
    st.builds(np.float64, st.floats()),
    st.builds(np.float32, st.floats(width=32)),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.builds(np.array, st.lists(st.floats(-1, 1), max_size=2)),
    st.builds(fractions.Fraction, st.integers(), st.integers(1, 10)),
    st.sampled_from([decimal.Decimal("1.5"), complex(1, 0), np.bool_(True), b"1", "1.0", fractions.Fraction(10**400)]),
)
TELL_VALUES = st.one_of(
    TELL_NUMBERS,
    st.fixed_dictionaries({"a": TELL_NUMBERS, "b": TELL_NUMBERS, "c": TELL_NUMBERS}),
    st.fixed_dictionaries({"a": st.floats(), "b": st.floats(), "c": st.floats()}),
    SCALARS,
    st.lists(st.one_of(TELL_NUMBERS, SCALARS), max_size=4),
    st.tuples(TELL_NUMBERS, TELL_NUMBERS),
    st.dictionaries(
        st.one_of(st.sampled_from(["a", "b", "c", "value", "zzz"]), st.integers(-2, 2), st.none()),
        st.one_of(TELL_NUMBERS, SCALARS, JUNK),
        max_size=4,
    ),
    JUNK,
)
TELL_STATES = st.one_of(
    st.just("COMPLETE"),
    st.sampled_from([TrialState.COMPLETE, "PRUNED", "pruned", "FAILED", "RUNNING", "WAITING", "bogus", None, 3]),
)


@pytest.fixture
def tell_studies(url: str) -> dict[str, Any]:
    single = hpo.create_study(name="single", space={"x": hpo.Float(0, 1)}, storage=url, sampler="random", seed=0)
    multi = hpo.create_study(
        name="multi", space={"x": hpo.Float(0, 1)}, storage=url, sampler="random", seed=0,
        objectives={"a": "minimize", "b": "maximize"}, constraints={"c": ("<=", 1.0)},
    )
    return {"single": single, "multi": multi}


@FUZZ
@given(which=st.sampled_from(["single", "multi"]), values=TELL_VALUES, state=TELL_STATES)
def test_tell_junk_is_ok_or_hpo_error_and_nothing_written(
    tell_studies: dict[str, Any], which: str, values: Any, state: Any
) -> None:
    study = tell_studies[which]
    trial = study.ask()
    try:
        frozen = study.tell(trial, values, state=state)
    except HpoError as exc:
        event(f"tell: {type(exc).__name__}")
        stored = study.store.get_trial(study.study_id, trial.number)
        assert stored.state is TrialState.RUNNING
        assert stored.values is None and stored.constraint_values is None
        assert stored.finished_at is None
        study.tell(trial, state="FAILED", error="cleanup")  # still tellable
        return
    stored = study.store.get_trial(study.study_id, trial.number)
    event(f"tell: {stored.state.value}")
    assert stored == frozen
    assert stored.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)
    names = [o.name for o in study.objectives]
    if stored.state is TrialState.COMPLETE:
        assert list(stored.values) == names
        assert all(isinstance(v, float) and math.isfinite(v) for v in stored.values.values())
        if study.constraints:
            assert set(stored.constraint_values) == {c.name for c in study.constraints}
            assert all(math.isfinite(v) for v in stored.constraint_values.values())
    elif stored.state is TrialState.FAILED:
        assert stored.values is None
    else:  # PRUNED: values optional, finite when present
        assert stored.values is None or all(math.isfinite(v) for v in stored.values.values())


# -- parse_config ----------------------------------------------------------------------------------
@st.composite
def configs(draw: st.DrawFn) -> Any:
    """A config mapping whose fields are plausible, or junk; sometimes missing or extra keys."""
    if _one_in(draw, 15):
        return draw(JUNK)
    definition = draw(definitions())
    data: dict[Any, Any] = {
        "name": definition["name"],
        "objective": _sometimes(draw, st.sampled_from(["mod:func", "pkg.mod:f"]),
                                st.one_of(st.sampled_from(["nocolon", "a:b:c", ":f", "m:", ""]), JUNK)),
        "space": definition["space"],
    }
    for key in ("objectives", "constraints", "seed", "sampler"):
        if draw(st.booleans()):
            data[key] = definition[key]
    if draw(st.booleans()):
        data["storage"] = _sometimes(draw, st.sampled_from(["sqlite:///x.db", "mysql://h/db"]), JUNK)
    for key in ("n_trials", "timeout"):
        if draw(st.booleans()):
            data[key] = _sometimes(draw, st.one_of(st.none(), st.integers(0, 50), SMALL), SEEDS)
    if draw(st.booleans()):
        data["execution"] = _sometimes(
            draw,
            st.dictionaries(st.sampled_from(["backend", "n_workers", "bogus"]),
                            st.one_of(st.sampled_from(["local", "ray"]), st.integers(-1, 4), SCALARS), max_size=2),
            JUNK,
        )
    if draw(st.booleans()):
        data["settings"] = _sometimes(
            draw,
            st.dictionaries(st.sampled_from(["heartbeat_interval", "stale_after", "stale_policy", "bogus"]),
                            st.one_of(SMALL, st.sampled_from(["requeue", "fail"]), SETTINGS_VALUES), max_size=3),
            JUNK,
        )
    if _one_in(draw, 4):
        data["fidelity"] = draw(JUNK)
    if _one_in(draw, 8):
        del data[draw(st.sampled_from(sorted(data, key=repr)))]
    if _one_in(draw, 8):
        data[draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))] = draw(JUNK)
    return data


@FUZZ
@given(data=configs())
def test_parse_config_is_ok_or_config_error(url: str, data: Any) -> None:
    try:
        cfg = parse_config(data)
    except ConfigError:
        event("parse_config: ConfigError")
        return
    event("parse_config: ok")
    assert isinstance(cfg, StudyConfig)
    assert isinstance(cfg.space, hpo.SearchSpace)
    assert cfg.execution["n_workers"] >= 1
    # what parse_config accepted either creates a study or fails with an HpoError that writes nothing
    before = _snapshot(url)
    cfg.name = _unique(cfg.name)
    try:
        study = cfg.create_study(storage=url)
    except HpoError:
        assert _snapshot(url) == before
        return
    assert _snapshot(url) == {**before, study.name: 0}

"""Tests of hpo.space: definitions, conditions, validation, sampling, encoding."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hpo.errors import SpaceError
from hpo.space import (
    Categorical,
    Column,
    Fixed,
    Float,
    Int,
    Param,
    SearchSpace,
    SpaceEncoder,
    param_from_dict,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- strategies

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)


def _choice_key(v: Any) -> tuple:
    return (isinstance(v, bool), v)  # as hpo.space: bools apart from numbers, 1 == 1.0


def _n_grid(p: Float | Int) -> int:
    """Number of grid values (high has already been lowered onto the grid)."""
    if isinstance(p, Int):
        return (p.high - p.low) // p.step + 1
    return round((p.high - p.low) / p.step) + 1


@st.composite
def floats_params(draw: st.DrawFn, cond: dict | None = None) -> Float:
    kind = draw(st.sampled_from(["linear", "log", "step"]))
    if kind == "log":
        low = draw(st.floats(1e-8, 1e4))
        high = low * draw(st.floats(1.0001, 1e8))
    else:
        low = draw(st.floats(-1e6, 1e6))
        high = low + draw(st.floats(1e-4, 1e6))
    assume(low < high)
    step = None
    if kind == "step":
        width = high - low
        step = draw(st.one_of(
            st.integers(1, 1000).map(lambda k: width / k),  # divides (up to rounding)
            st.floats(width / 1000, width),  # usually does not divide: high is lowered
        ))
        assume(0 < step <= width)
    return Float(low, high, log=kind == "log", step=step, active_if=cond)


@st.composite
def ints_params(draw: st.DrawFn, cond: dict | None = None) -> Int:
    if draw(st.booleans()):
        low = draw(st.integers(1, 1000))
        high = draw(st.one_of(st.integers(low + 1, low + 1000), st.integers(low + 1, 2**40)))
        return Int(low, high, log=True, active_if=cond)
    low = draw(st.integers(-(10**6), 10**6))
    high = low + draw(st.one_of(st.integers(1, 20), st.integers(1, 10**12)))
    step = draw(st.one_of(st.just(1), st.integers(1, high - low)))
    return Int(low, high, step=step, active_if=cond)


def categoricals(cond: dict | None = None) -> st.SearchStrategy[Categorical]:
    return st.lists(SCALARS, min_size=1, max_size=5, unique_by=_choice_key).map(
        lambda ch: Categorical(ch, active_if=cond)
    )


def fixeds(cond: dict | None = None) -> st.SearchStrategy[Fixed]:
    return SCALARS.map(lambda v: Fixed(v, active_if=cond))


def param_values(p: Param) -> st.SearchStrategy:
    """Valid values of ``p`` (not normalised)."""
    if isinstance(p, Fixed):
        return st.just(p.value)
    if isinstance(p, Categorical):
        return st.sampled_from(p.choices)
    if isinstance(p, Int) and p.log:
        return st.integers(p.low, p.high)
    if isinstance(p, Int):
        return st.integers(0, _n_grid(p) - 1).map(lambda i: p.low + i * p.step)
    if p.step is not None:
        n = _n_grid(p)
        return st.integers(0, n - 1).map(lambda i: p.high if i == n - 1 else p.low + i * p.step)
    return st.floats(p.low, p.high)


@st.composite
def spaces(draw: st.DrawFn, max_params: int = 6) -> SearchSpace:
    """Random mixes of parameter kinds, some conditional, in a shuffled insertion order."""
    params: dict[str, Param] = {}
    for i in range(draw(st.integers(1, max_params))):
        parents = [n for n, p in params.items() if isinstance(p, (Categorical, Int, Fixed))]
        cond = None
        if parents and draw(st.booleans()):
            cond = {}
            for parent in draw(st.lists(st.sampled_from(parents), min_size=1, max_size=2, unique=True)):
                cond[parent] = draw(st.lists(param_values(params[parent]), min_size=1, max_size=3))
        kind = draw(st.sampled_from([floats_params, ints_params, categoricals, fixeds]))
        params[f"p{i}"] = draw(kind(cond))
    order = draw(st.permutations(list(params)))
    return SearchSpace({n: params[n] for n in order})


def draw_config(data: st.DataObject, space: SearchSpace) -> dict[str, Any]:
    """Draws a valid configuration of ``space`` and returns it normalised."""
    config: dict[str, Any] = {}
    for name in space.names:
        if space.is_active(name, config):
            config[name] = data.draw(param_values(space[name]), label=name)
    return space.validate(config)


def assert_same(space: SearchSpace, got: dict, want: dict) -> None:
    """Exact equality, except continuous Floats (close to floating-point error)."""
    assert list(got) == list(want)
    for name, value in want.items():
        p = space[name]
        if isinstance(p, Float) and p.step is None:
            assert type(got[name]) is float
            assert math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-12 * (p.high - p.low)), name
        else:
            assert got[name] == value and type(got[name]) is type(value), (name, got[name], value)


# ----------------------------------------------------------------- properties


@SETTINGS
@given(data=st.data(), onehot=st.booleans())
def test_encode_decode_round_trip(data: st.DataObject, onehot: bool) -> None:
    space = data.draw(spaces())
    enc = space.encoder(onehot=onehot)
    configs = [draw_config(data, space) for _ in range(data.draw(st.integers(1, 3)))]
    X = enc.encode(configs)
    assert X.shape == (len(configs), enc.dim) and X.dtype == np.float64
    assert ((X >= 0) & (X <= 1)).all()
    for got, want in zip(enc.decode(X), configs):
        assert_same(space, got, want)


@SETTINGS
@given(data=st.data(), onehot=st.booleans())
def test_decode_is_valid_and_idempotent(data: st.DataObject, onehot: bool) -> None:
    space = data.draw(spaces())
    enc = space.encoder(onehot=onehot)
    n = data.draw(st.integers(1, 4))
    U = data.draw(arrays(np.float64, (n, enc.dim), elements=st.floats(-0.25, 1.25)))
    configs = enc.decode(U)
    assert len(configs) == n
    for c in configs:
        assert space.validate(c) == c
        assert list(c) == space.active_names(c)
    U2 = enc.encode(configs)
    assert ((U2 >= 0) & (U2 <= 1)).all()
    for got, want in zip(enc.decode(U2), configs):
        assert_same(space, got, want)


@SETTINGS
@given(space=spaces(), seed=st.integers(0, 2**32 - 1))
def test_sample_is_valid(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(3):
        config = space.sample(rng)
        assert space.validate(config) == config
        assert list(config) == space.active_names(config)
    assert space.sample(seed) == space.sample(np.random.default_rng(seed))


@SETTINGS
@given(space=spaces())
def test_to_dict_from_dict_json_round_trip(space: SearchSpace) -> None:
    text = json.dumps(space.to_dict(), allow_nan=False)
    back = SearchSpace.from_dict(json.loads(text))
    assert back == space and back.names == space.names and hash(back) == hash(space)
    assert back.to_dict() == space.to_dict()
    for p in space.params.values():
        assert param_from_dict(p.to_dict()) == p
    assert pickle.loads(pickle.dumps(space)) == space
    assert copy.deepcopy(space) == space


@SETTINGS
@given(low=st.integers(1, 1000), data=st.data())
def test_log_int_round_trip_is_exact(low: int, data: st.DataObject) -> None:
    p = Int(low, data.draw(st.integers(low + 1, 2**40)), log=True)
    x = data.draw(st.integers(p.low, p.high))
    enc = SearchSpace({"n": p}).encoder()
    assert enc.decode(enc.encode([{"n": x}])) == [{"n": x}]


def any_param() -> st.SearchStrategy[Param]:
    return st.one_of(floats_params(), ints_params(), categoricals(), fixeds())


@SETTINGS
@given(data=st.data())
def test_param_decode_inverts_encode(data: st.DataObject) -> None:
    """The public per-parameter API: decode(encode(v)) == v for every kind (log, step, int, categorical, fixed)."""
    p = data.draw(any_param())
    v = p.validate(data.draw(param_values(p)), "p")
    u = p.encode(v)
    assert type(u) is float and 0.0 <= u <= 1.0
    back = p.decode(u)
    assert p.validate(back, "p") == back and type(back) is type(v)
    if isinstance(p, Float) and p.step is None:
        assert math.isclose(back, v, rel_tol=1e-9, abs_tol=1e-12 * (p.high - p.low))
    else:
        assert back == v
    assert p.decode_array(np.array([u, u])) == [back, back]


@SETTINGS
@given(data=st.data())
def test_param_decode_gives_valid_values_anywhere(data: st.DataObject) -> None:
    p = data.draw(any_param())
    u = data.draw(arrays(np.float64, data.draw(st.integers(0, 4)), elements=st.floats(-0.5, 1.5)))
    values = p.decode_array(u)
    assert len(values) == len(u)
    for x, ui in zip(values, u):
        assert p.validate(x, "p") == x and p.decode(float(ui)) == x
        assert p.decode(p.encode(x)) == x or (isinstance(p, Float) and p.step is None)


@SETTINGS
@given(p=any_param(), data=st.data())
def test_grid_values_are_the_distinct_values_in_order(p: Param, data: st.DataObject) -> None:
    n = p.grid_size
    if n is None:
        assert isinstance(p, Float) and p.step is None
        with pytest.raises(SpaceError, match=r"continuous Float has no grid"):
            p.grid_value(0)
        return
    i = data.draw(st.integers(0, n - 1))
    x = p.grid_value(i)
    assert p.validate(x, "p") == x
    if isinstance(p, Categorical):  # a choice's coordinate, in listed order; unordered: (i + 0.5) / n
        assert p.encode(x) == p.coordinates[i]
        if not p.ordinal:
            assert math.isclose(p.coordinates[i], (i + 0.5) / n, rel_tol=1e-12)
    elif not isinstance(p, Fixed) and not (isinstance(p, Int) and p.log):  # index coordinates (i + 0.5) / n
        assert math.isclose(p.encode(x), (i + 0.5) / n, rel_tol=1e-12)
    for bad in (-1, n, 1.5, True):
        with pytest.raises(SpaceError, match=r"`0 <= i < grid_size`"):
            p.grid_value(bad)


def test_param_encoding_examples_and_errors() -> None:
    lr, grid, cat = Float(1e-4, 1.0, log=True), Int(0, 10, step=5), Categorical(["a", 1, True])
    assert lr.encode(1e-2) == pytest.approx(0.5) and lr.decode(0.0) == 1e-4 and lr.decode(1.0) == 1.0
    assert lr.encode(5.0) == 1.0 and lr.decode(7.0) == 1.0  # clamped
    assert (grid.grid_size, grid.encode(5), grid.decode(0.99), grid.encode(7)) == (3, 0.5, 10, 0.5)
    assert cat.encode(1.0) == 0.5 and cat.decode(0.9) is True and cat.index(True) == 2
    assert Fixed("x").encode("x") == 0.5 and Fixed("x").decode(0.1) == "x" and Fixed("x").grid_value(0) == "x"
    with pytest.raises(SpaceError, match=r"Categorical: value must be one of \['a', 1, True\], but got 'b'"):
        cat.encode("b")
    with pytest.raises(SpaceError, match=r"space\['c'\]: value must be one of"):
        cat.index("b", "c")
    with pytest.raises(SpaceError, match=r"fixed value 'x', but got 'y'"):
        Fixed("x").encode("y")
    with pytest.raises(SpaceError, match=r"Float: encode value must be a number, but got 'a'"):
        lr.encode("a")
    with pytest.raises(SpaceError, match=r"coordinate must be a number in \[0, 1\], but got nan"):
        lr.decode(float("nan"))
    with pytest.raises(SpaceError, match=r"must not be NaN, but got NaN at positions \[1\]"):
        grid.decode_array([0.1, float("nan")])
    with pytest.raises(SpaceError, match=r"shape \(n,\), but got shape \(1, 2\)"):
        cat.decode_array([[0.1, 0.2]])


def test_select_active_keeps_the_active_values(cond_space: SearchSpace) -> None:
    values = {"optimizer": "sgd", "momentum": 0.5, "nesterov": True, "layers": 1, "batch": 16, "width": 64}
    got = cond_space.select_active(values)
    assert list(got) == cond_space.active_names(got) and cond_space.validate(got) == got
    with pytest.raises(SpaceError, match=r"space\['optimizer'\]: active parameter has no value"):
        cond_space.select_active({})


# ------------------------------------------------------------- definitions


def test_params_are_frozen_hashable_and_normalised() -> None:
    assert Float(0, 1) == Float(0.0, 1.0) and hash(Float(0, 1)) == hash(Float(0.0, 1.0))
    assert type(Float(0, 1).low) is float and type(Int(np.int64(1), 5.0).low) is int
    p = Categorical(["a", "b"], active_if={"x": "a"})
    assert p.active_if == {"x": ("a",)} and p.choices == ("a", "b")
    assert len({p, Categorical(("a", "b"), active_if={"x": ["a"]})}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.choices = ("c",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.active_if["y"] = (1,)  # type: ignore[index]
    assert Categorical([1, True, None, 1.5, "1"]).choices == (1, True, None, 1.5, "1")
    assert Fixed(np.float32(0.5)).value == 0.5 and type(Fixed(np.int64(2)).value) is int
    assert Float(0, 1).to_dict() == {"type": "float", "low": 0.0, "high": 1.0, "log": False,
                                     "step": None, "active_if": None}


def test_step_not_dividing_the_range_lowers_high_like_optuna() -> None:
    p = Int(0, 10, step=3)
    assert p.high == 9 and p.validate(9, "n") == 9
    with pytest.raises(SpaceError, match=r"space\['n'\]"):
        p.validate(10, "n")
    q = Float(0.0, 1.0, step=0.3)
    assert math.isclose(q.high, 0.9) and q.validate(0.9, "x") == q.high
    assert Float(0.0, 1.0, step=0.1).high == 1.0  # on the grid up to rounding: kept
    assert Float(0.1, 0.7, step=0.2).high == 0.7
    assert param_from_dict(q.to_dict()) == q
    assert {Int(0, 10, step=3).sample(s) for s in range(50)} <= {0, 3, 6, 9}


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"type": "float", "low": 1.0, "high": 0.1}, r"`low < high`.*low=1.0, high=0.1"),
        ({"type": "float", "low": 1.0, "high": 1.0}, r"`low < high`"),
        ({"type": "int", "low": 5, "high": 5}, r"`low < high`"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, r"`low > 0`.*low=0.0"),
        ({"type": "int", "low": -1, "high": 10, "log": True}, r"`low > 0`"),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 2.0}, r"`step <= high - low`"),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": -0.1}, r"`step > 0`"),
        ({"type": "float", "low": 1.0, "high": 2.0, "step": 0.1, "log": True}, r"log=True"),
        ({"type": "int", "low": 0, "high": 10, "step": 0}, r"`step >= 1`"),
        ({"type": "int", "low": 1, "high": 100, "step": 2, "log": True}, r"step=1"),
        ({"type": "int", "low": 0.5, "high": 10}, r"integer.*0.5"),
        ({"type": "int", "low": True, "high": 10}, r"integer.*True"),
        ({"type": "float", "low": "0", "high": 1.0}, r"number.*'0'"),
        ({"type": "float", "low": 0.0, "high": math.inf}, r"finite"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": "yes"}, r"bool"),
        ({"type": "categorical", "choices": []}, r"must not be empty"),
        ({"type": "categorical", "choices": "abc"}, r"list of JSON scalars"),
        ({"type": "categorical", "choices": ["a", "b", "a"]}, r"unique.*'a' and 'a'"),
        ({"type": "categorical", "choices": [1, 1.0]}, r"unique"),
        ({"type": "categorical", "choices": ["a", [1, 2]]}, r"JSON scalars.*\[1, 2\]"),
        ({"type": "categorical", "choices": [{"a": 1}]}, r"JSON scalars"),
        ({"type": "categorical", "choices": [math.nan]}, r"JSON scalars"),
        ({"type": "fixed", "value": [1]}, r"JSON scalar"),
        ({"type": "flaot", "low": 0, "high": 1}, r"unknown type 'flaot'; allowed: float, int, categorical"),
        ({"low": 0, "high": 1}, r"unknown type None"),
        ({"type": "float", "low": 0, "high": 1, "lg": True}, r"unknown key.*'lg'.*allowed: type, low, high"),
        ({"type": "float", "low": 0}, r"missing key.*'high'"),
        ({"type": "float", "low": 0, "high": 1, "active_if": ["x"]}, r"active_if must be a mapping"),
    ],
)
def test_invalid_definitions(spec: dict, match: str) -> None:
    with pytest.raises(SpaceError, match=match) as info:
        SearchSpace({"ok": 1, "lr": spec})
    assert "space['lr']" in str(info.value)
    with pytest.raises(SpaceError, match=match):
        param_from_dict(spec)


def test_direct_construction_errors() -> None:
    with pytest.raises(SpaceError, match=r"Float: `low < high` must hold, but got low=1.0, high=0.1"):
        Float(1.0, 0.1)
    with pytest.raises(SpaceError, match="unique"):
        Categorical(["x", "x"])
    with pytest.raises(ValueError):  # SpaceError is a ValueError
        Int(0, 10, step=20)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({}, r"non-empty mapping"),
        ([("a", Float(0, 1))], r"non-empty mapping"),
        ({"": Float(0, 1)}, r"non-empty strings"),
        ({1: Float(0, 1)}, r"non-empty strings, but got 1"),
        ({"a": [1, 2]}, r"space\['a'\]: expected a Param"),
        ({"a": Float(0, 1, active_if={"opt": ["sgd"]})}, r"space\['a'\].*parent 'opt'.*valid names"),
        ({"a": Int(0, 3, active_if={"a": [1]})}, r"space\['a'\].*parent 'a' must be another"),
        ({"o": Categorical(["sgd"]), "a": Float(0, 1, active_if={"o": ["adam"]})},
         r"space\['a'\].*parent 'o'.*one of \['sgd'\], but got 'adam'"),
        ({"n": Int(0, 10, step=5), "a": Float(0, 1, active_if={"n": [3]})}, r"space\['a'\].*parent 'n'"),
        ({"n": Int(0, 10), "a": Float(0, 1, active_if={"n": [True]})}, r"space\['a'\].*integer"),
        ({"x": Float(0, 1), "a": Float(0, 1, active_if={"x": [0.5]})},
         r"space\['a'\].*parent 'x' must be Categorical, Int or Fixed"),
        ({"a": Int(0, 3, active_if={"b": [1]}), "b": Int(0, 3, active_if={"a": [1]})},
         r"space\['a'\]: conditions must not form a cycle.*'a' -> 'b' -> 'a'"),
        ({"z": Fixed(1), "a": Int(0, 3, active_if={"b": [1]}), "b": Int(0, 3, active_if={"c": [1]}),
          "c": Int(0, 3, active_if={"b": [1], "z": [1]})}, r"cycle.*'b' -> 'c' -> 'b'"),
    ],
)
def test_invalid_spaces(params: Any, match: str) -> None:
    with pytest.raises(SpaceError, match=match):
        SearchSpace(params)


def test_names_are_topological_then_insertion_order() -> None:
    space = SearchSpace({
        "momentum": Float(0, 1, active_if={"optimizer": "sgd"}),
        "lr": Float(1e-5, 1, log=True),
        "optimizer": Categorical(["sgd", "adam"], active_if={"kind": "nn"}),
        "kind": "nn",
    })
    assert space.names == ("lr", "kind", "optimizer", "momentum")
    assert list(space) == list(space.params) == list(space.to_dict()) == list(space.names)
    assert len(space) == 4 and "lr" in space and space["kind"] == Fixed("nn")
    assert "SearchSpace(" in repr(space)
    with pytest.raises(SpaceError, match=r"unknown parameter 'nope'; valid names") as info:
        space["nope"]
    assert isinstance(info.value, KeyError)
    # condition values are normalised against the parent
    assert SearchSpace({"n": Int(0, 4), "x": Float(0, 1, active_if={"n": [2.0, 2]})})["x"].active_if == {"n": (2,)}


# -------------------------------------------------------- values and configs


@pytest.fixture
def cond_space() -> SearchSpace:
    return SearchSpace({
        "optimizer": Categorical(["sgd", "adam"]),
        "momentum": Float(0, 1, active_if={"optimizer": ["sgd"]}),
        "nesterov": Categorical([True, False], active_if={"optimizer": "sgd"}),
        "layers": Int(1, 8),
        "batch": Int(16, 256, step=16),
        "seed": 7,
    })


def test_validate_normalises_and_fills_fixed(cond_space: SearchSpace) -> None:
    got = cond_space.validate({"layers": np.int64(3), "batch": 32.0, "optimizer": np.str_("adam")})
    assert got == {"optimizer": "adam", "layers": 3, "batch": 32, "seed": 7}
    assert list(got) == list(cond_space.names[:1]) + ["layers", "batch", "seed"]
    assert type(got["layers"]) is int and type(got["batch"]) is int and type(got["optimizer"]) is str
    got = cond_space.validate({"optimizer": "sgd", "momentum": 1, "nesterov": False, "layers": 1, "batch": 16})
    assert got["momentum"] == 1.0 and type(got["momentum"]) is float


@pytest.mark.parametrize(
    ("config", "name", "match"),
    [
        ({"optimizer": "adam", "layers": 1, "batch": 16, "lr": 0.1}, "lr",
         r"unknown parameter\(s\) \['lr'\]; valid names: \['optimizer'"),
        ({"optimizer": "sgd", "layers": 1, "batch": 16, "nesterov": True}, "momentum",
         r"active parameter is missing.*optimizer in \['sgd'\]"),
        ({"optimizer": "adam", "layers": 1}, "batch", r"active parameter is missing"),
        ({"optimizer": "adam", "momentum": 0.9, "layers": 1, "batch": 16}, "momentum",
         r"inactive since its condition `optimizer in \['sgd'\]` \(got optimizer='adam'\).*0.9"),
        ({"optimizer": "adam", "layers": True, "batch": 16}, "layers", r"integer, but got True"),
        ({"optimizer": "adam", "layers": 2.5, "batch": 16}, "layers", r"integer, but got 2.5"),
        ({"optimizer": "adam", "layers": 9, "batch": 16}, "layers", r"`low <= value <= high`.*value=9"),
        ({"optimizer": "adam", "layers": 1, "batch": 24}, "batch", r"grid.*value=24"),
        ({"optimizer": "sgd", "momentum": "0.5", "nesterov": True, "layers": 1, "batch": 16}, "momentum",
         r"number, but got '0.5' \(str\)"),
        ({"optimizer": "sgd", "momentum": math.nan, "nesterov": True, "layers": 1, "batch": 16}, "momentum",
         r"finite"),
        ({"optimizer": "sgd", "momentum": 1.5, "nesterov": True, "layers": 1, "batch": 16}, "momentum",
         r"value=1.5, low=0.0, high=1.0"),
        ({"optimizer": "sgd", "momentum": 0.5, "nesterov": 1, "layers": 1, "batch": 16}, "nesterov",
         r"one of \[True, False\], but got 1"),
        ({"optimizer": "rmsprop", "layers": 1, "batch": 16}, "optimizer", r"one of \['sgd', 'adam'\]"),
        ({"optimizer": "adam", "layers": 1, "batch": 16, "seed": 8}, "seed", r"fixed value 7, but got 8"),
    ],
)
def test_invalid_configs(cond_space: SearchSpace, config: dict, name: str, match: str) -> None:
    with pytest.raises(SpaceError, match=match) as info:
        cond_space.validate(config)
    assert repr(name) in str(info.value)


def test_stepped_float_values_snap_to_the_grid() -> None:
    p = Float(0.1, 1.0, step=0.1)
    assert p.validate(0.1 * 3, "x") == p.validate(0.30000000000000004, "x") == 0.1 + 2 * 0.1
    assert p.validate(1.0, "x") == 1.0
    with pytest.raises(SpaceError, match=r"space\['x'\].*grid"):
        p.validate(0.35, "x")


def test_conditional_example(cond_space: SearchSpace) -> None:
    assert cond_space.is_active("momentum", {"optimizer": "sgd"})
    assert not cond_space.is_active("momentum", {"optimizer": "adam"})
    assert not cond_space.is_active("momentum", {})
    assert cond_space.active_names({"optimizer": "adam"}) == ["optimizer", "layers", "batch", "seed"]
    seen = set()
    for seed in range(40):
        c = cond_space.sample(seed)
        assert ("momentum" in c) == ("nesterov" in c) == (c["optimizer"] == "sgd")
        seen.add(c["optimizer"])
    assert seen == {"sgd", "adam"}

    enc = cond_space.encoder()
    assert enc.columns == (
        Column("optimizer", "onehot", 0), Column("optimizer", "onehot", 1), Column("momentum", "float", None),
        Column("nesterov", "onehot", 0), Column("nesterov", "onehot", 1), Column("layers", "int", None),
        Column("batch", "int", None),
    )
    assert enc.dim == 7 and enc.bounds.shape == (2, 7) and (enc.bounds == [[0] * 7, [1] * 7]).all()
    assert enc.integer_dims == (5, 6) and enc.categorical_dims == ()
    assert enc.onehot_groups == {"optimizer": (0, 1), "nesterov": (3, 4)}
    sgd = {"optimizer": "sgd", "momentum": 0.25, "nesterov": False, "layers": 1, "batch": 256}
    adam = {"optimizer": "adam", "layers": 8, "batch": 16}
    X = enc.encode([sgd, adam])
    np.testing.assert_allclose(X, [[1, 0, 0.25, 0, 1, 0.5 / 8, 15.5 / 16],
                                   [0, 1, 0.5, 0.5, 0.5, 7.5 / 8, 0.5 / 16]])  # inactive: 0.5
    assert enc.decode(X) == [{**sgd, "seed": 7}, {**adam, "seed": 7}]
    assert enc.decode(X[1]) == [{**adam, "seed": 7}]

    idx = cond_space.encoder(onehot=False)
    assert [c.kind for c in idx.columns] == ["categorical", "float", "categorical", "int", "int"]
    assert idx.integer_dims == (0, 2, 3, 4) and idx.categorical_dims == (0, 2) and idx.onehot_groups == {}
    assert idx.category_counts == {0: 2, 2: 2} and enc.category_counts == {}
    np.testing.assert_allclose(idx.encode([adam]), [[0.75, 0.5, 0.5, 7.5 / 8, 0.5 / 16]])
    assert idx.decode([[0.2, 2.0, 0.9, 0.0, 1.0]]) == [
        {"optimizer": "sgd", "momentum": 1.0, "nesterov": False, "layers": 1, "batch": 256, "seed": 7}
    ]


def test_log_and_grid_encodings() -> None:
    space = SearchSpace({"lr": Float(1e-4, 1.0, log=True), "x": Float(0, 1, step=0.25), "n": Int(1, 1000, log=True)})
    enc = space.encoder()
    X = enc.encode([{"lr": 1e-2, "x": 0.5, "n": 10}])
    np.testing.assert_allclose(X, [[0.5, 2.5 / 5, 1 / 3]])
    assert enc.integer_dims == (1, 2)
    assert enc.decode([[0.0, 0.0, 0.0]]) == [{"lr": 1e-4, "x": 0.0, "n": 1}]
    assert enc.decode([[1.0, 1.0, 1.0]]) == [{"lr": 1.0, "x": 1.0, "n": 1000}]


def test_all_fixed_space_has_no_columns() -> None:
    space = SearchSpace({"a": 1, "b": "x"})
    enc = space.encoder()
    assert enc.dim == 0 and enc.encode([{}]).shape == (1, 0)
    assert enc.decode(np.zeros((2, 0))) == [{"a": 1, "b": "x"}] * 2


def test_encoder_shape_errors(cond_space: SearchSpace) -> None:
    enc = cond_space.encoder()
    assert isinstance(enc, SpaceEncoder) and enc.encode([]).shape == (0, 7)
    with pytest.raises(SpaceError, match=r"expected shape \(n, 7\) or \(7,\), but got \(2, 3\)"):
        enc.decode(np.zeros((2, 3)))
    with pytest.raises(SpaceError, match=r"expected shape \(n, 7\).*\(1, 1, 7\)"):
        enc.decode(np.zeros((1, 1, 7)))
    with pytest.raises(SpaceError, match=r"NaN"):
        enc.decode(np.full(7, np.nan))
    with pytest.raises(SpaceError, match=r"sequence of configurations"):
        enc.encode({"optimizer": "adam", "layers": 1, "batch": 16})  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match=r"space\['layers'\]"):
        enc.encode([{"optimizer": "adam", "layers": 0, "batch": 16}])

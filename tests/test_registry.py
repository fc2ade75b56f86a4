"""The one registry, validators and lazy-import helpers used by every seam."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from hpo.errors import ConfigError, SamplerError, SurrogateError, UnknownNameError
from hpo.registry import Registry, accepted_options, check_options, lazy_exports, load_object
from hpo.validators import (
    is_int,
    is_number,
    non_negative_int,
    one_of,
    optional,
    positive_int,
    positive_number,
    probability,
)


class Base:
    pass


class Thing(Base):
    def __init__(self, size: int = 1, *, colour: str = "red") -> None:
        self.size, self.colour = size, colour


def make_registry() -> Registry[Base]:
    registry: Registry[Base] = Registry("widget", Base, SamplerError)
    registry.register("thing", Thing)
    registry.register("lazy", "collections:OrderedDict", check=False)
    return registry


def test_three_spellings_resolve_to_the_same_object() -> None:
    registry = make_registry()
    by_name = registry.make("thing", size=3)
    by_mapping = registry.make({"name": "thing", "options": {"size": 3}})
    instance = Thing(3)
    assert (by_name.size, by_mapping.size) == (3, 3)
    assert registry.make(instance) is instance


def test_unknown_names_and_options_list_the_valid_ones() -> None:
    registry = make_registry()
    with pytest.raises(UnknownNameError, match=r"widget: unknown name 'nope'; valid names: \['lazy', 'thing'\]"):
        registry.make("nope")
    with pytest.raises(SamplerError, match=r"unknown option\(s\) \['sise'\]; valid options: \['colour', 'size'\]"):
        registry.make("thing", sise=2)
    with pytest.raises(SamplerError, match="cannot be applied to an instance"):
        registry.make(Thing(), size=2)
    with pytest.raises(SamplerError, match="a mapping needs 'name'"):
        registry.make({"options": {}})
    with pytest.raises(SamplerError, match="options: expected a mapping"):
        registry.make({"name": "thing", "options": [1]})
    with pytest.raises(SamplerError, match="expected a name, a mapping or an instance"):
        registry.make(3)


def test_lazy_factories_import_on_first_use() -> None:
    registry = make_registry()
    assert "lazy" in registry and registry.names() == ["lazy", "thing"]
    from collections import OrderedDict

    assert registry.factory("lazy") is OrderedDict
    with pytest.raises(ConfigError, match="module:attribute"):
        load_object("collections")


def test_register_refuses_what_cannot_build() -> None:
    registry = make_registry()
    with pytest.raises(SamplerError, match="non-empty string"):
        registry.register("", Thing)
    with pytest.raises(SamplerError, match="expected a callable"):
        registry.register("bad", 3)  # type: ignore[arg-type]


def test_options_of_a_kwargs_factory_are_its_own_business() -> None:
    def factory(**options: int) -> Thing:
        return Thing(**options)

    assert accepted_options(factory) is None
    check_options("x", factory, {"anything": 1})
    assert accepted_options(Thing) == {"size", "colour"}


def test_each_seam_uses_its_error_class() -> None:
    from hpo.samplers import make_sampler
    from hpo.schedulers import make_scheduler
    from hpo.surrogates import make_surrogate

    with pytest.raises(SamplerError, match=r"unknown option\(s\) \['bogus'\]"):
        make_sampler("sobol", bogus=1)
    with pytest.raises(SurrogateError, match=r"unknown option\(s\) \['bogus'\]"):
        make_surrogate("gp", bogus=1)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['bogus'\]"):
        make_scheduler("asha", bogus=1)
    for make in (make_sampler, make_surrogate, make_scheduler):
        with pytest.raises(UnknownNameError, match="valid names"):
            make("no-such-name")


def test_lazy_exports_imports_attributes_and_submodules() -> None:
    module = types.ModuleType("fake_pkg")
    module.__getattr__ = lazy_exports("fake_pkg", {"OrderedDict": "collections", "abc": "collections.abc"})
    sys.modules["fake_pkg"] = module
    try:
        from collections import OrderedDict, abc

        assert module.OrderedDict is OrderedDict
        assert module.abc is abc
        with pytest.raises(AttributeError, match="fake_pkg.*'missing'"):
            module.missing  # noqa: B018
    finally:
        del sys.modules["fake_pkg"]


@pytest.mark.parametrize("value", [True, False, 1.0, "3", None])
def test_positive_int_refuses_what_is_not_a_count(value: object) -> None:
    with pytest.raises(ConfigError, match=r"n: must be an integer >= 1, but got"):
        positive_int("n", value)


def test_validators_accept_and_return_the_value() -> None:
    assert positive_int("n", np.int64(3)) == 3 and type(positive_int("n", np.int64(3))) is int
    assert positive_int("n", 0, minimum=0) == 0
    assert non_negative_int("n", 0) == 0
    assert positive_number("x", np.float32(0.5)) == 0.5
    assert probability("p", 1) == 1.0
    assert one_of("mode", "a", ("a", "b")) == "a"
    assert optional(positive_int, "n", None) is None
    assert is_int(np.int8(1)) and not is_int(True) and not is_int(1.0)
    assert is_number(1) and is_number(np.float64(1.5)) and not is_number(False)


@pytest.mark.parametrize(("check", "value", "message"), [
    (non_negative_int, -1, "non-negative integer"),
    (positive_number, 0.0, "positive finite number"),
    (positive_number, float("inf"), "positive finite number"),
    (probability, 1.5, r"in \[0, 1\]"),
    (one_of, "c", "must be one of"),
])
def test_validators_name_the_rule_and_the_value(check, value, message) -> None:
    args = (("a", "b"),) if check is one_of else ()
    with pytest.raises(SamplerError, match=message):
        check("field", value, *args, error=SamplerError)
    assert "field" in str(pytest.raises(ConfigError, check, "field", value, *args).value)


def test_probability_open_ends() -> None:
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):
        probability("p", 0.0, open_low=True, open_high=True)

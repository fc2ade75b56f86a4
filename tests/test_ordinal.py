"""Ordinal choices: numeric Categoricals are ordered (log-scaled over a decade), Ordinal and ordered= override,
stored spaces load unchanged, the encoder and BO's optimiser keep the grid."""

from __future__ import annotations

import json

import pytest

import hpo
from hpo import Categorical, Ordinal, SearchSpace
from hpo.errors import SpaceError
from hpo.samplers import make_sampler
from hpo.samplers.bo_optimize import discrete_columns as _discrete_columns


def test_numeric_choices_are_ordinal_by_value_and_log_scaled_over_a_decade() -> None:
    bs = Categorical([64, 16, 256, 32])  # listed out of order
    assert bs.ordinal and bs.log_scale
    coords = dict(zip(bs.choices, bs.coordinates))
    assert coords[16] < coords[32] < coords[64] < coords[256]
    assert coords[32] - coords[16] == pytest.approx(coords[64] - coords[32])  # evenly spaced in log2
    assert coords[16] == pytest.approx(1 / 8) and coords[256] == pytest.approx(7 / 8)
    assert [bs.decode(bs.encode(v)) for v in bs.choices] == list(bs.choices)
    dropout = Categorical([0.0, 0.3, 0.6])
    assert dropout.ordinal and not dropout.log_scale  # a zero: linear
    assert dropout.coordinates == pytest.approx((1 / 6, 3 / 6, 5 / 6))
    assert not Categorical([2, 4, 8]).log_scale  # less than a decade


def test_labels_stay_unordered_and_overrides_apply() -> None:
    act = Categorical(["relu", "tanh", "gelu"])
    assert not act.ordinal and act.coordinates == pytest.approx((1 / 6, 3 / 6, 5 / 6))
    codes = Categorical([3, 1, 2], ordered=False)
    assert not codes.ordinal and codes.encode(3) == pytest.approx(1 / 6)  # index coordinate, listed order
    size = Ordinal(["small", "medium", "large"])
    assert size.ordinal and size.decode(0.9) == "large" and size.decode(0.5) == "medium"
    assert Ordinal([1e-4, 1e-3, 1e-2], log=False).coordinates == pytest.approx((1 / 6, 1 / 6 + 2 / 3 * 0.0009 / 0.0099, 5 / 6))
    with pytest.raises(SpaceError, match="log=True needs choices that are all positive numbers"):
        Ordinal([0, 1, 2], log=True)
    with pytest.raises(SpaceError, match="log applies to an ordinal"):
        Categorical(["a", "b"], log=True)
    with pytest.raises(SpaceError, match="ordered must be True, False or None"):
        Categorical([1, 2], ordered="yes")


def test_stored_spaces_load_identically_and_ordinal_options_round_trip(tmp_path) -> None:
    old = {"bs": {"type": "categorical", "choices": [16, 32, 64], "active_if": None},
           "act": {"type": "categorical", "choices": ["relu", "tanh"], "active_if": None}}
    space = SearchSpace.from_dict(json.loads(json.dumps(old)))
    assert space.to_dict() == old and space == SearchSpace({"bs": Categorical([16, 32, 64]),
                                                            "act": Categorical(["relu", "tanh"])})
    assert [c.kind for c in space.encoder(onehot=False).columns] == ["ordinal", "categorical"]
    given = {"lr": Ordinal([1e-3, 1e-2, 1e-1], log=False), "code": Categorical([1, 2, 3], ordered=False),
             "size": {"type": "ordinal", "choices": ["s", "m", "l"]}}
    url = f"sqlite:///{tmp_path}/o.db"
    hpo.create_study(name="o", space=given, storage=url, sampler="random", seed=0)
    loaded = hpo.load_study(name="o", storage=url).space
    assert loaded == SearchSpace(given)
    assert loaded["lr"].ordinal and not loaded["lr"].log_scale
    assert not loaded["code"].ordinal and loaded["size"].ordinal


def test_the_encoder_and_the_optimiser_treat_an_ordinal_as_a_discrete_ordered_dimension() -> None:
    space = SearchSpace({"bs": Categorical([16, 32, 64, 128]), "act": Categorical(["relu", "tanh"]),
                         "x": hpo.Float(0, 1)})
    enc = space.encoder(onehot=False)
    assert enc.categorical_dims == (1,) and enc.category_counts == {1: 2} and 0 in enc.integer_dims
    discrete, cats = _discrete_columns(enc)
    assert discrete == {0: pytest.approx(sorted(space["bs"].coordinates))} and set(cats) == {1}
    onehot = space.encoder(onehot=True)
    assert [c.kind for c in onehot.columns] == ["ordinal", "onehot", "onehot", "float"]


def test_gp_interpolates_between_ordered_choices(tmp_path) -> None:
    """With observations on both sides of the minimum, the next point lies near it (an unordered
    kernel sees the 14 unseen choices as equal and may pick any)."""
    choices = list(range(10, 30))
    study = hpo.create_study(name="ord", space={"v": Categorical(choices)}, storage=f"sqlite:///{tmp_path}/g.db",
                             sampler=make_sampler("gp", n_initial=6, num_restarts=4, raw_samples=64), seed=0)
    for v in (10, 14, 17, 23, 26, 29):
        study.enqueue({"v": v})
    study.optimize(lambda t: float((t["v"] - 20) ** 2), n_trials=7, show_progress_bar=False)
    assert 18 <= study.trials[-1].params["v"] <= 22

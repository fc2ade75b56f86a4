"""The one Pareto filter, :func:`hpo.results.non_dominated`: the definition on ties, duplicates,
infinities and NaN for 1-5 objectives, 50,000 points all on the front, and its users (the
dashboard's ``pareto_mask``, ``Study.pareto_front``) going through it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpo
from hpo.records import Direction, Objective
from hpo.results import non_dominated


def _reference(y: np.ndarray) -> np.ndarray:
    """By the definition: row i is kept unless some row j has ``y[j] <= y[i]`` everywhere and ``<`` once."""
    n = len(y)
    keep = np.ones(n, dtype=bool)
    for lo in range(0, n, 256):  # rows i in chunks, against every row j: (chunk, n, k)
        yi = y[lo:lo + 256][:, None, :]
        dominated = np.all(y[None, :, :] <= yi, axis=2) & np.any(y[None, :, :] < yi, axis=2)
        keep[lo:lo + 256] = ~dominated.any(axis=1)
    return keep


def _points(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Losses on a coarse grid (many ties and duplicates), with some inf, -inf, -0.0 and NaN entries."""
    y = rng.integers(-2, 3, size=(n, k)).astype(float)
    if n == 0 or k == 0:
        return y
    if rng.uniform() < 0.5:  # a continuous share: few ties, bigger fronts
        cont = rng.uniform(size=n) < 0.5
        y[cont] = rng.uniform(-2, 2, size=(int(cont.sum()), k))
    special = rng.integers(0, n, size=(3, max(1, n // 50)))
    y[special[0], rng.integers(0, k)] = np.inf
    y[special[1], rng.integers(0, k)] = -np.inf
    y[y == 0.0] = np.where(rng.uniform(size=int((y == 0.0).sum())) < 0.5, -0.0, 0.0)
    if rng.uniform() < 0.3:
        y[special[2], rng.integers(0, k)] = np.nan
    dup = rng.integers(0, n, size=(2, max(1, n // 20)))
    y[dup[0]] = y[dup[1]]  # exact duplicates
    return y


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_agrees_with_the_definition(k: int) -> None:
    rng = np.random.default_rng(100 + k)
    sizes = [0, 1, 2, 3, 5, 17, 64, 200] + [int(s) for s in rng.integers(300, 3000, size=2)]
    for n in sizes:
        for _ in range(3 if n < 300 else 1):
            y = _points(rng, n, k)
            got = non_dominated(y)
            assert got.dtype == bool and got.shape == (n,)
            np.testing.assert_array_equal(got, _reference(y), err_msg=f"k={k}, n={n}")
            np.testing.assert_array_equal(non_dominated(y.tolist()), got)  # nested lists work the same


def test_duplicates_and_nan_semantics() -> None:
    y = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 2.0], [0.0, np.nan], [3.0, 0.0], [-0.0, 5.0], [0.0, 5.0]])
    # both copies of (1, 2) stay; (2, 2) is dominated; the NaN row stays and dominates nothing;
    # -0.0 and 0.0 are the same value: (-0.0, 5) and (0, 5) are duplicates, both kept
    np.testing.assert_array_equal(non_dominated(y), [True, True, False, True, True, True, True])
    assert non_dominated(np.empty((0, 3))).shape == (0,)
    with pytest.raises(ValueError, match=r"expected shape \(n_points, n_objectives\), but got \(3,\)"):
        non_dominated([1.0, 2.0, 3.0])


@pytest.mark.parametrize("k", [2, 3])
def test_fifty_thousand_points_all_on_the_front(k: int) -> None:
    rng = np.random.default_rng(k)
    y = rng.dirichlet(np.ones(k), size=50_000)  # on the simplex: no point dominates another
    assert non_dominated(y).all()
    pushed = np.zeros(len(y), dtype=bool)
    pushed[::1000] = True
    y[pushed] += 0.05  # off the simplex: each is dominated by the simplex points just below it
    np.testing.assert_array_equal(non_dominated(y), ~pushed)


def _numpy_calls(fn: Callable[[], Any]) -> int:
    """How many calls into compiled code (numpy's functions, ufunc methods, ...) ``fn()`` makes."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "c_call":
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("k", [2, 3])
def test_filter_is_vectorised_not_a_loop_per_point(k: int) -> None:
    """8,000 points all on the front take a few dozen array operations, not some per point."""
    from hpo.dashboard import analysis

    rng = np.random.default_rng(k)
    y = rng.dirichlet(np.ones(k), size=8000)
    calls = _numpy_calls(lambda: non_dominated(y))
    assert calls < 400, f"non_dominated made {calls} calls for 8000 points"
    objectives = [Objective(f"f{i}", Direction.MINIMIZE) for i in range(k)]
    import pandas as pd

    done = pd.DataFrame({f"values_f{i}": y[:, i] for i in range(k)})
    calls = _numpy_calls(lambda: analysis.pareto_mask(done, objectives))
    assert calls < 600, f"pareto_mask made {calls} calls for 8000 points"


def test_dashboard_mask_and_study_front_use_the_filter(tmp_path: Path) -> None:
    """Mixed directions, ties and duplicates: the dashboard's mask and the study's front equal the definition."""
    import pandas as pd

    from hpo.dashboard import analysis

    study = hpo.create_study(name="mo", space={"x": hpo.Float(0.0, 1.0)}, storage=f"sqlite:///{tmp_path}/mo.db",
                             objectives={"loss": "minimize", "acc": "maximize", "mem": "minimize"},
                             sampler="random", seed=0)
    rng = np.random.default_rng(3)
    values = rng.integers(0, 4, size=(60, 3)).astype(float)
    values[-5:] = values[:5]
    for v in values:
        study.tell(study.ask(), {"loss": v[0], "acc": v[1], "mem": v[2]})
    losses = values * np.array([1.0, -1.0, 1.0])
    expected = _reference(losses)
    assert [t.number for t in study.pareto_front()] == list(np.flatnonzero(expected))
    done = pd.DataFrame({"values_loss": values[:, 0], "values_acc": values[:, 1], "values_mem": values[:, 2]},
                        index=np.arange(60) * 2)  # an index that is not 0..n-1
    mask = analysis.pareto_mask(done, study.objectives)
    assert list(mask.index) == list(done.index)
    np.testing.assert_array_equal(mask.to_numpy(), expected)
    assert analysis.pareto_mask(done.iloc[:0], study.objectives).empty

"""Where samplers live and what they declare (issue 17, point 1).

- the dependency direction of DESIGN.md, read from the source with ``ast``: schedulers and
  surrogates never import samplers, samplers never import schedulers;
- every registered sampler is defined under ``hpo.samplers``;
- ``Sampler``'s optional capabilities have declared defaults the study relies on;
- the model-based base: fitted on ``training_trials()``, one random fallback, one de-duplication;
- the deprecated ``fast`` attribute still works, with a ``DeprecationWarning``.

Real studies on SQLite files; no mocks.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import hpo
from hpo.records import FrozenTrial, Objective, TrialState
from hpo.samplers import RandomSampler, Sampler, SamplingContext, Suggestion, make_sampler, sampler_names, trial_rng
from hpo.samplers.base import SchedulerData
from hpo.samplers.model_based import ModelBasedSampler, model_seed

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"x": hpo.Float(0.0, 1.0), "k": hpo.Int(1, 3)}


def _imports(path: Path) -> list[str]:
    """Every module a file imports (``import a.b`` and ``from a.b import c`` give ``a.b`` / ``a.b.c``)."""
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return out


def _offenders(folder: str, forbidden: str) -> list[str]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no modules under {folder}/"
    return [f"{path.relative_to(ROOT)} imports {name}" for path in files for name in _imports(path)
            if name == forbidden or name.startswith(forbidden + ".")]


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("schedulers", "hpo.samplers"),
    ("surrogates", "hpo.samplers"),
    ("hpo/samplers", "hpo.schedulers"),
])
def test_the_dependency_direction_holds(folder: str, forbidden: str) -> None:
    assert _offenders(folder, forbidden) == []


@pytest.mark.parametrize("name", sampler_names())
def test_every_registered_sampler_lives_under_hpo_samplers(name: str) -> None:
    module = type(make_sampler(name)).__module__
    assert module.startswith("hpo.samplers."), f"sampler {name!r} is defined in {module}"


class _Constant(Sampler):
    """A user-defined sampler that declares nothing but ``suggest``."""

    uses_history: ClassVar[bool] = False

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        return {"x": 0.25 + 0.5 * (context.number % 2), "k": 2}


def test_capabilities_have_declared_defaults_and_the_study_uses_them(tmp_path: Path) -> None:
    sampler = _Constant()
    assert (sampler.chooses_budget, sampler.suggests_in_transaction) == (False, False)
    study = hpo.create_study(space=SPACE, storage=f"sqlite:///{tmp_path}/s.db", sampler=sampler, seed=0,
                             fidelity=hpo.Fidelity("epochs", 1, 9))
    assert sampler.recommend(_context([])) is None
    study.optimize(lambda t: (t["x"] - 0.7) ** 2 + 0.0 * t.budget, n_trials=2, show_progress_bar=False)
    assert all(t.attrs["budget"] == 9 for t in study.trials)  # a plain dict suggestion: budget None -> fidelity.max
    assert study.recommend() == study.best_params == {"x": 0.75, "k": 2}


def test_suggestion_of_makes_the_budget_explicit() -> None:
    plain = Suggestion.of({"x": 0.5})
    assert isinstance(plain, Suggestion) and plain.budget is None and dict(plain) == {"x": 0.5}
    given = Suggestion({"x": 0.5}, budget=3.0)
    assert Suggestion.of(given) is given


def test_the_shipped_samplers_use_the_new_name_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert RandomSampler.suggests_in_transaction and make_sampler("sobol").suggests_in_transaction
        assert not type(make_sampler("tpe")).suggests_in_transaction


def test_a_subclass_that_still_sets_fast_warns_and_keeps_working(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match=r"`fast` is deprecated.*suggests_in_transaction = True"):
        class Old(_Constant):
            fast = True

    with pytest.warns(DeprecationWarning, match="suggests_in_transaction = False"):
        class Slow(RandomSampler):
            fast = False

    assert Old.suggests_in_transaction is True and Slow.suggests_in_transaction is False
    with pytest.warns(DeprecationWarning, match="read `suggests_in_transaction`"):
        assert RandomSampler().fast is True  # the old name, read on a sampler that sets the new one
    study = hpo.create_study(space=SPACE, storage=f"sqlite:///{tmp_path}/o.db", sampler=Old())
    study.optimize(lambda t: t["x"], n_trials=2, show_progress_bar=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2


# -- the model-based base ------------------------------------------------------------------
class _Probe(ModelBasedSampler):
    """A model-based sampler whose 'model' proposes a fixed point (or fails), recording its data."""

    name: ClassVar[str] = "probe"

    def __init__(self, proposal: dict[str, Any] | None, n_initial: int = 2) -> None:
        self.proposal, self.n_initial = proposal, n_initial
        self.fitted_on: list[list[int]] = []

    def initial(self, context: SamplingContext, number: int) -> dict[str, Any]:
        return context.space.sample(trial_rng(context.seed, number))

    def propose(self, context: SamplingContext, trials: list[FrozenTrial], pending: list[dict[str, Any]],
                q: int, seed: int) -> list[dict[str, Any]]:
        self.fitted_on.append([t.number for t in trials])
        if self.proposal is None:
            raise RuntimeError("the model blew up")
        return [dict(self.proposal) for _ in range(q)]


def _trial(number: int, x: float, value: float) -> FrozenTrial:
    return FrozenTrial(number=number, state=TrialState.COMPLETE, params={"x": x, "k": 1}, values={"value": value})


def _context(history: list[FrozenTrial], scheduler_data: SchedulerData | None = None) -> SamplingContext:
    return SamplingContext(space=hpo.SearchSpace(SPACE), objectives=(Objective("value", "minimize"),),
                           constraints=(), history=history, pending=[], number=len(history), seed=3,
                           rng=trial_rng(3, len(history)), scheduler_data=scheduler_data)


def test_model_based_samplers_fit_on_the_training_trials_not_the_history() -> None:
    history = [_trial(0, 0.1, 5.0), _trial(1, 0.2, 4.0), _trial(2, 0.3, 3.0)]
    at_level = SchedulerData(level=3.0, trials=(_trial(1, 0.2, 1.0), _trial(2, 0.3, 2.0)))
    probe = _Probe({"x": 0.9, "k": 3})
    assert probe.suggest(_context(history, at_level)) == {"x": 0.9, "k": 3}
    probe.suggest(_context(history))
    assert probe.fitted_on == [[1, 2], [0, 1, 2]]


def test_one_random_fallback_and_one_de_duplication(tmp_path: Path) -> None:
    history = [_trial(0, 0.1, 5.0), _trial(1, 0.2, 4.0), _trial(2, 0.3, 3.0)]
    with pytest.warns(UserWarning, match=r"probe: the model step failed for trial 3 \(RuntimeError"):
        fallback = _Probe(None).suggest_batch(_context(history), 2)
    assert fallback == [hpo.SearchSpace(SPACE).sample(trial_rng(3, n, salt=1)) for n in (3, 4)]
    repeat = _Probe({"x": 0.2, "k": 1}).suggest_batch(_context(history), 3)  # trial 1's configuration, 3 times
    assert {"x": 0.2, "k": 1} not in repeat and len({repr(sorted(c.items())) for c in repeat}) == 3
    study = hpo.create_study(space=SPACE, storage=f"sqlite:///{tmp_path}/m.db", sampler=_Probe({"x": 0.5, "k": 2}),
                             seed=1)
    study.optimize(lambda t: t["x"], n_trials=5, show_progress_bar=False)
    configs = [repr(sorted(t.params.items())) for t in study.trials]
    assert len(set(configs)) == 5  # the fixed proposal once, then random replacements


def test_the_model_seed_is_derived_from_trial_rng_and_replays() -> None:
    expected = int(np.random.SeedSequence([7, 3, 0xB0]).generate_state(1)[0])
    assert model_seed(7, 3, 0xB0) == model_seed(7, 3, 0xB0) == expected
    assert model_seed(7, 4, 0xB0) != expected
